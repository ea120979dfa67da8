"""Feature visualisation by optimisation (seed 003): find the input that maximises a
model unit or an SAE feature.

Two parametrisations of the input:

- ``"image"``: a free 40x40 image, ``sigmoid(logits)`` so it stays in [0, 1], with
  total-variation and periodic Gaussian-blur smoothing and random jitter (shifts)
  so the optimum is not a high-frequency adversarial pattern;
- ``"electrodes"`` (EEG specific): the 32 electrode values ``sigmoid(logits)``
  pushed through the topomap operator, so the result is always a physically
  possible scalp map (and, for a decoder-only model, its input itself).

Objectives: a unit (channel ``unit`` of a spatial layer, averaged over positions
or taken at ``position``; index ``unit`` of a flat layer), or SAE feature
``feature`` (its encoder pre-activation, so the gradient is not zero while the
feature is off; maximum over positions for a per-position SAE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter
from eegmi.sae.activations import check_mode, find_hook, hooked, to_vectors
from eegmi.sae.model import SparseAutoencoder

PARAMS = ("image", "electrodes")


@dataclass
class VisTarget:
    """What to maximise: ``unit`` of ``hook``, or ``feature`` of ``sae`` reading ``hook`` in ``mode``."""

    hook: str
    unit: int | None = None
    sae: SparseAutoencoder | None = None
    feature: int | None = None
    mode: str = "spatial"
    position: int | None = None

    def describe(self) -> str:
        if self.sae is not None:
            return f"SAE feature {self.feature} on {self.hook} ({self.mode})"
        return f"unit {self.unit} of {self.hook}" + ("" if self.position is None else f" at position {self.position}")


@dataclass
class FeatureVisResult:
    """Optimised input and how strongly it drives the target.

    Attributes
    ----------
    image
        ``(H, W)`` float32 optimised model-input image in [0, 1].
    electrodes
        ``(n,)`` float32 electrode values (``"electrodes"`` parametrisation) or None.
    activation
        Target activation of the final input (no jitter; post-ReLU for SAE features).
    history
        Objective per reported step.
    """

    image: np.ndarray
    electrodes: np.ndarray | None
    activation: float
    target: str
    param: str
    history: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "param": self.param, "activation": self.activation,
                "history": self.history,
                "electrodes": None if self.electrodes is None else self.electrodes.tolist()}


def target_activation(model: nn.Module, target: VisTarget, inp: torch.Tensor, objective: bool = True) -> torch.Tensor:
    """Target activation per input ``(B,)``, differentiable.

    ``objective=True`` gives the optimisation objective (SAE pre-activation);
    ``False`` the reported activation (post-ReLU/TopK feature value).
    """
    find_hook(model, target.hook)  # unknown layer: one line listing the valid ones
    with hooked(model).capture([target.hook], detach=False) as cache:
        model(inp)
    acts = cache[target.hook]
    b = acts.shape[0]
    if target.sae is not None:
        check_mode(target.mode)
        if target.feature is None or not 0 <= target.feature < target.sae.config.n_features:
            raise ConfigError(f"SAE feature {target.feature} out of range 0..{target.sae.config.n_features - 1}")
        v = to_vectors(acts, target.mode)
        if v.shape[1] != target.sae.config.d_in:
            raise ConfigError(f"SAE reads width {target.sae.config.d_in} but {target.hook} in "
                              f"{target.mode} mode gives {v.shape[1]}")
        pre = target.sae.pre_activations(v)
        val = pre if objective else target.sae.activate(pre)
        per = val[:, target.feature].reshape(b, -1)
        return per[:, target.position] if target.position is not None else per.max(1).values
    if target.unit is None:
        raise ConfigError("give a unit index or an SAE feature to visualise")
    if acts.ndim <= 2:
        flat = acts.reshape(b, -1)
        if not 0 <= target.unit < flat.shape[1]:
            raise ConfigError(f"unit {target.unit} out of range 0..{flat.shape[1] - 1} for {target.hook}")
        return flat[:, target.unit]
    if not 0 <= target.unit < acts.shape[1]:
        raise ConfigError(f"channel {target.unit} out of range 0..{acts.shape[1] - 1} for {target.hook}")
    ch = acts[:, target.unit].reshape(b, -1)
    return ch[:, target.position] if target.position is not None else ch.mean(1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(round(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def _shift(x: torch.Tensor, dy: int, dx: int, pad: int) -> torch.Tensor:
    # edge-replicating shift: a circular roll would wrap the scalp edge into the image
    h, w = x.shape[-2:]
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    return xp[..., pad + dy: pad + dy + h, pad + dx: pad + dx + w]


def _tv(img: torch.Tensor) -> torch.Tensor:
    return (img[..., 1:, :] - img[..., :-1, :]).abs().mean() + (img[..., :, 1:] - img[..., :, :-1]).abs().mean()


def _input_size(model: nn.Module) -> int:
    cfg = getattr(model, "config", None)
    return int(getattr(cfg, "image_size", 40))


def visualise(
    model: nn.Module | ModelAdapter,
    target: VisTarget,
    param: str = "image",
    make_input: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n_electrodes: int = 32,
    steps: int = 200,
    lr: float = 0.05,
    tv_weight: float = 0.05,
    blur_sigma: float = 0.5,
    blur_every: int = 10,
    jitter: int = 1,
    n_jitter: int = 4,
    seed: int = 0,
    report_every: int = 10,
    cancel: CancelToken | None = None,
) -> Job[FeatureVisResult]:
    """Optimise an input to maximise a target.

    Parameters
    ----------
    model
        A hooked model, or the :class:`~eegmi.models.adapter.ModelAdapter` of one (its
        input pipeline is then the default ``make_input`` and its montage gives
        ``n_electrodes``).
    param
        ``"image"`` or ``"electrodes"``.
    make_input
        For ``"electrodes"``: values ``(B, n)`` -> model input (the topomap operator's
        ``render_torch`` for a VAE; identity, the default, for a model whose input is
        the electrode vector).
    tv_weight, blur_sigma, blur_every, jitter, n_jitter
        Regularisers: total variation weight, Gaussian blur of the image logits every
        ``blur_every`` steps (``"image"`` only), and random edge-replicating shifts of
        up to ``jitter`` pixels (``n_jitter`` copies per step; whenever the model
        input is an image).

    Yields
    ------
    Progress
        ``payload = {"step", "activation"}``.
    """
    if param not in PARAMS:
        raise ConfigError(f"unknown parametrisation {param!r}; use one of {', '.join(PARAMS)}")
    net, make_input, n_electrodes, values_in = _pipeline(model, make_input, n_electrodes)
    if param == "image" and values_in:
        raise ConfigError("a decoder-only model takes electrode values, not images: use the electrodes parametrisation")
    if param == "electrodes" and make_input is None:
        raise ConfigError("the electrodes parametrisation needs the topomap operator (make_input)")
    net.eval()
    # only the input is optimised; the model's own flags are restored afterwards
    flags = [p.requires_grad for p in net.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    dev = next(net.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    size = _input_size(net)
    shape = (1, 1, size, size) if param == "image" else (1, n_electrodes)
    logits = (0.1 * torch.randn(shape, generator=gen)).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    history: list[float] = []
    try:
        for step in range(1, steps + 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            x = _make(logits, param, make_input)
            reg = torch.zeros((), device=dev)
            if x.ndim == 4:
                if param == "image":
                    reg = tv_weight * _tv(x)
                if jitter > 0:
                    # several shifted copies per step: the objective is an average over small
                    # translations, so the optimum cannot hinge on one pixel alignment
                    shifts = torch.randint(-jitter, jitter + 1, (n_jitter, 2), generator=gen).tolist()
                    x = torch.cat([_shift(x, dy, dx, jitter) for dy, dx in shifts])
            obj = target_activation(net, target, x).mean()
            loss = -obj + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if param == "image" and blur_every > 0 and step % blur_every == 0:
                with torch.no_grad():
                    logits.copy_(_blur(logits, blur_sigma))
            if step % report_every == 0 or step == steps:
                history.append(float(obj.detach()))
                yield Progress(step, steps, f"activation {history[-1]:.4g}", {"step": step, "activation": history[-1]})
        with torch.no_grad():
            x = _make(logits, param, make_input)
            act = float(target_activation(net, target, x, objective=False)[0])
    finally:
        for p, flag in zip(net.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    image = x[0, 0] if x.ndim == 4 else None
    values = torch.sigmoid(logits)[0].detach().cpu().numpy() if param == "electrodes" else None
    return FeatureVisResult(
        image=(image.detach().cpu().numpy() if image is not None else np.zeros((0, 0))).astype(np.float32),
        electrodes=None if values is None else values.astype(np.float32),
        activation=act, target=target.describe(), param=param, history=history,
    )


def _identity(v: torch.Tensor) -> torch.Tensor:
    return v


def _pipeline(model: nn.Module | ModelAdapter, make_input: Callable[[torch.Tensor], torch.Tensor] | None,
              n_electrodes: int) -> tuple[nn.Module, Any, int, bool]:
    """``(module, make_input, n_electrodes, takes_values)`` of a model or its adapter.

    A bare module says its input kind in ``input_kind`` (``eegmi.models``); a model
    whose input is the electrode vector gets the identity as ``make_input``."""
    if isinstance(model, ModelAdapter):
        return (model.model, make_input or model.model_input, model.n_electrodes, model.takes_values)
    values_in = getattr(model, "input_kind", "image") == "values"
    return model, make_input or (_identity if values_in else None), n_electrodes, values_in


def _make(logits: torch.Tensor, param: str, make_input: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    vals = torch.sigmoid(logits)
    return vals if param == "image" else make_input(vals)  # type: ignore[misc]


@torch.no_grad()
def random_baseline(
    model: nn.Module | ModelAdapter,
    target: VisTarget,
    param: str = "image",
    make_input: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n_electrodes: int = 32,
    n: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """Target activations ``(n,)`` of random inputs of the same parametrisation:
    uniform [0, 1] images, or uniform [0, 1] electrode values through ``make_input``."""
    net, make_input, n_electrodes, _ = _pipeline(model, make_input, n_electrodes)
    gen = torch.Generator().manual_seed(seed)
    dev = next(net.parameters()).device
    net.eval()
    if param == "image":
        size = _input_size(net)
        x = torch.rand((n, 1, size, size), generator=gen)
    else:
        if make_input is None:
            raise ConfigError("the electrodes parametrisation needs the topomap operator (make_input)")
        x = make_input(torch.rand((n, n_electrodes), generator=gen).to(dev))
    return target_activation(net, target, x.to(dev), objective=False).cpu().numpy()


def visualise_feature(adapter: ModelAdapter, loaded: Any, feature: int, param: str = "electrodes",
                      steps: int = 200, cancel: CancelToken | None = None) -> Job[FeatureVisResult]:
    """Optimise an input for feature ``feature`` of a loaded SAE (``eegmi.sae.io.LoadedSAE``)
    on the adapter's model.

    The result's ``image`` is always the ``(H, W)`` map a card shows: for a model whose
    input is the electrode vector the optimised values are rendered by the operator.
    """
    dev = next(adapter.model.parameters()).device
    target = VisTarget(hook=loaded.hook, sae=loaded.sae.to(dev).eval(), feature=int(feature),
                       mode=loaded.mode)
    result = yield from visualise(adapter, target, param, steps=steps,
                                  report_every=max(1, min(25, steps // 20)), cancel=cancel)
    if result.image.size == 0 and result.electrodes is not None:
        result.image = np.asarray(adapter.operator.render(result.electrodes), dtype=np.float32)
    return result
