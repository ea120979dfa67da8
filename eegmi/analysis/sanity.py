"""Sanity checks for saliency maps (Adebayo et al. 2018, seed 002): cascading
parameter randomisation, judged against model-independent baselines.

The layers that influence the target (Conv2d, ConvTranspose2d, Linear modules whose
weights receive a gradient from it) are re-initialised one at a time on a deep copy,
from the top (closest to the target) down, cumulatively.  After each stage every
method's maps are recomputed and compared, input by input, with the trained model's
maps; the same statistics compare the trained maps with maps that never saw the model
(the input magnitude, its Sobel edges).  The statistics, baselines and the pass rule
are in :mod:`eegmi.analysis.sanity_rule`.  Normalisation layers are left alone
(re-initialising them is not randomisation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from eegmi.analysis.saliency import AttributionOptions, Target, attribute_images, method_name
from eegmi.analysis.sanity_rule import (
    BASELINES,
    STATISTICS,
    SanityRule,
    Verdict,
    baseline_maps,
    judge,
    similarities,
)
from eegmi.devices import model_device
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter
from eegmi.models.hooks import caching

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)

#: ``fn(model, pipeline, images (B, H, W), target) -> (B, H, W)`` maps: an attribution
#: method that is not one of :data:`eegmi.analysis.saliency.METHODS` (planted controls)
AttributionFn = Callable[[nn.Module, ModelAdapter, torch.Tensor, Target], np.ndarray]


def target_layers(model: nn.Module, pipeline: ModelAdapter, target: Target,
                  images: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """Weighted layers that influence ``target``, ordered from the top (last executed) down.

    Parameters
    ----------
    images
        ``(B, 1, H, W)`` clean topomaps used for one probing forward pass.
    """
    order: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    # module hooks, not ModelAdapter.capture: this records the execution order of the
    # weighted torch modules (what gets re-initialised), which are not hook points
    handles = [m.register_forward_hook(lambda mod, _i, _o: order.append(names[mod]))
               for m in model.modules() if isinstance(m, _WEIGHTED)]
    try:
        _, cache = caching(model).run_with_cache(pipeline.inject(images), list(target.names),
                                                 detach=False)
        value = target(cache).sum()
    finally:
        for h in handles:
            h.remove()
    modules = dict(model.named_modules())
    seen: list[str] = []
    for name in order:
        if name not in seen:
            seen.append(name)
    params = [modules[n].weight for n in seen]
    grads = torch.autograd.grad(value, params, allow_unused=True)
    used = [n for n, g in zip(seen, grads, strict=True) if g is not None]
    return [(n, modules[n]) for n in reversed(used)]



def compared_pixels(pipeline: ModelAdapter) -> np.ndarray:
    """``(H, W)`` bool: head-disc pixels whose value reaches the model.

    Pixels the injection layer overwrites (reference marks) or zeroes (occlusion) get
    zero attribution from every method on every model; counting them would make any
    two maps agree there.
    """
    op = pipeline.operator
    head = np.asarray(op.head_mask, bool)
    size = int(op.size)
    probe = torch.stack([torch.zeros(1, size, size), torch.ones(1, size, size)])
    with torch.no_grad():
        seen = pipeline.inject(probe)
    return head & (seen[0, 0] != seen[1, 0]).cpu().numpy()


def _mean(v: np.ndarray, axis: int) -> np.ndarray:
    finite = np.isfinite(v)
    n = finite.sum(axis=axis)
    total = np.where(finite, v, 0.0).sum(axis=axis)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


@dataclass
class SanityResult:
    """Each method's maps under cascading randomisation, their similarity to the trained
    maps, the model-independent baseline and the verdict.

    Attributes
    ----------
    layers
        Layers randomised, top down; stage ``i`` (1-based) has ``layers[:i]`` randomised.
    similarity
        method -> ``(n_draws, n_stages, B, K)`` similarity of each stage's map to the
        trained map, per independent re-initialisation and input, statistics in
        :data:`STATISTICS` order.
    baseline
        method -> ``(B, K)`` the larger similarity of the :data:`BASELINES` maps to the
        trained map; ``baseline_each`` keeps both, ``(n_baselines, B, K)``.
    repeat
        method -> ``(B, K)`` trained maps against the same maps recomputed.
    verdicts
        method -> :class:`Verdict`.
    maps
        method -> ``(n_stages + 1, B, H, W)``: trained maps then each stage's maps (first
        draw).
    inputs
        What the maps were computed on (:meth:`eegmi.analysis.inputs.InputSet.to_json`).
    """

    target: str
    layers: list[str]
    methods: list[str]
    rule: SanityRule
    similarity: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    baseline_each: dict[str, np.ndarray]
    repeat: dict[str, np.ndarray]
    verdicts: dict[str, Verdict]
    maps: dict[str, np.ndarray]
    inputs: dict[str, Any]

    @property
    def passed(self) -> dict[str, bool | None]:
        return {m: self.verdicts[m].passed for m in self.methods}

    def mean_similarity(self, method: str) -> np.ndarray:
        """``(n_stages, K)`` mean over draws and inputs."""
        return _mean(_mean(self.similarity[method], axis=2), axis=0)

    def mean_baseline(self, method: str) -> np.ndarray:
        """``(K,)`` mean over inputs of the baseline similarity."""
        return _mean(self.baseline[method], axis=0)

    def bounds(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """``(n_stages, K)`` upper bounds of ``mean(sim - baseline)`` and of ``mean(sim)``
        over inputs, the largest over draws (the rule needs every draw below the bar)."""
        pairs = [[self.rule.bounds(s, self.baseline[method]) for s in draw]
                 for draw in self.similarity[method]]
        ub_d = np.array([[p[0] for p in d] for d in pairs])
        ub_s = np.array([[p[1] for p in d] for d in pairs])
        return ub_d.max(axis=0), ub_s.max(axis=0)

    def label(self, method: str) -> str:
        return self.verdicts[method].label(self.layers)

    def summary(self, method: str) -> str:
        """One readable line: verdict, last-stage similarity against the baseline, why."""
        last, base = self.mean_similarity(method)[-1], self.mean_baseline(method)
        stats_txt = ", ".join(f"{k} {last[i]:.2f} (baseline {base[i]:.2f})"
                              for i, k in enumerate(STATISTICS))
        return f"{self.label(method)} | every layer randomised: {stats_txt} | {self.verdicts[method].reason}"

    def to_json(self) -> dict[str, Any]:
        methods: dict[str, Any] = {}
        for m in self.methods:
            v = self.verdicts[m]
            sim, base = self.mean_similarity(m), self.mean_baseline(m)
            ub_d, ub_s = self.bounds(m)
            each = _mean(self.baseline_each[m], axis=1)
            methods[m] = {
                "verdict": self.label(m), "passed": v.passed, "sensitive_from": v.sensitive_from,
                "reproducible": v.reproducible, "reason": v.reason,
                "baseline": {k: _num(base[i]) for i, k in enumerate(STATISTICS)},
                "baselines": {b: {k: _num(each[j, i]) for i, k in enumerate(STATISTICS)}
                              for j, b in enumerate(BASELINES)},
                "repeat": {k: _num(x) for k, x in zip(STATISTICS, _mean(self.repeat[m], 0),
                                                      strict=True)},
                "stages": [
                    {"layer": layer,
                     "similarity": {k: _num(sim[s, i]) for i, k in enumerate(STATISTICS)},
                     "upper_minus_baseline": {k: _num(ub_d[s, i]) for i, k in enumerate(STATISTICS)},
                     "upper_similarity": {k: _num(ub_s[s, i]) for i, k in enumerate(STATISTICS)},
                     "changed": {k: bool(v.changed[s, i]) for i, k in enumerate(STATISTICS)}}
                    for s, layer in enumerate(self.layers)],
            }
        return {"analysis": "sanity", "target": self.target, "inputs": self.inputs,
                "rule": self.rule.to_json(), "statistics": list(STATISTICS),
                "baselines": list(BASELINES), "layers": self.layers,
                "verdicts": {m: self.label(m) for m in self.methods}, "methods": methods}

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for m in self.methods:
            out[f"similarity/{m}"] = self.similarity[m]
            out[f"baseline/{m}"] = self.baseline[m]
            out[f"baseline_each/{m}"] = self.baseline_each[m]
            out[f"maps/{m}"] = self.maps[m]
        return out


def cascading_randomization(
    model: nn.Module,
    pipeline: ModelAdapter,
    values: np.ndarray,
    target: Target,
    methods: Sequence[str] = ("saliency", "input_x_gradient", "smoothgrad",
                              "integrated_gradients", "guided_backprop", "gradcam"),
    options: AttributionOptions | None = None,
    rule: SanityRule | None = None,
    mask: np.ndarray | None = None,
    seed: int = 0,
    cancel: CancelToken | None = None,
    extra_methods: Mapping[str, AttributionFn] | None = None,
    inputs: dict[str, Any] | None = None,
) -> Job[SanityResult]:
    """Cascading parameter randomisation sanity check (a job generator).

    Parameters
    ----------
    model
        The trained model; it is never modified (a deep copy is randomised).
    values
        ``(B, n)`` scaled electrode vectors whose topomaps are attributed (B >= 2: the
        rule needs a spread over inputs).
    target
        What the maps explain.
    methods
        Names (or aliases) of :data:`eegmi.analysis.saliency.METHODS`.
    rule
        The pass rule (default :class:`SanityRule()`); ``rule.draws`` independent
        re-initialisations are made, each a full top-down cascade.
    mask
        ``(H, W)`` bool pixels compared (default :func:`compared_pixels`).
    extra_methods
        name -> :data:`AttributionFn`, checked after ``methods`` (planted controls).
    inputs
        Description of ``values`` stored in the result.

    Returns (as the job's result)
    -----------------------------
    :class:`SanityResult`
    """
    if pipeline.takes_values:
        raise ConfigError("sanity checks compare image maps; this is a decoder-only model")
    fns: dict[str, AttributionFn | None] = {method_name(m): None for m in methods}
    fns.update(dict(extra_methods or {}))
    if not fns:
        raise ConfigError("sanity check needs at least one method")
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ConfigError(f"sanity check needs at least 2 inputs (B, n), got {values.shape}")
    rule = rule or SanityRule()
    device = model_device(model)
    with torch.no_grad():
        images = pipeline.images(torch.as_tensor(values).to(device))
        seen = pipeline.inject(images)[:, 0].cpu().numpy()
    region = compared_pixels(pipeline) if mask is None else np.asarray(mask, bool)
    work = copy.deepcopy(model).eval()
    layers = target_layers(work, pipeline, target, images)
    if not layers:
        raise ConfigError(f"no weighted layer influences target {target.label}")
    imgs = images[:, 0]
    n_in, stages = imgs.shape[0], len(layers) + 1
    total, step = (1 + rule.draws * (stages - 1)) * len(fns) + len(fns), 0

    def attribute(net: nn.Module, name: str) -> np.ndarray:
        fn = fns[name]
        if fn is None:
            return attribute_images(net, pipeline, imgs, name, target, options)
        return np.asarray(fn(net, pipeline, imgs, target), np.float32)

    def compare(trained: np.ndarray, other: np.ndarray) -> np.ndarray:
        return np.array([similarities(trained[b], other[b], region) for b in range(n_in)])

    maps = {m: np.zeros((stages, *imgs.shape), np.float32) for m in fns}
    rep: dict[str, np.ndarray] = {}
    for m in fns:
        if cancel is not None:
            cancel.raise_if_cancelled()
        maps[m][0] = attribute(work, m)
        rep[m] = compare(maps[m][0], attribute(work, m))
        step += 2
        yield Progress(step, total, f"trained model {m}")
    sim = {m: np.zeros((rule.draws, stages - 1, n_in, len(STATISTICS))) for m in fns}
    for draw in range(rule.draws):
        net = copy.deepcopy(work)
        modules = dict(net.named_modules())
        for stage in range(1, stages):
            torch.manual_seed(seed + 1000 * draw + stage)
            modules[layers[stage - 1][0]].reset_parameters()
            for m in fns:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                now = attribute(net, m)
                if draw == 0:
                    maps[m][stage] = now
                sim[m][draw, stage - 1] = compare(maps[m][0], now)
                step += 1
                yield Progress(step, total, f"draw {draw + 1}/{rule.draws} stage {stage}/"
                                            f"{stages - 1} {m}")
    base_imgs = baseline_maps(seen)
    base, each, verdicts = {}, {}, {}
    for m in fns:
        each[m] = np.array([compare(maps[m][0], e) for e in base_imgs.values()])
        with np.errstate(invalid="ignore"):
            base[m] = np.where(np.isfinite(each[m]).any(axis=0),
                               np.nanmax(np.where(np.isfinite(each[m]), each[m], -np.inf), axis=0),
                               np.nan)
        verdicts[m] = judge(rule, sim[m], base[m], rep[m])
    return SanityResult(
        target=target.label, layers=[n for n, _ in layers], methods=list(fns), rule=rule,
        similarity=sim, baseline=base, baseline_each=each, repeat=rep, verdicts=verdicts,
        maps=maps, inputs=dict(inputs or {"n": int(n_in)}),
    )
