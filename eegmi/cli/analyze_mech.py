"""``eegmi analyze propagation | linearity | pick-interpolate | saliency | sanity``.

The mechanistic analyses of seed papers 000 (one-hot propagation, linearity, the
pick & interpolate test) and 002 (saliency methods and their sanity checks).
Registered into the ``eegmi analyze`` group by :mod:`eegmi.cli.analyze`.
Inputs are scaled electrode vectors: one-hots, uniform random mixes in [0, 1]
(default), or frames of ``--data`` scaled with the model's own ``ClipScaler``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.options import add_threads_option
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar
from eegmi.paths import atomic_path


def register_analyze(sub: Any) -> None:
    """Add the mechanistic analyses to the ``eegmi analyze`` sub-parsers."""
    p = sub.add_parser("propagation", help="one-hot electrode signals through every layer",
                       description="Response of every hook point to each one-hot electrode "
                                   "(scaled space, relative to the zero input), per-unit "
                                   "selectivity, mono/polysemantic counts, electrode x latent matrix.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--amplitudes", type=float, nargs="+", default=[1.0], metavar="A",
                   help="one-hot amplitudes to sweep (default 1.0)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="a unit responds to an electrode above this fraction of its peak (0.5)")
    p.add_argument("--units", choices=("channel", "neuron"), default="channel",
                   help="conv units: whole channels (default) or single activations")
    _common(p, data=False)
    p.set_defaults(func=run_propagation)

    p = sub.add_parser("linearity", help="affine R² and superposition error per layer",
                       description="Held-out R² of an affine fit electrodes -> activations and "
                                   "the superposition error of one-hot sums, per layer.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--inputs", type=int, default=256, help="input vectors (default 256)")
    p.add_argument("--set-sizes", type=int, nargs="+", default=[2, 4, 8], metavar="K",
                   help="electrodes summed in the superposition test (default 2 4 8)")
    p.add_argument("--n-sets", type=int, default=8, help="random sets per size (default 8)")
    _common(p)
    p.set_defaults(func=run_linearity)

    p = sub.add_parser("pick-interpolate", help="score the pick & interpolate mechanism",
                       description="Hungarian assignment of latents to electrodes, then the share "
                                   "of output variance the topomap operator explains from the "
                                   "calibrated assigned latents; several models make a table.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="bundled names or checkpoint folders")
    p.add_argument("--inputs", type=int, default=256, help="input vectors (default 256)")
    _common(p)
    p.set_defaults(func=run_pick_interpolate)

    p = sub.add_parser("saliency", help="saliency maps for a latent, pixel or region",
                       description="captum attributions over the topomap and per electrode.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--method", nargs="+", default=["ig"], metavar="M",
                   help="saliency, input_x_gradient (ixg), smoothgrad (sg), integrated_gradients "
                        "(ig), guided_backprop (gbp), gradcam; comma or space separated (default ig)")
    p.add_argument("--target", default="latent:0",
                   help="latent:K | pixel:R,C | region:R0,C0,R1,C1 (end exclusive); default latent:0")
    p.add_argument("--electrodes", default=None, metavar="NAMES",
                   help="attribute the mix of these electrodes (e.g. Fz,Cz) instead of random inputs")
    p.add_argument("--amplitude", type=float, default=1.0, help="value of each --electrodes entry")
    p.add_argument("--inputs", type=int, default=4, help="random inputs when no --electrodes (4)")
    _attr_options(p)
    _common(p)
    p.set_defaults(func=run_saliency)

    p = sub.add_parser("sanity", help="cascading randomisation sanity check of saliency methods",
                       description="Re-initialise the layers feeding the target from the top down "
                                   "and compare maps with Spearman and SSIM (Adebayo et al.).")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--methods", nargs="+", default=["saliency", "ixg", "sg", "ig", "gbp", "gradcam"],
                   metavar="M", help="methods to check (default all six)")
    p.add_argument("--target", default="latent:0", help="as for saliency (default latent:0)")
    p.add_argument("--inputs", type=int, default=4, help="inputs whose maps are compared (4)")
    p.add_argument("--ssim-threshold", type=float, default=0.5,
                   help="a method passes when final SSIM is below this (default 0.5)")
    _attr_options(p)
    _common(p)
    p.set_defaults(func=run_sanity)
    # every analysis, these and those registered before them, takes --threads
    for parser in sub.choices.values():
        add_threads_option(parser)


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        p.add_argument("--data", default=None, metavar="SPEC",
                       help="'synthetic' or an EEG file: use its frames (scaled by the model's "
                            "scaler) instead of random mixes")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=int, default=256, help="inputs per batch (default 256)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write the numbers (.npz, .json) and figures (.png) here")


def _attr_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", default="enc.act3", help="Grad-CAM hook point (default enc.act3)")
    p.add_argument("--nt-samples", type=int, default=16, help="SmoothGrad samples (default 16)")
    p.add_argument("--noise", type=float, default=0.15, help="SmoothGrad noise / input range (0.15)")
    p.add_argument("--ig-steps", type=int, default=32, help="Integrated Gradients steps (default 32)")


# ---------------------------------------------------------------- helpers
def _load(spec: str, device: str) -> tuple[Any, Any]:
    import torch

    from eegmi.analysis.propagation import pipeline_for
    from eegmi.training.checkpoint import load_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_checkpoint(spec, device=device)
    return loaded, pipeline_for(loaded)


def _frames(args: argparse.Namespace, loaded: Any, count: int) -> np.ndarray | None:
    """``(count, n)`` scaled frames of ``--data`` (random subset), or None without it."""
    if getattr(args, "data", None) is None:
        return None
    from eegmi.data.loaders import load_dataset

    data = load_dataset(args.data, montage=loaded.operator.montage)
    rng = np.random.default_rng(args.seed)
    n = data.values.shape[0]
    idx = np.sort(rng.choice(n, size=min(n, count), replace=False))
    return np.asarray(loaded.scaler.transform(np.asarray(data.values[idx])), dtype=np.float32)


def _inputs(args: argparse.Namespace, loaded: Any, n_el: int, count: int) -> np.ndarray:
    frames = _frames(args, loaded, count)
    if frames is not None:
        return frames
    if count < 1:
        raise ConfigError(f"--inputs must be at least 1, got {count}")
    return np.random.default_rng(args.seed).uniform(0, 1, size=(count, n_el)).astype(np.float32)


def _methods(items: list[str]) -> list[str]:
    from eegmi.analysis.saliency import method_name

    names = [m for item in items for m in item.split(",") if m.strip()]
    return list(dict.fromkeys(method_name(m) for m in names))


def _options(args: argparse.Namespace) -> Any:
    from eegmi.analysis.saliency import AttributionOptions

    if args.nt_samples < 1 or args.ig_steps < 2 or args.noise < 0:
        raise ConfigError("--nt-samples >= 1, --ig-steps >= 2 and --noise >= 0 are required")
    return AttributionOptions(nt_samples=args.nt_samples, noise=args.noise,
                              ig_steps=args.ig_steps, layer=args.layer, seed=args.seed)


def _target(spec: str, loaded: Any, pipe: Any) -> Any:
    from eegmi.analysis.saliency import Target

    latent = "latent.z" if pipe.kind == "decoder" else "latent.mu"
    target = Target.parse(spec, size=int(loaded.config.image_size), latent_name=latent)
    if target.kind == "latent":
        k = int(spec.split(":")[1])
        if k >= loaded.config.latent_dim:
            raise ConfigError(f"target {spec!r}: the model has {loaded.config.latent_dim} latents")
    return target


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_out(out: Path, stem: str, result: dict[str, Any], arrays: dict[str, np.ndarray],
               figures: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    from eegmi.cli.analyze import write_json

    try:
        for name, fig in figures.items():
            with atomic_path(out / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
    finally:
        for fig in figures.values():
            plt.close(fig)
    with atomic_path(out / f"{stem}.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{_safe(k): v for k, v in arrays.items()})
    write_json(out / f"{stem}.json", result)
    return str(out)


def _plt() -> Any:
    from eegmi.cli.analyze import _pyplot  # Agg backend, set once for all analyses

    return _pyplot()


# ---------------------------------------------------------------- commands
def run_propagation(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.propagation import propagation

    loaded, pipe = _load(args.model, args.device)
    res = run_with_bar(propagation(loaded.model, pipe, args.amplitudes, threshold=args.threshold,
                           batch_size=args.batch_size, unit=args.units), "propagation")
    result = {"model": loaded.name, **res.to_json()}
    if args.out:
        plt = _plt()
        figs: dict[str, Any] = {}
        if res.latent_matrix is not None:
            fig, ax = plt.subplots(figsize=(8, 7))
            lim = float(np.abs(res.latent_matrix).max()) or 1.0
            im = ax.imshow(res.latent_matrix, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
            ax.set_yticks(range(len(res.ch_names)), res.ch_names, fontsize=6)
            ax.set(xlabel="latent", ylabel="electrode", title="one-hot response " + res.latent_name)
            fig.colorbar(im)
            figs["latent_matrix"] = fig
        rows = res.layer_summary()
        fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(rows)), 4))
        x = np.arange(len(rows))
        for i, key in enumerate(("monosemantic", "polysemantic", "dead")):
            ax.bar(x + (i - 1) * 0.27, [r[key] / max(r["units"], 1) for r in rows], 0.27, label=key)
        ax.set_xticks(x, [r["layer"] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set(ylabel="fraction of units")
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["semanticity"] = fig
        if "out" in res.responses:
            resp = res.responses["out"][list(res.amplitudes).index(res.ref_amplitude)][:, 0]
            cols = 8
            fig, axes = plt.subplots(-(-resp.shape[0] // cols), cols, figsize=(12, 7), squeeze=False)
            for ax, img, name in zip(axes.ravel(), resp, res.ch_names, strict=False):
                ax.imshow(img, cmap="RdBu_r")
                ax.set_title(name, fontsize=7)
                ax.axis("off")
            for ax in axes.ravel()[resp.shape[0]:]:
                ax.axis("off")
            figs["output_onehots"] = fig
        result["out"] = _write_out(Path(args.out), "propagation", result, res.arrays(), figs)
    return result


def run_linearity(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.linearity import linearity

    loaded, pipe = _load(args.model, args.device)
    frames = _frames(args, loaded, args.inputs)
    res = run_with_bar(linearity(loaded.model, pipe, frames=frames, n_inputs=args.inputs,
                         set_sizes=args.set_sizes, n_sets=args.n_sets, seed=args.seed,
                         batch_size=args.batch_size), "linearity")
    result = {"model": loaded.name, **res.to_json()}
    if args.out:
        plt = _plt()
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        x = np.arange(len(res.hook_names))
        ax1.plot(x, [res.r2[n] for n in res.hook_names], "o-")
        ax1.set(ylabel="affine R² (held out)", ylim=(min(0.0, *res.r2.values()), 1.05))
        for i, k in enumerate(res.set_sizes):
            ax2.semilogy(x, [max(res.superposition[n][i], 1e-9) for n in res.hook_names], "o-",
                         label=f"{k} electrodes")
        ax2.set(ylabel="superposition error")
        ax2.set_xticks(x, res.hook_names, rotation=60, ha="right", fontsize=7)
        ax2.legend(fontsize=7)
        fig.tight_layout()
        result["out"] = _write_out(Path(args.out), "linearity", result, res.arrays(),
                                   {"linearity": fig})
    return result


def run_pick_interpolate(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.pick_interpolate import pick_interpolate

    results = []
    for spec in args.models:
        loaded, pipe = _load(spec, args.device)
        frames = _frames(args, loaded, args.inputs)
        results.append(run_with_bar(pick_interpolate(loaded.model, pipe, frames=frames,
                                             n_inputs=args.inputs, label=loaded.name,
                                             seed=args.seed, batch_size=args.batch_size),
                            f"pick-interpolate {loaded.name}"))
    result: dict[str, Any] = {"analysis": "pick-interpolate", "table": [r.row() for r in results],
                              "models": {r.label: r.to_json() for r in results}}
    if args.out:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(results)), 4))
        x = np.arange(len(results))
        ax.bar(x - 0.2, [r.score for r in results], 0.4, label="pick & interpolate score")
        ax.bar(x + 0.2, [r.assignment_strength for r in results], 0.4, label="assignment strength")
        ax.set_xticks(x, [r.label for r in results])
        ax.set(ylim=(min(0.0, *[r.score for r in results]), 1.05))
        ax.legend(fontsize=7)
        fig.tight_layout()
        arrays = {f"{r.label}/{k}": v for r in results for k, v in r.arrays().items()}
        result["out"] = _write_out(Path(args.out), "pick_interpolate", result, arrays,
                                   {"pick_interpolate": fig})
    return result


def _electrode_mix(spec: str, pipe: Any, amplitude: float) -> np.ndarray:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    lookup = {n.lower(): i for i, n in enumerate(pipe.ch_names)}
    v = np.zeros((1, pipe.n_electrodes), np.float32)
    for name in names:
        if name.lower() not in lookup:
            raise ConfigError(f"unknown electrode {name!r} (known: {', '.join(pipe.ch_names)})")
        v[0, lookup[name.lower()]] = amplitude
    if not names:
        raise ConfigError("--electrodes is empty")
    return v


def run_saliency(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.saliency import saliency

    loaded, pipe = _load(args.model, args.device)
    methods = _methods(args.method)
    target = _target(args.target, loaded, pipe)
    if args.electrodes:
        values = _electrode_mix(args.electrodes, pipe, args.amplitude)
    else:
        values = _inputs(args, loaded, pipe.n_electrodes, args.inputs)
    res = run_with_bar(saliency(loaded.model, pipe, values, methods, target, _options(args),
                        batch_size=min(args.batch_size, 64)), "saliency")
    result = {"model": loaded.name, **res.to_json()}
    if args.out:
        plt = _plt()
        figs: dict[str, Any] = {}
        if res.maps:
            fig, axes = plt.subplots(1, len(res.maps), figsize=(3 * len(res.maps), 3.2), squeeze=False)
            for ax, (m, maps) in zip(axes[0], res.maps.items(), strict=True):
                mean = maps.mean(axis=0)
                lim = float(np.abs(mean).max()) or 1.0
                ax.imshow(mean, cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_title(m, fontsize=8)
                ax.axis("off")
            fig.suptitle(f"{loaded.name} {res.target}")
            figs["saliency_maps"] = fig
        fig, ax = plt.subplots(figsize=(10, 3.5))
        width = 0.8 / len(res.electrodes)
        for i, (m, el) in enumerate(res.electrodes.items()):
            ax.bar(np.arange(len(res.ch_names)) + i * width, el.mean(axis=0), width, label=m)
        ax.set_xticks(np.arange(len(res.ch_names)), res.ch_names, rotation=90, fontsize=7)
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["saliency_electrodes"] = fig
        result["out"] = _write_out(Path(args.out), "saliency", result, res.arrays(), figs)
    return result


def run_sanity(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.sanity import cascading_randomization

    loaded, pipe = _load(args.model, args.device)
    methods = _methods(args.methods)
    target = _target(args.target, loaded, pipe)
    values = _inputs(args, loaded, pipe.n_electrodes, args.inputs)
    res = run_with_bar(cascading_randomization(loaded.model, pipe, values, target, methods,
                                       _options(args), ssim_threshold=args.ssim_threshold,
                                       seed=args.seed), "sanity")
    result = {"model": loaded.name, **res.to_json()}
    if args.out:
        plt = _plt()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        x = np.arange(1, len(res.layers) + 1)
        for m in res.methods:
            ax1.plot(x, res.spearman[m], "o-", label=m)
            ax2.plot(x, res.ssim[m], "o-", label=m)
        for ax, lab in ((ax1, "Spearman (|maps|)"), (ax2, "SSIM (|maps|)")):
            ax.set_xticks(x, res.layers, rotation=60, ha="right", fontsize=7)
            ax.set(ylabel=lab, xlabel="randomised down to")
        ax2.axhline(res.ssim_threshold, ls="--", color="grey")
        ax1.legend(fontsize=7)
        fig.tight_layout()
        stages = res.maps[res.methods[0]].shape[0]
        fig2, axes = plt.subplots(len(res.methods), stages, figsize=(1.6 * stages, 1.7 * len(res.methods)),
                                  squeeze=False)
        for r, m in enumerate(res.methods):
            for s in range(stages):
                axes[r, s].imshow(np.abs(res.maps[m][s, 0]), cmap="magma")
                axes[r, s].axis("off")
                axes[r, s].set_title((m[:12] + " ") if s == 0 else res.layers[s - 1], fontsize=6)
        fig2.tight_layout()
        result["out"] = _write_out(Path(args.out), "sanity", result, res.arrays(),
                                   {"sanity_curves": fig, "sanity_maps": fig2})
    return result
