"""Named hook points and activation caching, in the manner of TransformerLens.

Every layer output a view can show passes through a :class:`HookPoint` (an identity
module with a stable ``name``).  :meth:`HookedModel.run_with_cache` records the
requested points for one call: it installs a recorder that the hook points consult
(a context variable, so it belongs to the calling thread) and always removes it
again, even when the forward pass raises, so a failed analysis never leaves a model
instrumented.  Recording this way, rather than registering and removing a torch
forward hook per point on every call, keeps a single interactive forward pass
(the GUI's scalp click) about a tenth faster.  :meth:`HookedModel.run_with_hooks`
uses torch forward hooks, as replacing an activation needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from eegmi.errors import ConfigError, DataError

#: A hook function: ``fn(activation, name) -> replacement or None``.
HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]


@runtime_checkable
class CachingModel(Protocol):
    """What the analyses that record activations need: a :class:`HookedModel`, or any
    module with a ``run_with_cache`` of the same meaning (a planted stand-in)."""

    def run_with_cache(self, x: torch.Tensor, names: Iterable[str] | None = None,
                       detach: bool = True) -> tuple[Any, dict[str, torch.Tensor]]: ...


def caching(model: nn.Module) -> CachingModel:
    """``model``, checked to record named activations (``run_with_cache``)."""
    if not isinstance(model, CachingModel):
        raise ConfigError(f"{type(model).__name__} has no named hook points to record")
    return model


@dataclass(frozen=True)
class _Recorder:
    """What one ``run_with_cache`` call records: hook points (by identity) -> name."""

    points: dict[int, str]
    cache: dict[str, torch.Tensor]
    detach: bool


#: recorders of the run_with_cache calls in progress in this thread (innermost last)
_RECORDERS: ContextVar[tuple[_Recorder, ...]] = ContextVar("eegmi_hook_recorders", default=())


class HookPoint(nn.Module):
    """Identity module marking a named activation.

    Parameters
    ----------
    name
        Stable dotted name such as ``"enc.act1"``.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for rec in _RECORDERS.get():
            name = rec.points.get(id(self))
            if name is not None:
                rec.cache[name] = x.detach() if rec.detach else x
        return x

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class HookedModel(nn.Module):
    """Base class for models whose activations are addressable by hook-point name."""

    def hook_points(self) -> dict[str, HookPoint]:
        """Hook points by name, in forward order."""
        return {m.name: m for m in self.modules() if isinstance(m, HookPoint)}

    def hook_names(self) -> list[str]:
        """All hook-point names, in forward order."""
        return list(self.hook_points())

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input of the right shape on the model's device (subclasses override)."""
        raise NotImplementedError

    def _select(self, names: Iterable[str] | None) -> dict[str, HookPoint]:
        points = self.hook_points()
        if names is None:
            return points
        if isinstance(names, str):
            names = [names]
        chosen = {}
        for name in names:
            if name not in points:
                raise ConfigError(f"unknown hook point {name!r} (known: {', '.join(points)})")
            chosen[name] = points[name]
        return chosen

    def run_with_cache(
        self, x: torch.Tensor, names: Iterable[str] | None = None, detach: bool = True
    ) -> tuple[Any, dict[str, torch.Tensor]]:
        """Run the model once and return its output and the named activations.

        Parameters
        ----------
        x
            Model input (``(B, 1, H, W)`` images for a VAE, ``(B, n)`` for a decoder).
        names
            Hook points to record; ``None`` records all of them.
        detach
            Detach cached tensors from the graph (set False for gradient-based analyses).

        Returns
        -------
        output, cache
            The model's normal output and ``{name: Tensor (B, ...)}``.
        """
        with self.capture(names, detach=detach) as cache:
            output = self(x)
        return output, cache

    @contextmanager
    def capture(self, names: Iterable[str] | None = None,
                detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Record the named hook points of every forward pass run inside the block.

        Whatever entry point the block calls (``forward``, ``decode``, a sub-module),
        the hook points it passes record into the yielded dict ``{name: Tensor (B, ...)}``;
        the recorder is removed on exit, even when the block raises.
        """
        cache: dict[str, torch.Tensor] = {}
        points = {id(point): name for name, point in self._select(names).items()}
        token = _RECORDERS.set((*_RECORDERS.get(), _Recorder(points, cache, detach)))
        try:
            yield cache
        finally:
            _RECORDERS.reset(token)

    def run_with_hooks(self, x: torch.Tensor, hooks: Mapping[str, HookFn]) -> Any:
        """Run the model with functions that may replace activations (ablation, patching).

        Parameters
        ----------
        x
            Model input.
        hooks
            ``{name: fn(activation, name)}``; a non-None return value replaces the activation.
        """
        handles = []

        def make(name: str, fn: HookFn) -> Callable[..., torch.Tensor | None]:
            def hook(_module: nn.Module, _inp: Any, out: torch.Tensor) -> torch.Tensor | None:
                return fn(out, name)

            return hook

        try:
            points = self._select(list(hooks))
            for name, fn in hooks.items():
                handles.append(points[name].register_forward_hook(make(name, fn)))
            return self(x)
        finally:
            for h in handles:
                h.remove()

    def hook_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample activation shape at every hook point (batch dimension dropped)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                _, cache = self.run_with_cache(self.example_input(1))
        finally:
            self.train(was_training)
        return {name: tuple(t.shape[1:]) for name, t in cache.items()}


def model_input(model: nn.Module | None, batch: Any) -> torch.Tensor:
    """The tensor ``model`` takes from one batch.

    A ``eegmi.data.dataset.Batch`` gives its ``values`` (scaled electrode vectors,
    ``(B, n)``) to a model whose ``input_kind`` is ``"values"`` (the decoder-only
    E1) and its injected ``images`` (``(B, 1, H, W)``) to every other model; a
    tensor or numpy array is taken as the input itself.
    """
    if hasattr(batch, "images"):
        kind = getattr(model, "input_kind", None)
        if kind is None:  # a module without the attribute: read its config
            decoder = getattr(getattr(model, "config", None), "kind", None) == "decoder"
            kind = "values" if decoder else "image"
        batch = batch.values if kind == "values" else batch.images
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    if not isinstance(batch, torch.Tensor):
        raise DataError(f"cannot use a batch of type {type(batch).__name__} as model input")
    return batch
