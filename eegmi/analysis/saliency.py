"""Saliency maps (captum) for a latent, an output pixel/region or any scalar function.

Methods (seed 002): vanilla gradient (``saliency``), gradient x input
(``input_x_gradient``), SmoothGrad (``smoothgrad``, NoiseTunnel over the gradient),
Integrated Gradients (``integrated_gradients``, zero baseline), Guided Backprop
(``guided_backprop``) and Grad-CAM (``gradcam``, on an encoder hook point, upsampled
with ``LayerAttribution.interpolate``).

Attributions are taken with respect to the *clean* topomap ``(H, W)`` (the image
before the injection layer; the injection is part of the differentiated function,
so occluded pixels get zero attribution) or with respect to the electrode vector
``(n,)`` by differentiating through the operator (values -> render_torch ->
injection -> model).  The zero baseline of Integrated Gradients is the zero
electrode vector / zero image, the same baseline the propagation analysis uses.

captum's own GuidedBackprop only rewrites ``nn.ReLU`` gradients; the models here
use LeakyReLU/GELU/SoLU, so :class:`_GuidedBackprop` extends it to those modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from captum.attr import (
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
from torch import nn

from eegmi.analysis.saliency_methods import ALIASES, METHODS, AttributionOptions, method_name
from eegmi.devices import model_device
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter
from eegmi.models.hooks import caching

__all__ = ["ALIASES", "METHODS", "AttributionOptions", "SaliencyResult", "Target",
           "attribute_electrodes", "attribute_images", "method_name", "saliency"]


@dataclass
class Target:
    """The scalar (per sample) whose attribution is computed.

    Build with :meth:`latent`, :meth:`pixel`, :meth:`region`, :meth:`from_callable`
    or :meth:`parse` (``"latent:3"``, ``"pixel:20,20"``, ``"region:r0,c0,r1,c1"``
    with ``r1, c1`` exclusive).
    """

    kind: str
    label: str
    names: tuple[str, ...]
    fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] = field(repr=False)

    def __call__(self, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` target values from a hook cache."""
        return self.fn(cache)

    @classmethod
    def latent(cls, k: int, name: str = "latent.mu") -> Target:
        """Latent dimension ``k`` (``latent.mu``; use ``latent.z`` for decoder-only models)."""
        return cls("latent", f"latent:{k}", (name,), lambda c: c[name][:, k])

    @classmethod
    def pixel(cls, row: int, col: int) -> Target:
        """Output pixel ``(row, col)``."""
        return cls("pixel", f"pixel:{row},{col}", ("out",), lambda c: c["out"][:, 0, row, col])

    @classmethod
    def region(cls, r0: int, c0: int, r1: int, c1: int) -> Target:
        """Sum of the output over rows ``r0:r1`` and columns ``c0:c1`` (end exclusive)."""
        if r1 <= r0 or c1 <= c0:
            raise ConfigError(f"empty region {r0},{c0},{r1},{c1} (need r0<r1 and c0<c1)")
        return cls("region", f"region:{r0},{c0},{r1},{c1}", ("out",),
                   lambda c: c["out"][:, 0, r0:r1, c0:c1].sum(dim=(1, 2)))

    @classmethod
    def from_callable(cls, fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                      names: Sequence[str], label: str = "callable") -> Target:
        """Any ``fn(cache) -> (B,)`` over the hook points ``names`` (e.g. an SAE feature)."""
        return cls("callable", label, tuple(names), fn)

    @classmethod
    def parse(cls, spec: str, size: int | None = None, latent_name: str = "latent.mu") -> Target:
        """Parse ``latent:K``, ``pixel:R,C`` or ``region:R0,C0,R1,C1`` (bounds checked
        against the image ``size`` when given)."""
        kind, _, rest = spec.partition(":")
        try:
            nums = [int(v) for v in rest.split(",")] if rest else []
        except ValueError:
            raise ConfigError(f"bad target {spec!r}: numbers expected after ':'") from None
        want = {"latent": 1, "pixel": 2, "region": 4}.get(kind)
        if want is None or len(nums) != want:
            raise ConfigError(f"bad target {spec!r}: use latent:K, pixel:R,C or region:R0,C0,R1,C1")
        if any(v < 0 for v in nums) or (size is not None and kind != "latent"
                                         and any(v > size for v in nums)):
            raise ConfigError(f"target {spec!r} is outside the {size}x{size} image")
        if kind == "pixel" and size is not None and max(nums) >= size:
            raise ConfigError(f"target {spec!r} is outside the {size}x{size} image")
        if kind == "latent":
            return cls.latent(nums[0], latent_name)
        if kind == "pixel":
            return cls.pixel(*nums)
        return cls.region(*nums)


