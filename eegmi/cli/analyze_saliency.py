"""``eegmi analyze saliency | sanity``: attribution maps and their cascading-randomisation
sanity check (seed paper 002), on held-out frames by default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.analyze_common import (
    _plt,
    _write_out,
    attribution_options,
    common_options,
    input_set_options,
)
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar


def register(sub: Any) -> None:
    """Add ``saliency`` and ``sanity`` to the ``eegmi analyze`` sub-parsers."""
    p = sub.add_parser("saliency", help="saliency maps for a latent, pixel or region",
                       description="captum attributions over the topomap and per electrode, "
                                   "on held-out dataset frames (default), random mixes or a "
                                   "mix of named electrodes.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    from eegmi.analysis.saliency_options import SaliencyOptions

    sd = SaliencyOptions()
    p.add_argument("--method", nargs="+", default=list(sd.methods), metavar="M",
                   help="saliency, input_x_gradient (ixg), smoothgrad (sg), integrated_gradients "
                        "(ig), guided_backprop (gbp), gradcam; comma or space separated "
                        f"(default {' '.join(sd.methods)})")
    p.add_argument("--target", default=sd.target,
                   help=f"latent:K | pixel:R,C | region:R0,C0,R1,C1 (end exclusive); default "
                        f"{sd.target}")
    p.add_argument("--electrodes", default=None, metavar="NAMES",
                   help="attribute the mix of these electrodes (e.g. Fz,Cz) instead of --inputs")
    p.add_argument("--amplitude", type=float, default=1.0, help="value of each --electrodes entry")
    input_set_options(p, count=sd.count)
    attribution_options(p)
    common_options(p, data=False)
    p.set_defaults(func=run_saliency)

    from eegmi.analysis.sanity_options import SanityOptions

    d = SanityOptions()
    p = sub.add_parser("sanity", help="cascading randomisation sanity check of saliency methods",
                       description="Re-initialise the layers feeding the target from the top down "
                                   "and compare each method's maps with the trained model's "
                                   "(|Spearman| of |maps| and of signed maps, SSIM), input by "
                                   "input, against model-independent baselines (input magnitude, "
                                   "Sobel edges) on the same inputs (Adebayo et al.). The rule is "
                                   "printed with the result.")
    p.add_argument("model", metavar="MODEL", help="bundled name (E1..E5) or checkpoint folder")
    p.add_argument("--methods", nargs="+", default=list(d.methods), metavar="M",
                   help="methods to check (default all six)")
    p.add_argument("--target", default=d.target, help=f"as for saliency (default {d.target})")
    input_set_options(p, count=d.count)
    p.add_argument("--margin", type=float, default=d.margin,
                   help=f"how far below the baseline a randomised similarity must be "
                        f"(default {d.margin:g})")
    p.add_argument("--floor", type=float, default=d.floor,
                   help=f"a randomised similarity below this counts as changed whatever the "
                        f"baseline (default {d.floor:g})")
    p.add_argument("--draws", type=int, default=d.draws,
                   help=f"independent re-initialisations, each a full cascade; the rule must hold "
                        f"in every one (default {d.draws})")
    p.add_argument("--confidence", type=float, default=d.confidence,
                   help=f"one-sided confidence of the bounds over inputs (default {d.confidence:g})")
    attribution_options(p)
    common_options(p, data=False)
    p.set_defaults(func=run_sanity)


def _methods(items: list[str]) -> list[str]:
    from eegmi.analysis.saliency import method_name

    names = [m for item in items for m in item.split(",") if m.strip()]
    return list(dict.fromkeys(method_name(m) for m in names))


def saliency_options(args: argparse.Namespace) -> Any:
    """The :class:`SaliencyOptions` of parsed ``eegmi analyze saliency`` arguments."""
    from eegmi.analysis.saliency_options import SaliencyOptions

    mix: tuple[tuple[str, float], ...] = ()
    if args.electrodes is not None:
        names = [s.strip() for s in args.electrodes.split(",") if s.strip()]
        if not names:
            raise ConfigError("--electrodes is empty")
        mix = tuple((n, float(args.amplitude)) for n in names)
    return SaliencyOptions(methods=tuple(_methods(args.method)), target=args.target, mix=mix,
                           inputs=args.inputs, count=args.count, data=args.data, seed=args.seed,
                           nt_samples=args.nt_samples, noise=args.noise, ig_steps=args.ig_steps,
                           layer=args.layer, batch_size=min(args.batch_size, 64))


def _context(model: str, device: str) -> Any:
    """The recipe context of a model spec (loaded on ``device``; ``auto``: CUDA if any)."""
    from eegmi.recipes.base import RecipeContext
    from eegmi.training.checkpoint import load_checkpoint

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return RecipeContext(model=model, loaded=load_checkpoint(model, device=device), device=device)


def run_saliency(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.recipes.saliency import SALIENCY

    opts = saliency_options(args)
    context = _context(args.model, args.device)
    loaded = context.loaded
    res = run_with_bar(SALIENCY.run(opts, context, None), "saliency")
    result = {"model": loaded.name, **res.to_json()}
    if res.inputs is not None:
        result["inputs"] = res.inputs
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


def sanity_options(args: argparse.Namespace) -> Any:
    """The :class:`SanityOptions` of parsed ``eegmi analyze sanity`` arguments."""
    from eegmi.analysis.sanity_options import SanityOptions

    return SanityOptions(methods=tuple(_methods(args.methods)), target=args.target,
                         inputs=args.inputs, count=args.count, data=args.data, seed=args.seed,
                         margin=args.margin, floor=args.floor, confidence=args.confidence,
                         draws=args.draws,
                         nt_samples=args.nt_samples, noise=args.noise, ig_steps=args.ig_steps,
                         layer=args.layer)


def run_sanity(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.recipes.saliency import SANITY

    opts = sanity_options(args)
    context = _context(args.model, args.device)
    loaded = context.loaded
    res = run_with_bar(SANITY.run(opts, context, None), "sanity")
    full = {"model": loaded.name, **res.to_json(), "options": opts.to_json()}
    if args.out:
        from eegmi.cli.sanity_figures import sanity_figures

        full["out"] = _write_out(Path(args.out), "sanity", full, res.arrays(),
                                 sanity_figures(_plt(), res))
    if getattr(args, "json", False):
        return full
    # readable form: one line per method; --json or --out has every stage and input
    brief = {"model": loaded.name, "analysis": "sanity", "target": res.target,
             "inputs": res.inputs.get("description", ""), "layers": " > ".join(res.layers),
             "rule": res.rule.text()}
    brief.update({m: res.summary(m) for m in res.methods})
    if "out" in full:
        brief["out"] = full["out"]
    return brief
