"""Follow one long job of a panel on the shared model worker.

The worker's signals carry every request of every panel; :class:`JobTracker` keeps
the id of the job its owner started (one at a time) and re-emits only that job's
progress and outcome, with the owner's own label (``what``) and context (``extra``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class JobTracker(QObject):
    """One job at a time through ``session.run_job``.

    Signals
    -------
    progress(float fraction (-1 when unknown), str message)
    finished(str what, object extra, object result)
    failed(str what, str message)
    cancelled(str what)
    """

    progress = Signal(float, str)
    finished = Signal(str, object, object)
    failed = Signal(str, str)
    cancelled = Signal(str)

    def __init__(self, session: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._job: tuple[Any, str, Any] | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(self, factory: Any, what: str, extra: Any = None) -> Any:
        """Submit ``factory(token)`` as a long job labelled ``SAE <what>``; returns its handle."""
        if self._job is not None:
            raise RuntimeError(f"a {self._job[1]} job is still running")
        handle = self.session.submit(factory, f"SAE {what}")
        self._job = (handle, what, extra)
        handle.progress.connect(self._on_progress)
        handle.finished.connect(lambda result: self._end(self.finished, result))
        handle.failed.connect(lambda message: self._end(self.failed, message))
        handle.cancelled.connect(lambda: self._end(self.cancelled))
        return handle

    def cancel(self) -> None:
        if self._job is not None:
            self._job[0].cancel()

    def _on_progress(self, report: Any) -> None:
        frac = report.fraction
        self.progress.emit(-1.0 if frac is None else float(frac), report.message or "")

    def _end(self, signal: Any, *payload: Any) -> None:
        assert self._job is not None
        _, what, extra = self._job
        self._job = None
        if signal is self.finished:
            signal.emit(what, extra, payload[0])
        else:
            signal.emit(what, *payload)