class _TargetForward(nn.Module):
    """``input -> (B,)`` target: the function captum differentiates."""

    def __init__(self, model: nn.Module, target: Target, pre: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model = model
        self.target = target
        self.pre = pre

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        _, cache = caching(self.model).run_with_cache(self.pre(inp), list(self.target.names),
                                                      detach=False)
        return self.target(cache)


class _GuidedBackprop(GuidedBackprop):
    """Guided Backprop that also rectifies gradients through LeakyReLU/ELU/GELU/SiLU/SoLU."""

    _ACTS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)

    def _register_hooks(self, module: nn.Module) -> None:
        if isinstance(module, self._ACTS) or "SoLU" in type(module).__name__:
            self.backward_hooks.append(module.register_full_backward_hook(_rectify_grad_input))


def _rectify_grad_input(_module: nn.Module, grad_input: tuple[torch.Tensor | None, ...],
                        _grad_output: Any) -> tuple[torch.Tensor | None, ...]:
    # guided backprop: only positive gradient flows back through an activation
    return tuple(None if g is None else torch.relu(g) for g in grad_input)


def _attribute(model: Any, target: Target, method: str, inputs: torch.Tensor,
               pre: Callable[[torch.Tensor], torch.Tensor], opts: AttributionOptions) -> torch.Tensor:
    """Attribution of ``target`` to ``inputs`` (same shape as ``inputs``, except Grad-CAM
    which returns ``(B, 1, h, w)`` at the layer's resolution)."""
    f = _TargetForward(model, target, pre)
    x = inputs.detach().clone().requires_grad_(True)
    if method == "saliency":
        return Saliency(f).attribute(x, abs=False)
    if method == "input_x_gradient":
        return InputXGradient(f).attribute(x)
    if method == "smoothgrad":
        span = float((x.max() - x.min()).detach())
        torch.manual_seed(opts.seed)
        return NoiseTunnel(Saliency(f)).attribute(
            x, nt_type="smoothgrad", nt_samples=opts.nt_samples,
            stdevs=opts.noise * (span if span > 0 else 1.0), abs=False)
    if method == "integrated_gradients":
        return IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=opts.ig_steps)
    if method == "guided_backprop":
        with warnings.catch_warnings():  # captum announces its hooks on every call
            warnings.filterwarnings("ignore", message="Setting backward hooks")
            return _GuidedBackprop(f).attribute(x)
    if method == "gradcam":
        points = model.hook_points() if hasattr(model, "hook_points") else {}
        if opts.layer not in points:
            raise ConfigError(f"Grad-CAM layer {opts.layer!r} is not a hook point of this model")
        return LayerGradCam(f, points[opts.layer]).attribute(x, relu_attributions=True)
    raise ConfigError(f"unknown saliency method {method!r}")


def attribute_images(model: Any, pipeline: ModelAdapter, images: np.ndarray | torch.Tensor,
                     method: str, target: Target,
                     options: AttributionOptions | None = None) -> np.ndarray:
    """Attribution maps over clean topomaps.

    Parameters
    ----------
    images
        ``(B, H, W)`` clean topomaps (before the injection layer).
    method
        One of :data:`METHODS` (or an alias).

    Returns
    -------
    ``(B, H, W)`` float32 maps (signed; Grad-CAM non-negative and upsampled bilinearly).
    """
    if pipeline.takes_values:
        raise ConfigError("image saliency needs an image-input model; use electrode attribution")
    method = method_name(method)
    opts = options or AttributionOptions()
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).to(model_device(model))
    if x.ndim != 3:
        raise ConfigError(f"images must be (B, H, W), got {tuple(x.shape)}")
    attr = _attribute(model, target, method, x[:, None], pipeline.inject, opts)
    if method == "gradcam":
        attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return attr[:, 0].detach().float().cpu().numpy()


