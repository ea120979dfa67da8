"""``eegmi analyze saliency | sanity``: attribution maps and their cascading-randomisation
sanity check (seed paper 002), on held-out frames by default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.analyze_common import _load, _plt, _write_out
from eegmi.errors import ConfigError
from eegmi.jobs import run_with_bar


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
        values, inputs = _electrode_mix(args.electrodes, pipe, args.amplitude), None
    else:
        from eegmi.analysis.inputs import InputSpec, analysis_inputs

        drawn = analysis_inputs(loaded, InputSpec(kind=args.inputs, count=args.count,
                                                  seed=args.seed, data=args.data))
        values, inputs = drawn.values, drawn.to_json()
    res = run_with_bar(saliency(loaded.model, pipe, values, methods, target, _options(args),
                        batch_size=min(args.batch_size, 64)), "saliency")
    result = {"model": loaded.name, **res.to_json()}
    if inputs is not None:
        result["inputs"] = inputs
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
    from eegmi.analysis.sanity_options import sanity_check
    from eegmi.training.checkpoint import load_checkpoint

    opts = sanity_options(args)
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_checkpoint(args.model, device=device)
    res = run_with_bar(sanity_check(loaded, opts), "sanity")
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
