"""``eegmi analyze projections``: random projections of a moving stimulus per layer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.analyze_common import (
    _device,
    _load_models,
    _nested,
    _pyplot,
    _safe,
    _save_fig,
    _save_npz,
    model_options,
    write_json,
)
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar


def register(sub: Any) -> None:
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
    model_options(p)
    p.set_defaults(func=run_projections)


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
