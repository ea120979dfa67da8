"""Job handles: what :meth:`app.worker.ModelWorker.submit` returns.

Every request on the model worker (a forward pass, a model load, a long analysis,
a training run) gets its own :class:`JobHandle`, a QObject on the GUI thread whose
signals concern that request only. Whoever submitted the work connects to its
handle; nobody filters a shared signal by request id. Cancel and pause go through
the handle too, so there is one cancel story for every job.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from app.worker import ModelWorker

#: states a handle moves through; the last three are final
STATES = ("queued", "running", "paused", "finished", "failed", "cancelled")
FINAL = frozenset({"finished", "failed", "cancelled"})


class JobHandle(QObject):
    """One request on the model worker.

    Attributes
    ----------
    id : int
        Request number (increasing in submission order).
    label : str
        What the job does, for status lines ("spectra E3", "load model E3").
    interactive : bool
        A latest-wins request (forward pass, decode): its progress and failures go
        to the status bar only, never a dialog.
    state : str
        One of :data:`STATES`.
    result, error, traceback
        The outcome once final (``error`` is the one-line message).

    Signals
    -------
    started(), progress(Progress), paused(), finished(object result), failed(str message),
    cancelled(), ended() (after any of the last three)
    """

    started = Signal()
    progress = Signal(object)
    paused = Signal()
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, worker: ModelWorker, rid: int, label: str, interactive: bool,
                 pausable: bool) -> None:
        # no Qt parent: the worker holds the handle until its request ends, then only
        # whoever submitted it does (a parent would keep every handle alive forever)
        super().__init__()
        self._worker = worker
        self.id = rid
        self.label = label
        self.interactive = interactive
        self.pausable = pausable
        self.state = "queued"
        self.result: Any = None
        self.error = ""
        self.traceback = ""
        self.last_progress: Any = None

    # -- control (GUI thread) -------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once finished, failed or cancelled."""
        return self.state in FINAL

    @property
    def active(self) -> bool:
        """True while queued, running or paused."""
        return not self.done

    def cancel(self) -> bool:
        """Cancel the job (queued or paused: at once; running: at its next progress
        report). True when it was still active."""
        if self.done:
            return False
        return self._worker.cancel(self)

    def pause(self) -> bool:
        """Park a long job at its next progress report; the worker serves other
        requests meanwhile. True when the job can pause and was active."""
        if self.done or not self.pausable:
            return False
        return self._worker.pause(self)

    def resume(self) -> bool:
        """Continue a paused job (queued again ahead of other long jobs)."""
        if self.state != "paused" and not self._worker.pause_requested(self):
            return False
        return self._worker.resume(self)

    # -- delivery (called by the worker on the GUI thread) ------------------------------
    def _deliver(self, what: str, payload: Any) -> None:
        if what == "started":
            self.state = "running"
            self.started.emit()
        elif what == "progress":
            self.last_progress = payload
            self.progress.emit(payload)
        elif what == "paused":
            self.state = "paused"
            self.paused.emit()
        elif what == "finished":
            self.state, self.result = "finished", payload
            self.finished.emit(payload)
            self._end()
        elif what == "failed":
            self.state = "failed"
            self.error, self.traceback = payload
            self.failed.emit(self.error)
            self._end()
        elif what == "cancelled":
            self.state = "cancelled"
            self.cancelled.emit()
            self._end()

    def _end(self) -> None:
        self.ended.emit()
        # Slots often keep their handle (``lambda r, h=handle: ...``): Qt holds those
        # slots for as long as the handle lives, and the handle lives as long as its
        # slots, a cycle Python's collector cannot see into. Every handle (and its
        # result) stayed alive (~150 MB per 1000 GUI actions in the soak). Nothing is
        # emitted after the end, so the connections can go.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a signal nobody connected
            for signal in (self.started, self.progress, self.paused, self.finished,
                           self.failed, self.cancelled, self.ended):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass

    def __repr__(self) -> str:
        return f"JobHandle({self.id}, {self.label!r}, {self.state})"
