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

from eegmi.errors import ConfigError, DataError
from eegmi.jobs import run_with_bar
from eegmi.paths import atomic_path


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="run an analysis of a model headless",
        description="Analyses of trained models; each prints one JSON object with --json.")
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    _register_eigenspectrum(sub)
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


def _register_eigenspectrum(sub: Any) -> None:
    p = sub.add_parser(
        "eigenspectrum", help="PCA eigenspectrum and power-law exponent per layer",
        description="Eigenspectrum of activation covariance per layer (dimensions sub-sampled "
                    "to at most --max-dim, at most --max-components components) and the "
                    "exponent alpha of a Huber fit over components --fit-range (seed 001).")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="bundled model name (E1..E5) or checkpoint folder; several compare")
    p.add_argument("--activations", metavar="X.npy", default=None,
                   help="analyse this (samples, features) matrix instead of a model")
    p.add_argument("--data", default="synthetic", help="'synthetic' (default) or an EEG file")
    p.add_argument("--max-inputs", type=int, default=10000,
                   help="frames drawn from the data (default 10000)")
    p.add_argument("--max-dim", type=int, default=8000, help="dimension cap (default 8000)")
    p.add_argument("--max-components", type=int, default=1000, help="default 1000")
    p.add_argument("--fit-range", type=int, nargs=2, default=(10, 50), metavar=("FIRST", "LAST"),
                   help="1-based component ranks of the fit, inclusive (default 10 50)")
    p.add_argument("--memory-mb", type=int, default=1024,
                   help="covariance memory per data pass (default 1024)")
    _model_options(p)
    p.set_defaults(func=run_eigenspectrum)


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


def _device(spec: str) -> str:
    from eegmi.devices import pick_device

    return str(pick_device(spec))


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


def _injection(loaded: Any) -> Any:
    cfg = loaded.injection_config
    if not (getattr(cfg, "marks", False) or getattr(cfg, "occlusion", False)):
        return None
    from eegmi.data.injection import Injection

    return Injection(loaded.operator, cfg)


