"""One epoch of optimisation steps, batch by batch, with run-wide progress reports.

:func:`train_steps` takes one optimiser step per batch and yields the count done, so
the training loop (:mod:`eegmi.training.loop`) can report, pause and cancel between
batches; :func:`train_epoch` runs a whole pass (benchmarks, tests).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

import torch
from torch.nn.parallel import DistributedDataParallel

from eegmi.jobs import CancelToken, Progress, format_eta
from eegmi.models.hooks import HookedModel, model_input
from eegmi.training.distributed import Share
from eegmi.training.evaluation import vae_loss

T = TypeVar("T")


class Eta:
    """Seconds left from the measured time per batch of this invocation."""

    def __init__(self, done: int, total: int) -> None:
        self.first, self.total, self.done = done, total, done
        self.t0 = time.monotonic()
        self.eta_s: float | None = None

    def mark(self, done: int) -> float | None:
        self.done = done
        ran = done - self.first
        if ran > 0:
            self.eta_s = (time.monotonic() - self.t0) / ran * (self.total - done)
        return self.eta_s

    def text(self) -> str:
        return "" if self.eta_s is None else f", ETA {format_eta(self.eta_s)}"


def batch_reports(steps: Generator[int, None, T], clock: Eta, epoch: int, epochs: int,
                   per_epoch: int) -> Generator[Progress, None, T]:
    """Re-emit ``train_steps``' batch counts as run-wide reports; returns what it returns
    (the mean loss, or ``train_sums``' loss sum and count)."""
    base, total = (epoch - 1) * per_epoch, epochs * per_epoch
    while True:
        try:
            b = next(steps)
        except StopIteration as stop:
            return stop.value
        eta = clock.mark(base + b)
        yield Progress(base + b, total, f"epoch {epoch}/{epochs} batch {b}/{per_epoch}"
                       f"{clock.text()}", payload={"batch": b, "batches": per_epoch,
                                                   "eta_s": eta})


def validation_reports(steps: Generator[int, None, dict[str, float]], clock: Eta, epoch: int,
                       epochs: int, per_epoch: int, n_val: int
                       ) -> Generator[Progress, None, dict[str, float]]:
    """Re-emit the validation pass's batch counts as reports at the epoch's end (the
    run-wide fraction stays there), so a pause or cancel acts within a batch there too;
    returns the validation metrics."""
    done = epoch * per_epoch
    while True:
        try:
            b = next(steps)
        except StopIteration as stop:
            return dict(stop.value)
        yield Progress(done, epochs * per_epoch,
                       f"epoch {epoch}/{epochs} validation batch {b}/{n_val}{clock.text()}",
                       payload={"validation_batch": b, "validation_batches": n_val,
                                "eta_s": clock.eta_s})


class Checked:
    """``batches`` with the cancel token checked before each one (other attributes, such
    as ``indices``, are the wrapped object's)."""

    def __init__(self, batches: Any, cancel: CancelToken | None) -> None:
        self.batches, self.cancel = batches, cancel

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches:
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            yield batch

    def __len__(self) -> int:
        return len(self.batches)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.batches, name)


def train_epoch(model: HookedModel, batches: Any, opt: torch.optim.Optimizer,
                mask: torch.Tensor | None, beta: float, amp: bool = False,
                cancel: CancelToken | None = None) -> float:
    """One pass over ``batches`` (anything yielding ``Batch``); returns the mean loss."""
    steps = train_steps(model, batches, opt, mask, beta, amp, cancel)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return float(stop.value)


def train_steps(model: HookedModel, batches: Any, opt: torch.optim.Optimizer,
                mask: torch.Tensor | None, beta: float, amp: bool = False,
                cancel: CancelToken | None = None) -> Generator[int, None, float]:
    """:func:`train_epoch` one batch at a time: yields the number of batches done after
    each optimizer step (cancel is checked before each); returns the mean loss."""
    total, count = yield from train_sums(model, batches, opt, mask, beta, amp, cancel)
    return total / max(count, 1)


def train_sums(model: torch.nn.Module, batches: Any, opt: torch.optim.Optimizer,
               mask: torch.Tensor | None, beta: float, amp: bool = False,
               cancel: CancelToken | None = None) -> Generator[int, None, tuple[float, int]]:
    """:func:`train_steps` returning ``(loss sum over frames, frames)``, so ranks can add
    theirs up.  ``model`` may be DDP-wrapped; ``batches`` may yield
    :class:`~eegmi.training.distributed.Share` items (their loss weighted by ``scale``
    for the gradient, counted ``n`` times in the sums)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    model.train()
    total, count = 0.0, 0
    for i, item in enumerate(batches):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if isinstance(item, Share):
            batch, n, scale = item.batch, item.n, item.scale
        else:
            batch, n, scale = item, item.target.shape[0], None
        device_type = batch.target.device.type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=amp):
            outp = model(model_input(inner, batch))
            loss, _, _ = vae_loss(outp, batch.target, mask, beta)
        opt.zero_grad(set_to_none=True)
        (loss if scale is None else loss * scale).backward()
        opt.step()
        total += float(loss.detach()) * n
        count += n
        yield i + 1
    return total, count
