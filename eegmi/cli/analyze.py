"""``eegmi analyze``: headless analyses (eigenspectrum, random projections, ...).

``eigenspectrum`` and ``projections`` live here; the mechanistic analyses
(propagation, pick & interpolate, linearity, saliency, sanity) are added by
``eegmi.cli.analyze_mech.register_analyze`` when that module is present.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.analyze_common import _device
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar
from eegmi.paths import atomic_path


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="run an analysis of a model headless",
        description="Analyses of trained models; each prints one JSON object with --json.")
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    from eegmi.cli.analyze_spectra import register_eigenspectrum

    register_eigenspectrum(sub, _model_options)
    _register_projections(sub)
    try:
        mech = importlib.import_module("eegmi.cli.analyze_mech")
    except ModuleNotFoundError as exc:
        if exc.name != "eegmi.cli.analyze_mech":
            raise
    else:
        mech.register_analyze(sub)

    def show_help(args: argparse.Namespace) -> None:
        parser.print_help()

    parser.set_defaults(func=show_help)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", nargs="+", metavar="NAME", default=None,
                   help="hook names to analyse (default: every hook point)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=int, default=256, help="inputs per batch (default 256)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write the numbers (.npz, .json) and figures (.png) here")


def _register_projections(sub: Any) -> None:
    p = sub.add_parser(
        "projections", help="random projections of a moving stimulus per layer",
        description="Average action of random 3-D projections of each layer's response to a "
                    "moving stimulus, and the fraction of input variance they explain (seed 001).")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="bundled model name (E1..E5) or checkpoint folder; several compare")
    p.add_argument("--stimulus", choices=("dipole", "dot"), default="dipole",
                   help="source travelling round the head (default) or dot over the image")
    p.add_argument("--frames", type=int, default=100, help="stimulus frames (default 100)")
    p.add_argument("--n-projections", type=int, default=1000, help="default 1000")
    p.add_argument("--dim", type=int, default=3, help="projection dimension (default 3)")
    _model_options(p)
    p.set_defaults(func=run_projections)


def _load_models(specs: list[str], device: str) -> dict[str, Any]:
    from eegmi.training.checkpoint import load_checkpoint

    out: dict[str, Any] = {}
    for spec in specs:
        loaded = load_checkpoint(spec, device=device)
        label = loaded.name
        while label in out:
            label += "'"
        out[label] = loaded
    return out


def _nested(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One model: its dict as is; several: each key nested by model label."""
    if len(results) == 1:
        label, res = next(iter(results.items()))
        return {"model": label, **res}
    keys = next(iter(results.values())).keys()
    out: dict[str, Any] = {k: {lab: r[k] for lab, r in results.items()} for k in keys}
    return {"models": list(results), **out}


def run_projections(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.projections import projection_analysis
    from eegmi.analysis.stimuli import make_stimulus
    from eegmi.models.adapter import adapt

    if args.frames < 3:
        raise ConfigError(f"--frames must be at least 3, got {args.frames}")
    if args.n_projections < 1 or args.dim < 1:
        raise ConfigError("--n-projections and --dim must be at least 1")
    device = _device(args.device)
    analyses: dict[str, Any] = {}
    for label, loaded in _load_models(args.models, device).items():
        stim = make_stimulus(args.stimulus, loaded.operator, n_frames=args.frames)
        adapter = adapt(loaded)
        if adapter.takes_values:
            if stim.values is None:
                raise ConfigError(f"model {label} takes electrode values: use --stimulus dipole")
            inputs = stim.values
        else:
            inputs = stim.images
            if adapter.injection is not None:
                inputs = np.asarray(adapter.injection.apply_np(inputs), dtype=np.float32)
        job = projection_analysis(loaded.model, inputs, args.layers,
                                  n_projections=args.n_projections, dim=args.dim,
                                  seed=args.seed, batch_size=args.batch_size,
                                  stimulus=args.stimulus)
        analyses[label] = run_with_bar(job, f"projections {label}")
    result = _nested({lab: a.to_json() for lab, a in analyses.items()})
    if args.out:
        result["out"] = str(write_projections(Path(args.out), analyses, result))
    return result


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write one JSON file atomically (numpy scalars converted)."""
    from eegmi.cli import _json_default

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default), encoding="utf-8")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _save_fig(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_projections(out: Path, analyses: dict[str, Any], result: dict[str, Any]) -> Path:
    """Write ``projections.npz`` (example trajectories, keys ``MODEL__LAYER``),
    ``projections.json``, ``action_vs_depth.png`` (action, normalised action and
    explained input variance per layer) and ``trajectories_MODEL.png`` (first projection of every layer)."""
    plt = _pyplot()
    arrays = {f"{_safe(lab)}__{_safe(n)}": r.examples
              for lab, a in analyses.items() for n, r in a.layers.items()}
    fig, (ax1, ax3, ax2) = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    for lab, a in analyses.items():
        names = list(a.layers)
        x = range(len(names))
        ax1.semilogy(x, [a.layers[n].action_mean for n in names], "o-", label=lab)
        ax3.semilogy(x, [max(a.layers[n].normalized_action, 1e-12) for n in names], "o-")
        ax2.plot(x, [a.layers[n].explained_mean for n in names], "o-", label=lab)
    ax1.set(ylabel="mean action")
    ax3.set(ylabel="normalised action")
    ax2.set(ylabel="input variance explained")
    ax2.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax1.legend(fontsize=7)
    fig.tight_layout()
    _save_fig(fig, out / "action_vs_depth.png")
    for lab, a in analyses.items():
        names = list(a.layers)
        cols = min(6, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        for ax, n in zip(axes.ravel(), names, strict=False):
            z = a.layers[n].examples[0]
            ax.scatter(z[:, 0], z[:, min(1, z.shape[1] - 1)], c=np.arange(len(z)), s=4,
                       cmap="viridis")
            ax.set_title(n, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        fig.tight_layout()
        _save_fig(fig, out / f"trajectories_{_safe(lab)}.png")
    _save_npz(out / "projections.npz", arrays)
    write_json(out / "projections.json", result)
    return out
