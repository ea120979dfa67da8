"""One epoch of optimisation steps, batch by batch, with run-wide progress reports.

:func:`train_steps` takes one optimiser step per batch and yields the count done, so
the training loop (:mod:`eegmi.training.loop`) can report, pause and cancel between
batches; :func:`train_epoch` runs a whole pass (benchmarks, tests).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import torch

from eegmi.jobs import CancelToken, Progress, format_eta
from eegmi.models.hooks import HookedModel, model_input
from eegmi.training.evaluation import vae_loss


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


def batch_reports(steps: Generator[int, None, float], clock: Eta, epoch: int, epochs: int,
                   per_epoch: int) -> Generator[Progress, None, float]:
    """Re-emit ``train_steps``' batch counts as run-wide reports; returns its mean loss."""
    base, total = (epoch - 1) * per_epoch, epochs * per_epoch
    while True:
        try:
            b = next(steps)
        except StopIteration as stop:
            return float(stop.value)
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
    model.train()
    total, count = 0.0, 0
    for i, batch in enumerate(batches):
        if cancel is not None:
            cancel.raise_if_cancelled()
        device_type = batch.target.device.type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=amp):
            outp = model(model_input(model, batch))
            loss, _, _ = vae_loss(outp, batch.target, mask, beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * batch.target.shape[0]
        count += batch.target.shape[0]
        yield i + 1
    return total / max(count, 1)