def attribute_electrodes(model: Any, pipeline: ModelAdapter, values: np.ndarray | torch.Tensor,
                         method: str, target: Target,
                         options: AttributionOptions | None = None) -> np.ndarray:
    """Attribution per electrode, differentiating through the operator and injection.

    Grad-CAM has no electrode form; its upsampled map is read at each electrode's pixel.

    Parameters
    ----------
    values
        ``(B, n)`` scaled electrode vectors.

    Returns
    -------
    ``(B, n)`` float32.
    """
    method = method_name(method)
    opts = options or AttributionOptions()
    v = torch.as_tensor(np.asarray(values, dtype=np.float32)).to(model_device(model))
    if v.ndim != 2 or v.shape[1] != pipeline.n_electrodes:
        raise ConfigError(f"values must be (B, {pipeline.n_electrodes}), got {tuple(v.shape)}")
    if method == "gradcam":
        maps = attribute_images(model, pipeline, pipeline.images(v)[:, 0], method, target, opts)
        px = np.asarray(pipeline.operator.electrode_pixels)
        return maps[:, px[:, 0], px[:, 1]]
    attr = _attribute(model, target, method, v, pipeline.model_input, opts)
    return attr.detach().float().cpu().numpy()


@dataclass
class SaliencyResult:
    """Maps of one or more methods for one target.

    Attributes
    ----------
    values
        ``(B, n)`` the electrode vectors attributed.
    maps
        method -> ``(B, H, W)`` maps over the clean topomap (absent for decoder-only models).
    electrodes
        method -> ``(B, n)`` per-electrode attributions.
    inputs
        Provenance of an input set (:class:`~eegmi.analysis.inputs.InputSet` JSON), or
        None for an explicit vector.
    """

    target: str
    ch_names: tuple[str, ...]
    values: np.ndarray
    maps: dict[str, np.ndarray]
    electrodes: dict[str, np.ndarray]
    inputs: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"analysis": "saliency", "target": self.target,
                               "n_inputs": int(self.values.shape[0]), "methods": {}}
        for method, el in self.electrodes.items():
            mean_abs = np.abs(el).mean(axis=0)
            order = [i for i in np.argsort(-mean_abs)[:5] if mean_abs[i] > 0]
            entry: dict[str, Any] = {
                "electrodes": {n: float(v) for n, v in zip(self.ch_names, el.mean(axis=0), strict=True)},
                "top_electrodes": [self.ch_names[i] for i in order],
            }
            if method in self.maps:
                m = self.maps[method]
                peak = np.unravel_index(np.abs(m).mean(axis=0).argmax(), m.shape[1:])
                entry["map_shape"] = list(m.shape[1:])
                entry["map_peak"] = [int(peak[0]), int(peak[1])]
                entry["map_abs_max"] = float(np.abs(m).max())
            out["methods"][method] = entry
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"values": self.values}
        out.update({f"map/{k}": v for k, v in self.maps.items()})
        out.update({f"electrodes/{k}": v for k, v in self.electrodes.items()})
        return out


def saliency(model: Any, pipeline: ModelAdapter, values: np.ndarray, methods: Sequence[str],
             target: Target, options: AttributionOptions | None = None, batch_size: int = 16,
             cancel: CancelToken | None = None) -> Job[SaliencyResult]:
    """Maps (over the topomap) and electrode attributions for several methods (a job).

    Parameters
    ----------
    values
        ``(B, n)`` scaled electrode vectors (e.g. a mix of one-hots, or dataset frames).
    methods
        Method names or aliases.

    Returns (as the job's result)
    -----------------------------
    :class:`SaliencyResult`
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.shape[1] != pipeline.n_electrodes:
        raise ConfigError(f"values must be (B, {pipeline.n_electrodes}), got {values.shape}")
    canon = [method_name(m) for m in methods]
    if pipeline.takes_values and "gradcam" in canon:
        raise ConfigError("Grad-CAM needs an encoder layer; this is a decoder-only model")
    was_training = model.training
    model.eval()
    maps: dict[str, list[np.ndarray]] = {m: [] for m in canon}
    elec: dict[str, list[np.ndarray]] = {m: [] for m in canon}
    steps = len(canon) * -(-values.shape[0] // batch_size)
    done = 0
    try:
        for method in canon:
            for start in range(0, values.shape[0], batch_size):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                v = values[start:start + batch_size]
                elec[method].append(attribute_electrodes(model, pipeline, v, method, target, options))
                if not pipeline.takes_values:
                    with torch.no_grad():
                        imgs = pipeline.images(torch.as_tensor(v).to(model_device(model)))[:, 0]
                    maps[method].append(attribute_images(model, pipeline, imgs, method, target, options))
                done += 1
                yield Progress(done, steps, f"{method}")
    finally:
        model.train(was_training)
    return SaliencyResult(
        target=target.label, ch_names=pipeline.ch_names, values=values,
        maps={m: np.concatenate(v) for m, v in maps.items() if v},
        electrodes={m: np.concatenate(v) for m, v in elec.items()},
    )
