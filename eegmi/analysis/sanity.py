"""Sanity checks for saliency maps (Adebayo et al. 2018, seed 002): cascading
parameter randomisation.

The layers that influence the target (Conv2d, ConvTranspose2d, Linear modules whose
weights receive a gradient from it) are re-initialised one at a time on a deep copy,
from the top (closest to the target) down, cumulatively.  After each stage every
method's maps are recomputed and compared with the trained model's maps:

- Spearman rank correlation of the absolute maps over head pixels,
- SSIM (``skimage.metrics.structural_similarity``) of the absolute maps, each scaled
  to [0, 1] by its own maximum, averaged over head pixels.

A method **passes** when, with all layers randomised, its mean SSIM to the trained
maps is below ``ssim_threshold`` (default 0.5): a map that still looks the same when
the model knows nothing is explaining the input or the architecture, not the model.
Normalisation layers are left alone (re-initialising them is not randomisation).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

from eegmi.analysis.propagation import InputPipeline
from eegmi.analysis.saliency import AttributionOptions, Target, attribute_images, method_name
from eegmi.devices import model_device
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def target_layers(model: nn.Module, pipeline: InputPipeline, target: Target,
                  images: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """Weighted layers that influence ``target``, ordered from the top (last executed) down.

    Parameters
    ----------
    images
        ``(B, 1, H, W)`` clean topomaps used for one probing forward pass.
    """
    order: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    handles = [m.register_forward_hook(lambda mod, _i, _o: order.append(names[mod]))
               for m in model.modules() if isinstance(m, _WEIGHTED)]
    try:
        _, cache = model.run_with_cache(pipeline.inject(images), list(target.names), detach=False)
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


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _abs_unit(m: np.ndarray) -> np.ndarray:
    a = np.abs(m).astype(np.float64)
    peak = a.max()
    return a / peak if peak > 0 else a


def map_similarity(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Spearman correlation and SSIM between two maps' absolute values.

    Parameters
    ----------
    a, b
        ``(H, W)`` maps.
    mask
        ``(H, W)`` bool pixels compared.

    Returns
    -------
    spearman, ssim
        Both nan when the reference map ``a`` is constant over the mask (a dead map
        has nothing to compare); Spearman is 0 when only ``b`` is constant.
    """
    ua, ub = _abs_unit(a), _abs_unit(b)
    xa, xb = ua[mask], ub[mask]
    if np.ptp(xa) == 0:
        return float("nan"), float("nan")
    rho = 0.0 if np.ptp(xb) == 0 else float(spearmanr(xa, xb).statistic)
    win = min(7, *[s if s % 2 else s - 1 for s in a.shape])
    _, full = structural_similarity(ua, ub, data_range=1.0, full=True, win_size=win)
    return rho, float(full[mask].mean())


def _nanmean(v: list[float]) -> float:
    a = np.asarray(v, dtype=np.float64)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


@dataclass
class SanityResult:
    """Similarity of each method's maps to the trained model's, per randomisation stage.

    Attributes
    ----------
    layers
        Layers randomised, top down; stage ``i`` (1-based) has ``layers[:i]`` randomised.
    spearman, ssim
        method -> ``(n_stages,)`` mean over inputs.
    passed
        method -> bool: final-stage SSIM below ``ssim_threshold``; None when the trained
        maps are constant (e.g. a dead Grad-CAM), so there is nothing to test.
    maps
        method -> ``(n_stages + 1, B, H, W)``: trained maps then each stage's maps.
    """

    target: str
    layers: list[str]
    methods: list[str]
    spearman: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]
    passed: dict[str, bool | None]
    ssim_threshold: float
    maps: dict[str, np.ndarray]

    def to_json(self) -> dict[str, Any]:
        return {
            "analysis": "sanity",
            "target": self.target,
            "ssim_threshold": self.ssim_threshold,
            "layers": self.layers,
            "methods": {
                m: {
                    "passed": self.passed[m],
                    "spearman": [_num(v) for v in self.spearman[m]],
                    "ssim": [_num(v) for v in self.ssim[m]],
                }
                for m in self.methods
            },
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for m in self.methods:
            out[f"spearman/{m}"] = self.spearman[m]
            out[f"ssim/{m}"] = self.ssim[m]
            out[f"maps/{m}"] = self.maps[m]
        return out


def cascading_randomization(
    model: nn.Module,
    pipeline: InputPipeline,
    values: np.ndarray,
    target: Target,
    methods: Sequence[str] = ("saliency", "input_x_gradient", "smoothgrad",
                              "integrated_gradients", "guided_backprop", "gradcam"),
    options: AttributionOptions | None = None,
    ssim_threshold: float = 0.5,
    mask: np.ndarray | None = None,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Job[SanityResult]:
    """Cascading parameter randomisation sanity check (a job generator).

    Parameters
    ----------
    model
        The trained model; it is never modified (a deep copy is randomised).
    values
        ``(B, n)`` scaled electrode vectors whose topomaps are attributed.
    target
        What the maps explain.
    mask
        ``(H, W)`` bool pixels compared (default the operator's head disc).

    Returns (as the job's result)
    -----------------------------
    :class:`SanityResult`
    """
    if pipeline.kind == "decoder":
        raise ConfigError("sanity checks compare image maps; this is a decoder-only model")
    canon = [method_name(m) for m in methods]
    if not canon:
        raise ConfigError("sanity check needs at least one method")
    device = model_device(model)
    values = np.asarray(values, dtype=np.float32)
    with torch.no_grad():
        images = pipeline.images(torch.as_tensor(values).to(device))
    region = np.asarray(pipeline.operator.head_mask if mask is None else mask, dtype=bool)
    work = copy.deepcopy(model).eval()
    layers = target_layers(work, pipeline, target, images)
    if not layers:
        raise ConfigError(f"no weighted layer influences target {target.label}")
    modules = dict(work.named_modules())
    imgs = images[:, 0]
    stages = len(layers) + 1
    maps = {m: np.zeros((stages, *imgs.shape), np.float32) for m in canon}
    total = stages * len(canon)
    step = 0
    for stage in range(stages):
        if stage > 0:
            name = layers[stage - 1][0]
            torch.manual_seed(seed + stage)
            modules[name].reset_parameters()
        for m in canon:
            if cancel is not None:
                cancel.raise_if_cancelled()
            maps[m][stage] = attribute_images(work, pipeline, imgs, m, target, options)
            step += 1
            yield Progress(step, total, f"stage {stage}/{stages - 1} {m}")
    spear: dict[str, np.ndarray] = {}
    ssim: dict[str, np.ndarray] = {}
    for m in canon:
        rs = np.zeros(stages - 1)
        ss = np.zeros(stages - 1)
        for s in range(1, stages):
            pairs = [map_similarity(maps[m][0, b], maps[m][s, b], region) for b in range(imgs.shape[0])]
            rs[s - 1] = _nanmean([p[0] for p in pairs])
            ss[s - 1] = _nanmean([p[1] for p in pairs])
        spear[m], ssim[m] = rs, ss
    return SanityResult(
        target=target.label, layers=[n for n, _ in layers], methods=canon, spearman=spear,
        ssim=ssim,
        passed={m: None if np.isnan(ssim[m][-1]) else bool(ssim[m][-1] < ssim_threshold)
                for m in canon},
        ssim_threshold=ssim_threshold, maps=maps,
    )
