"""Recipes ``saliency`` and ``sanity``: the attribution maps and the cascading
model-randomisation sanity check the Saliency panel, its sanity view and
``eegmi analyze saliency | sanity`` run.

``saliency`` attributes one target for the input the options name (the GUI's current
input vector, an electrode mix, or an input set) with each chosen method.
``sanity`` re-initialises the layers feeding the target from the top down and judges
every method with the rule of :class:`~eegmi.analysis.sanity_rule.SanityRule`
(:func:`eegmi.analysis.sanity_options.sanity_check`); its verdicts are the same
wherever it runs (panel, CLI, ``eegmi rerun``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eegmi.analysis.saliency_options import SaliencyOptions
from eegmi.analysis.sanity_options import SanityOptions, parse_target
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job
from eegmi.recipes.base import Recipe, RecipeContext, register


def _num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def saliency_inputs(options: SaliencyOptions, loaded: Any) -> tuple[np.ndarray, dict[str, Any] | None]:
    """``(B, n)`` float32 electrode vectors the options name and the input set's
    provenance (None for an explicit vector or mix)."""
    from eegmi.models.adapter import adapt

    adapter = adapt(loaded)
    if options.values:
        v = np.asarray(options.values, np.float32)[None]
        if v.shape[1] != adapter.n_electrodes:
            raise ConfigError(f"the input has {v.shape[1]} values, the model takes "
                              f"{adapter.n_electrodes} electrodes")
        return v, None
    if options.mix:
        return options.mix_values(adapter.ch_names), None
    from eegmi.analysis.inputs import analysis_inputs

    drawn = analysis_inputs(loaded, options.input_spec())
    return drawn.values, drawn.to_json()


def run_saliency(options: SaliencyOptions, context: RecipeContext,
                 cancel: CancelToken | None = None) -> Job[Any]:
    """The maps of ``options.methods`` for ``options.target``; result
    :class:`~eegmi.analysis.saliency.SaliencyResult` (``inputs`` attribute: the
    input set's provenance or None)."""
    from eegmi.analysis.saliency import saliency
    from eegmi.models.adapter import adapt

    loaded = context.loaded
    target = parse_target(loaded, options.target)
    values, inputs = saliency_inputs(options, loaded)
    result = yield from saliency(loaded.model, adapt(loaded), values, options.methods, target,
                                 options.attribution(), batch_size=options.batch_size,
                                 cancel=cancel)
    result.inputs = inputs
    return result


def summarize_saliency(result: Any) -> dict[str, Any]:
    """Per method: the per-electrode attribution (mean over inputs; the one input's own
    for a single input, as the panel's electrode view shows it), the top electrodes and,
    for image models, the map's peak pixel and largest magnitude."""
    out = result.to_json()
    out["ch_names"] = list(result.ch_names)
    out["values"] = [float(v) for v in np.asarray(result.values).mean(axis=0)]
    for m, entry in out["methods"].items():
        entry["electrodes"] = {n: _num(v) for n, v in entry["electrodes"].items()}
        if m in result.maps:
            entry["map_abs_sum"] = _num(np.abs(result.maps[m]).sum())
    if result.inputs is not None:
        out["inputs"] = result.inputs.get("description", "")
    return out


def run_sanity(options: SanityOptions, context: RecipeContext,
               cancel: CancelToken | None = None) -> Job[Any]:
    """The sanity check; result :class:`~eegmi.analysis.sanity.SanityResult`."""
    from eegmi.analysis.sanity_options import sanity_check

    result = yield from sanity_check(context.loaded, options, cancel)
    return result


def summarize_sanity(result: Any) -> dict[str, Any]:
    """The verdicts (the text the panel's table and the CLI show), pass/fail per method,
    each method's mean similarity with every layer randomised and its baseline (the
    statistics in :data:`eegmi.analysis.sanity_rule.STATISTICS` order), the layers, the
    inputs and the rule."""
    from eegmi.analysis.sanity_rule import STATISTICS

    last = {m: [_num(v) for v in result.mean_similarity(m)[-1]] for m in result.methods}
    base = {m: [_num(v) for v in result.mean_baseline(m)] for m in result.methods}
    return {"target": result.target, "layers": list(result.layers),
            "inputs": str(result.inputs.get("description", "")),
            "rule": result.rule.text(), "statistics": list(STATISTICS),
            "verdicts": {m: result.label(m) for m in result.methods},
            "passed": {m: result.verdicts[m].passed for m in result.methods},
            "randomised": last, "baseline": base}


SALIENCY = register(Recipe(name="saliency", options_type=SaliencyOptions, run=run_saliency,
                           summary=summarize_saliency))
SANITY = register(Recipe(name="sanity", options_type=SanityOptions, run=run_sanity,
                         summary=summarize_sanity))

__all__ = ["SALIENCY", "SANITY", "run_saliency", "run_sanity", "saliency_inputs",
           "summarize_saliency", "summarize_sanity"]
