"""Progress reporting and cancellation shared by the CLI and the GUI worker.

Long work is written as a generator that yields :class:`Progress` reports and
finally returns its result (``return value`` inside the generator).  The CLI
drives it with :func:`run_job` and a progress bar; the GUI worker drives the
same generator on its thread and forwards each report as a signal.  A job stops
at its next ``yield`` once its :class:`CancelToken` is set.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eegmi.errors import Cancelled

T = TypeVar("T")


@dataclass
class Progress:
    """One progress report.

    Attributes
    ----------
    done, total
        Units of work finished and expected (``total`` 0 when unknown).
    message
        Short human-readable stage description.
    payload
        Optional data for live views (for example a dict of metric values).
    keep
        The report carries a record a live view must not miss (a training epoch's
        metrics); reports without it may be thinned to the display rate.
    """

    done: float
    total: float = 0.0
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    keep: bool = False

    @property
    def fraction(self) -> float | None:
        """Fraction finished in [0, 1], or None when the total is unknown."""
        if self.total <= 0:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


def format_eta(seconds: float) -> str:
    """Time left for a progress line: ``"1h02m"``, ``"3m05s"`` or ``"12s"``."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class CancelToken:
    """A thread-safe flag a job polls between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


Job = Generator[Progress, None, T]


def run_job(
    job: Job[T],
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> T:
    """Drive a job generator to completion and return its result.

    Raises
    ------
    Cancelled
        If ``cancel`` was set; the generator is closed so its ``finally`` blocks run.
    """
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                job.close()
                raise Cancelled()
            report = next(job)
            if on_progress is not None:
                on_progress(report)
    except StopIteration as stop:
        return stop.value


class ProgressBar:
    """A plain single-line progress bar on stderr for the CLI (silent when not a TTY
    unless ``force`` is set, so ``--json`` output and logs stay clean)."""

    def __init__(self, label: str = "", stream: Any = None, force: bool = False) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (p.fraction or 0) < 1:
            return
        self._last = now
        frac = p.fraction
        if frac is None:
            bar = f"{p.done:g}"
        else:
            n = int(frac * 30)
            bar = "[" + "#" * n + "." * (30 - n) + f"] {100 * frac:5.1f}%"
        self.stream.write(f"\r{self.label} {bar} {p.message}"[:120].ljust(120))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run_with_bar(job: Job[T], label: str) -> T:
    """Drive a job in the CLI with a :class:`ProgressBar` on stderr; returns its result."""
    bar = ProgressBar(label)
    try:
        return run_job(job, on_progress=bar)
    finally:
        bar.close()


def scaled_progress(job: Job[T], lo: float, hi: float, label: str) -> Job[T]:
    """Run ``job`` as one part of a longer one: its progress re-emitted into the fraction
    ``[lo, hi]`` of the whole, each message prefixed with ``label``; returns its result."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        frac = p.fraction or 0.0
        yield Progress(lo + (hi - lo) * frac, 1.0, f"{label}: {p.message}")