def _nested(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One model: its dict as is; several: each key nested by model label."""
    if len(results) == 1:
        label, res = next(iter(results.items()))
        return {"model": label, **res}
    keys = next(iter(results.values())).keys()
    out: dict[str, Any] = {k: {lab: r[k] for lab, r in results.items()} for k in keys}
    return {"models": list(results), **out}


def run_eigenspectrum(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.eigenspectrum import eigenspectrum

    fit_range = (int(args.fit_range[0]), int(args.fit_range[1]))
    if bool(args.models) == bool(args.activations):
        raise ConfigError("give either MODEL(s) or --activations X.npy")
    if args.activations:
        path = Path(args.activations)
        x = _load_matrix(path)
        es = eigenspectrum(x, max_dim=args.max_dim, max_components=args.max_components,
                           fit_range=fit_range, seed=args.seed, path=path)
        spectra = {path.stem: {path.stem: es}}
        result: dict[str, Any] = {"activations": str(path), "alpha": es.alpha,
                                  "r2": es.fit.r2 if es.fit else None,
                                  "layers": {path.stem: es.to_json()}}
    else:
        spectra, per_model = _model_spectra(args, fit_range)
        result = {**_nested(per_model), "data": args.data}
    if args.out:
        result["out"] = str(write_spectra(Path(args.out), spectra, result))
    return result


def _load_matrix(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"not a readable .npy array ({exc})", path) from None
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise DataError(f"expected a 2-D (samples, features) array, got shape "
                        f"{getattr(x, 'shape', None)}", path)
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"expected a numeric array, got dtype {x.dtype}", path)
    return x


def _model_spectra(args: argparse.Namespace, fit_range: tuple[int, int]
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    from eegmi.analysis.activations import layer_spectra
    from eegmi.data.dataset import TopomapBatches
    from eegmi.data.loaders import load_dataset

    if args.max_inputs < 2:
        raise ConfigError(f"--max-inputs must be at least 2, got {args.max_inputs}")
    device = _device(args.device)
    spectra: dict[str, dict[str, Any]] = {}
    per_model: dict[str, dict[str, Any]] = {}
    for label, loaded in _load_models(args.models, device).items():
        data = load_dataset(args.data, montage=loaded.operator.montage)
        n = data.values.shape[0]
        rng = np.random.default_rng(args.seed)
        idx = np.sort(rng.choice(n, size=min(n, args.max_inputs), replace=False))
        batches = TopomapBatches(data.values, idx, loaded.operator, loaded.scaler,
                                 _injection(loaded), batch_size=args.batch_size, device=device)
        # Batch objects: a decoder-only model is fed their values, a VAE their images
        job = layer_spectra(loaded.model, batches, args.layers,
                            max_dim=args.max_dim, max_components=args.max_components,
                            fit_range=fit_range, memory_budget=args.memory_mb << 20,
                            label=label)
        res = run_with_bar(job, f"eigenspectrum {label}")
        spectra[label] = res.spectra
        per_model[label] = {**res.to_json(), "n_inputs": int(len(idx))}
    return spectra, per_model


def run_projections(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.projections import projection_analysis
    from eegmi.analysis.stimuli import make_stimulus

    if args.frames < 3:
        raise ConfigError(f"--frames must be at least 3, got {args.frames}")
    if args.n_projections < 1 or args.dim < 1:
        raise ConfigError("--n-projections and --dim must be at least 1")
    device = _device(args.device)
    analyses: dict[str, Any] = {}
    for label, loaded in _load_models(args.models, device).items():
        stim = make_stimulus(args.stimulus, loaded.operator, n_frames=args.frames)
        if loaded.config.kind == "decoder":
            if stim.values is None:
                raise ConfigError(f"model {label} takes electrode values: use --stimulus dipole")
            inputs = stim.values
        else:
            inputs = stim.images
            inj = _injection(loaded)
            if inj is not None:
                inputs = np.asarray(inj.apply_np(inputs), dtype=np.float32)
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


def write_spectra(out: Path, spectra: dict[str, dict[str, Any]], result: dict[str, Any]) -> Path:
    """Write ``spectra.npz`` (explained variances, keys ``MODEL__LAYER``), ``eigenspectrum.json``,
    one log-log figure per layer (``spectrum_LAYER.png``, all models, dashed Huber fits) and
    ``alpha_vs_depth.png``."""
    plt = _pyplot()
    arrays = {f"{_safe(lab)}__{_safe(n)}": es.explained_variance
              for lab, layers in spectra.items() for n, es in layers.items()}
    layer_names = list(dict.fromkeys(n for layers in spectra.values() for n in layers))
    for name in layer_names:
        fig, ax = plt.subplots(figsize=(5, 4))
        for lab, layers in spectra.items():
            es = layers.get(name)
            if es is None:
                continue
            k = np.arange(1, es.explained_variance.size + 1)
            pos = es.explained_variance > 0
            line = ax.loglog(k[pos], es.explained_variance[pos], label=lab)[0]
            if es.fit is not None:
                kf = np.arange(es.fit.fit_range[0], min(es.fit.fit_range[1], k.size) + 1)
                ax.loglog(kf, es.fit.predict(kf), "--", color=line.get_color(),
                          label=f"alpha = {es.fit.alpha:.2f}")
        ax.set(xlabel="component", ylabel="explained variance", title=name)
        ax.legend(fontsize=7)
        fig.tight_layout()
        _save_fig(fig, out / f"spectrum_{_safe(name)}.png")
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(layer_names)), 4))
    for lab, layers in spectra.items():
        ys = [layers[n].alpha if n in layers and layers[n].alpha is not None else np.nan
              for n in layer_names]
        ax.plot(range(len(layer_names)), ys, "o-", label=lab)
    ax.axhline(-1.0, ls="--", color="grey", lw=0.8)
    ax.set_xticks(range(len(layer_names)), layer_names, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="power-law exponent alpha", title="alpha against depth")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save_fig(fig, out / "alpha_vs_depth.png")
    _save_npz(out / "spectra.npz", arrays)
    write_json(out / "eigenspectrum.json", result)
    return out


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
