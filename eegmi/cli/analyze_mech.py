"""``eegmi analyze propagation | linearity | pick-interpolate | saliency | sanity``.

The mechanistic analyses of seed papers 000 (one-hot propagation, linearity, the
pick & interpolate test) and 002 (saliency methods and their sanity checks).
Registered into the ``eegmi analyze`` group by :mod:`eegmi.cli.analyze`.
Inputs are scaled electrode vectors. Pick & interpolate, saliency and sanity draw
held-out frames by default (:mod:`eegmi.analysis.inputs`); linearity uses uniform random
mixes in [0, 1] unless ``--data`` gives frames. Saliency and sanity run in
:mod:`eegmi.cli.analyze_saliency`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.analyze_common import _device, _load, _plt, _write_out, common_options
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar


def register_analyze(sub: Any) -> None:
    """Add propagation, linearity and pick & interpolate to the ``eegmi analyze`` sub-parsers."""
    from eegmi.recipes.propagation import PropagationOptions

    d = PropagationOptions()
    p = sub.add_parser("propagation", help="one-hot electrode signals through every layer",
                       description="Response of every hook point to each one-hot electrode "
                                   "(scaled space, relative to the zero input), per-unit "
                                   "selectivity, mono/polysemantic counts, electrode x latent matrix.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--amplitudes", type=float, nargs="+", default=list(d.amplitudes), metavar="A",
                   help=f"one-hot amplitudes to sweep (default {' '.join(map(str, d.amplitudes))})")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"a unit responds to an electrode above this fraction of its peak "
                        f"({d.threshold})")
    p.add_argument("--units", choices=("channel", "neuron"), default=d.unit,
                   help=f"conv units: whole channels or single activations (default {d.unit})")
    common_options(p, data=False, batch_size=d.batch_size)
    p.set_defaults(func=run_propagation)

    p = sub.add_parser("linearity", help="affine R² and superposition error per layer",
                       description="Held-out R² of an affine fit electrodes -> activations and "
                                   "the superposition error of one-hot sums, per layer.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--inputs", type=int, default=256, help="input vectors (default 256)")
    p.add_argument("--set-sizes", type=int, nargs="+", default=[2, 4, 8], metavar="K",
                   help="electrodes summed in the superposition test (default 2 4 8)")
    p.add_argument("--n-sets", type=int, default=8, help="random sets per size (default 8)")
    common_options(p)
    p.set_defaults(func=run_linearity)

    p = sub.add_parser("pick-interpolate", help="score the pick & interpolate mechanism",
                       description="Basis-invariant pick & interpolate test: cross-validated "
                                   "read-out of the electrode values from the latents (pick), "
                                   "share of the output the topomap operator explains from it "
                                   "(interpolate), latent/electrode canonical correlations "
                                   "(alignment); the per-axis Hungarian score as 'axis "
                                   "alignment'; controls: exact, rotated, untrained, PCA-k. "
                                   "Several models make a table.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="bundled names or checkpoint folders")
    _pick_options(p)
    common_options(p, data=False)
    p.set_defaults(func=run_pick_interpolate)



def _pick_options(p: argparse.ArgumentParser) -> None:
    from eegmi.analysis.inputs import INPUT_KINDS
    from eegmi.analysis.pick_options import PickInterpolateOptions

    d = PickInterpolateOptions()
    p.add_argument("--inputs", choices=INPUT_KINDS, default=d.inputs.kind,
                   help="held-out dataset frames (default: the model's validation split) or "
                        "i.i.d. random mixes in [0, 1]")
    p.add_argument("--count", type=int, default=d.inputs.count,
                   help=f"number of inputs (default {d.inputs.count})")
    p.add_argument("--data", default=None, metavar="SPEC",
                   help="'synthetic' or an EEG file to draw held-out frames from (default: the "
                        "model's own training source, its validation split)")
    p.add_argument("--folds", type=int, default=d.folds,
                   help=f"cross-validation folds (default {d.folds})")
    p.add_argument("--no-controls", action="store_true",
                   help="skip the exact, rotated, untrained and PCA control networks")


# ---------------------------------------------------------------- helpers
def _frames(args: argparse.Namespace, loaded: Any, count: int) -> np.ndarray | None:
    """``(count, n)`` scaled frames of ``--data`` (random subset), or None without it."""
    if getattr(args, "data", None) is None:
        return None
    from eegmi.analysis.inputs import scaled_frames
    from eegmi.data.loaders import load_dataset

    data = load_dataset(args.data, montage=loaded.operator.montage)
    return scaled_frames(data, loaded.scaler, count, args.seed)


# ---------------------------------------------------------------- commands
def run_propagation(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.recipes.base import RecipeContext
    from eegmi.recipes.propagation import PROPAGATION, PropagationOptions

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    # the sweep alone: the panel's recipe without its linearity fit and pick & interpolate
    options = PropagationOptions(amplitudes=tuple(args.amplitudes), threshold=args.threshold,
                                 unit=args.units, batch_size=args.batch_size,
                                 linearity_inputs=0, seed=args.seed, pick=None)
    loaded, _ = _load(args.model, args.device)
    context = RecipeContext(model=args.model, loaded=loaded, device=_device(args.device))
    res = run_with_bar(PROPAGATION.run(options, context, None), "propagation").propagation
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


def pick_options(args: argparse.Namespace) -> Any:
    """The :class:`PickInterpolateOptions` of a ``pick-interpolate`` command line."""
    from eegmi.analysis.inputs import InputSpec
    from eegmi.analysis.pick_options import PickInterpolateOptions

    if args.count < 1 or args.folds < 2:
        raise ConfigError("--count must be >= 1 and --folds >= 2")
    return PickInterpolateOptions(
        inputs=InputSpec(kind=args.inputs, count=args.count, seed=args.seed, data=args.data),
        folds=args.folds, controls=not args.no_controls, batch_size=args.batch_size)


def run_pick_interpolate(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.pick_report import results_json, text_report
    from eegmi.recipes.base import RecipeContext
    from eegmi.recipes.propagation import PICK_COMPARE, PickCompareOptions

    options = PickCompareOptions(models=tuple(args.models), pick=pick_options(args))
    # --data is already in the options: the CLI never reads a file it was not given
    context = RecipeContext(device=_device(args.device))
    results = run_with_bar(PICK_COMPARE.run(options, context, None), "pick-interpolate")
    result = results_json(results)
    if args.out:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(results)), 4))
        x = np.arange(len(results))
        keys = (("pick_r2", "pick R²"), ("interpolate", "interpolate"), ("alignment", "alignment"),
                ("axis_alignment", "axis alignment (basis-dependent)"))
        for i, (key, lab) in enumerate(keys):
            ax.bar(x + (i - 1.5) * 0.2, [max(r.model.row()[key], 0.0) for r in results], 0.2,
                   label=lab)
        ax.set_xticks(x, [r.label for r in results])
        ax.set(ylim=(0.0, 1.05), title="pick & interpolate (values < 0 drawn at 0)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        arrays = {f"{r.label}/{k}": v for r in results for k, v in r.arrays().items()}
        result["out"] = _write_out(Path(args.out), "pick_interpolate", result, arrays,
                                   {"pick_interpolate": fig})
    if not getattr(args, "json", False):
        text = {"report": "\n" + text_report(results)}
        return {**text, "out": result["out"]} if "out" in result else text
    return result


