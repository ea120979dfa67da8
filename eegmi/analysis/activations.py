"""Streaming collection of layer activations from a hooked model.

Analyses read activations batch by batch so that a dataset of millions of
frames never has to sit in memory: :func:`iter_activations` runs the model on
each batch with ``run_with_cache`` (the hook-point contract of
``eegmi.models.HookedModel``), flattens each requested layer to
``(B, m)`` float32 and optionally keeps every ``s``-th dimension (the seed
paper's sub-sampling, see :func:`eegmi.analysis.eigenspectrum.subsample_stride`).
:func:`layer_spectra` streams those activations into one float64 covariance
accumulator per layer and returns every layer's eigenspectrum (the ``spectra`` recipe,
:mod:`eegmi.recipes.spectra`, runs it for several models).

The model is only duck-typed (``run_with_cache(x, names)``, checked as
:class:`eegmi.models.hooks.CachingModel`, and ``parameters()``), so a planted
stand-in serves as well as a :class:`~eegmi.models.HookedModel`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eegmi.analysis.eigenspectrum import (
    SEED_FIT_RANGE,
    CovarianceAccumulator,
    Eigenspectrum,
    FitSpec,
    subsample_stride,
)
from eegmi.devices import model_device
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.hooks import caching, model_input


def as_batches(x: np.ndarray | torch.Tensor, batch_size: int = 256) -> list[torch.Tensor]:
    """Split an input array ``(N, ...)`` into float32 tensors of at most ``batch_size`` rows."""
    t = model_input(None, x).float()
    return list(torch.split(t, batch_size)) if len(t) else []


class LazyBatches:
    """Model inputs made batch by batch from rows, every time they are iterated.

    ``values (N, n)`` stay as they are (e.g. scaled electrode vectors, 128 bytes a frame
    for 32 electrodes); ``make(rows) -> Tensor (B, ...)`` turns one batch of them into
    model inputs (a 40x40 topomap is 6.4 kB a frame) only when that batch is consumed.
    Re-iterable (each pass makes the inputs again), with ``len()`` = batches per pass:
    a multi-pass analysis over many inputs never holds them all as images.
    """

    def __init__(self, values: np.ndarray, make: Any, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.values = values
        self.make = make
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        return -(-len(self.values) // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.values), self.batch_size):
            yield self.make(self.values[start:start + self.batch_size])




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
    recorder = caching(model)
    device = model_device(model)
    done = 0
    with eval_mode(model), torch.no_grad():
        for batch in batches:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if max_inputs is not None and done >= max_inputs:
                break
            x = model_input(model, batch)
            if max_inputs is not None:
                x = x[: max_inputs - done]
            x = x.to(device=device, dtype=torch.float32)
            _, cache = recorder.run_with_cache(x, names)
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


def peek(batches: Iterable[Any]) -> tuple[Any, Iterable[Any], bool]:
    """First batch, batches with nothing lost, and whether they can be iterated only once.

    A one-shot iterator (a generator) gets its first batch chained back in front.
    """
    one_shot = iter(batches) is batches
    it = iter(batches)
    first = next(it, None)
    if first is None:
        raise DataError("no input batches to analyse")
    return first, (itertools.chain([first], it) if one_shot else batches), one_shot


def layer_sizes(
    model: torch.nn.Module, batches: Iterable[Any], names: Sequence[str]
) -> dict[str, int]:
    """Flattened per-sample size of each named layer, from one probe batch.

    Only the first row of the first batch is run, so this is cheap.  Pass a
    re-iterable (or the batch itself in a list): a one-shot iterator loses its
    first batch here.
    """
    first = next(iter(batches), None)
    if first is None:
        raise DataError("no input batches to analyse")
    x = model_input(model, first)[:1]
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
        first, batches, _ = peek(batches)
        sizes = layer_sizes(model, [first], names)
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


@dataclass
class LayerSpectra:
    """Spectra of several layers of one model, in depth (hook) order.

    Attributes
    ----------
    spectra
        ``name -> Eigenspectrum``, ordered from input to output.
    label
        Name of the model (e.g. its dropout rate) when several are compared.
    """

    spectra: dict[str, Eigenspectrum]
    label: str = ""

    def alphas(self) -> dict[str, float | None]:
        """Exponent per layer in depth order (None where the fit failed)."""
        return {n: s.alpha for n, s in self.spectra.items()}

    def to_json(self, spectrum: bool = False) -> dict[str, Any]:
        return {"alpha": self.alphas(),
                "r2": {n: None if s.fit is None else s.fit.r2 for n, s in self.spectra.items()},
                "effective_rank": {n: s.effective_rank for n, s in self.spectra.items()},
                "warnings": {n: list(s.warnings) for n, s in self.spectra.items()},
                "depth": list(self.spectra),
                "layers": {n: s.to_json(spectrum) for n, s in self.spectra.items()}}


def layer_spectra(
    model: Any,
    batches: Iterable[Any],
    hook_names: Iterable[str] | None = None,
    *,
    max_inputs: int | None = None,
    max_dim: int | None = 8000,
    max_components: int = 1000,
    fit_range: FitSpec = SEED_FIT_RANGE,
    memory_budget: int = 1 << 30,
    seed: int = 0,
    cancel: CancelToken | None = None,
    label: str = "",
) -> Job[LayerSpectra]:
    """Per-layer eigenspectra of a model over a dataset, streamed in bounded memory.

    Each layer gets a :class:`CovarianceAccumulator`: its rows held in float32 while
    there are at most ``2 m'`` of them (``4 N m'`` bytes; then exact or randomized by
    shape), else a streamed float64 covariance (``8 m'^2`` bytes).  Layers are packed
    greedily into passes whose accumulators fit in ``memory_budget``; each pass runs the model over all batches again, so
    ``batches`` must be re-iterable (a list, ``TopomapBatches``) for more than
    one pass.  A one-shot iterator gets a single pass whatever the budget.

    Parameters
    ----------
    model
        Hooked model (``run_with_cache``, ``hook_names()``); run in eval mode.
    batches
        Model inputs ``(B, 1, H, W)`` tensors or ``Batch`` objects.
    hook_names
        Layers to analyse; default every hook point of the model.
    max_inputs
        Use at most this many inputs (the first ones the batches give).
    max_dim, max_components, fit_range
        As for :func:`eegmi.analysis.eigenspectrum.eigenspectrum` (``fit_range`` a
        window, ``"auto"`` or a :class:`~eegmi.analysis.powerlaw.FitPolicy`).
    memory_budget
        Bytes of covariance accumulators per pass over the data.
    seed
        Random state of the randomized eigensolver (layers over 2048 kept dimensions).

    Returns
    -------
    Job[LayerSpectra]
        Yields progress in inputs processed over all passes.
    """
    names = list(hook_names) if hook_names is not None else list(model.hook_names())
    if not names:
        raise ConfigError("no layers to analyse")
    first, batches, one_shot = peek(batches)
    sizes = layer_sizes(model, [first], names)
    strides = {n: subsample_stride(m, max_dim) for n, m in sizes.items()}
    per_pass = float(max_inputs or 0)
    if hasattr(batches, "__len__"):
        est = float(len(batches) * len(model_input(None, first)))  # type: ignore[arg-type]
        per_pass = min(per_pass, est) if per_pass else est
    rows = int(per_pass) if per_pass else None
    groups: list[list[str]] = []
    used = memory_budget + 1
    for n in names:
        need = CovarianceAccumulator.nbytes(sizes[n], strides[n], rows)
        if one_shot and groups:
            groups[0].append(n)
        elif used + need > memory_budget:
            groups.append([n])
            used = need
        else:
            groups[-1].append(n)
            used += need
    total = per_pass * len(groups)
    spectra: dict[str, Eigenspectrum] = {}
    for g, group in enumerate(groups):
        # samples up to 2x the kept dims stay raw (float32) and get the route their shape
        # calls for (eigenspectrum.spectrum_of_rows); larger ones fold into a covariance
        accs = {n: CovarianceAccumulator(
            sizes[n], strides[n],
            CovarianceAccumulator.buffer_for(len(range(0, sizes[n], strides[n]))))
            for n in group}
        for done, acts in iter_activations(model, batches, group, max_inputs=max_inputs,
                                           strides=strides, cancel=cancel):
            for n in group:
                accs[n].update(acts[n])
            yield Progress(g * per_pass + done, total, f"pass {g + 1}/{len(groups)}")
        for n in group:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress((g + 1) * per_pass, total, f"eigendecomposition of {n}")
            spectra[n] = accs.pop(n).spectrum(max_components, fit_range, strict=False, seed=seed)
    return LayerSpectra({n: spectra[n] for n in names}, label)
