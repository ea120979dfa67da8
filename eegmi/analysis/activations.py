"""Streaming collection of layer activations from a hooked model.

Analyses read activations batch by batch so that a dataset of millions of
frames never has to sit in memory: :func:`iter_activations` runs the model on
each batch with ``run_with_cache`` (the hook-point contract of
``eegmi.models.HookedModel``), flattens each requested layer to
``(B, m)`` float32 and optionally keeps every ``s``-th dimension (the seed
paper's sub-sampling, see :func:`subsample_stride`).

The model is only duck-typed (``run_with_cache(x, names)`` and ``parameters()``),
so this module does not import ``eegmi.models``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress


def subsample_stride(n_features: int, max_dim: int | None) -> int:
    """Smallest stride ``s`` such that taking every ``s``-th dimension leaves at most ``max_dim``.

    Parameters
    ----------
    n_features
        Number of dimensions ``m`` of a layer (per sample, flattened).
    max_dim
        Largest allowed number of kept dimensions; None keeps all (stride 1).

    Returns
    -------
    int
        ``s >= 1``; the kept dimensions are ``range(0, m, s)``, ``ceil(m / s)`` of them.
    """
    if max_dim is None or n_features <= max_dim:
        return 1
    if max_dim < 1:
        raise ConfigError(f"max_dim must be at least 1, got {max_dim}")
    return math.ceil(n_features / max_dim)


def model_inputs(batch: Any) -> torch.Tensor:
    """The model input tensor of one batch.

    Accepts a tensor, a numpy array, or an object with an ``images`` attribute
    (``eegmi.data.dataset.Batch``: the injected model input).
    """
    if hasattr(batch, "images"):
        batch = batch.images
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    if not isinstance(batch, torch.Tensor):
        raise DataError(f"cannot use a batch of type {type(batch).__name__} as model input")
    return batch


def as_batches(x: np.ndarray | torch.Tensor, batch_size: int = 256) -> list[torch.Tensor]:
    """Split an input array ``(N, ...)`` into float32 tensors of at most ``batch_size`` rows."""
    t = model_inputs(x).float()
    return list(torch.split(t, batch_size)) if len(t) else []


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put the model in eval mode (dropout off, VAE z = mu) and restore its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def iter_activations(
    model: torch.nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    *,
    max_inputs: int | None = None,
    strides: Mapping[str, int] | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Run the model batch by batch and yield flattened layer activations.

    Parameters
    ----------
    model
        A hooked model offering ``run_with_cache(x, names) -> (output, dict)``.
    batches
        Iterable of model inputs, each a tensor ``(B, ...)`` or a ``Batch``.
    names
        Hook names to record.
    max_inputs
        Stop after this many inputs (the last batch is truncated).
    strides
        Per-name dimension stride (see :func:`subsample_stride`); missing names use 1.
    cancel
        Polled before each batch.

    Yields
    ------
    (done, acts)
        ``done`` inputs processed so far, and ``acts[name]`` a float32 array
        ``(B, ceil(m / s))`` for this batch.
    """
    names = list(names)
    strides = dict(strides or {})
    device = model_device(model)
    done = 0
    with eval_mode(model), torch.no_grad():
        for batch in batches:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if max_inputs is not None and done >= max_inputs:
                break
            x = model_inputs(batch)
            if max_inputs is not None:
                x = x[: max_inputs - done]
            x = x.to(device=device, dtype=torch.float32)
            _, cache = model.run_with_cache(x, names)
            acts: dict[str, np.ndarray] = {}
            for name in names:
                if name not in cache:
                    raise ConfigError(f"model has no hook point named {name!r}")
                a = cache[name].detach().reshape(len(x), -1)
                s = strides.get(name, 1)
                if s > 1:
                    a = a[:, ::s]
                acts[name] = a.to("cpu", torch.float32).numpy()
            done += len(x)
            yield done, acts


def layer_sizes(
    model: torch.nn.Module, batches: Iterable[Any], names: Sequence[str]
) -> dict[str, int]:
    """Flattened per-sample size of each named layer, from one probe batch.

    Only the first row of the first batch is run, so this is cheap.
    """
    first = next(iter(batches), None)
    if first is None:
        raise DataError("no input batches to analyse")
    x = model_inputs(first)[:1]
    for _, acts in iter_activations(model, [x], names):
        return {n: int(a.shape[1]) for n, a in acts.items()}
    raise DataError("no input batches to analyse")  # pragma: no cover - loop always yields


def collect_activations(
    model: torch.nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    *,
    max_inputs: int | None = None,
    max_dim: int | None = None,
    cancel: CancelToken | None = None,
) -> Job[dict[str, np.ndarray]]:
    """Collect whole activation matrices (for small input sets: stimuli, baselines).

    Returns
    -------
    dict
        ``name -> (N, m')`` float32, ``m' = ceil(m / s)`` with ``s`` from ``max_dim``.
    """
    names = list(names)
    strides = None
    if max_dim is not None:
        sizes = layer_sizes(model, batches, names)
        strides = {n: subsample_stride(m, max_dim) for n, m in sizes.items()}
    total = float(max_inputs or 0)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for done, acts in iter_activations(model, batches, names, max_inputs=max_inputs,
                                       strides=strides, cancel=cancel):
        for n, a in acts.items():
            parts[n].append(a)
        yield Progress(done, total, "collecting activations")
    if not parts or not parts[names[0]]:
        raise DataError("no input batches to analyse")
    return {n: np.concatenate(p, axis=0) for n, p in parts.items()}
