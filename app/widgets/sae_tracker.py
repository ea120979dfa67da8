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
        self._job: tuple[int, str, Any] | None = None
        w = session.worker
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.progress.connect(self._on_progress)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(self, factory: Any, what: str, extra: Any = None) -> int:
        """Submit ``factory(token)`` as job kind ``sae_<what>``; returns its request id."""
        if self._job is not None:
            raise RuntimeError(f"a {self._job[1]} job is still running")
        rid = self.session.run_job(factory, f"sae_{what}")
        self._job = (rid, what, extra)
        return rid

    def cancel(self) -> None:
        if self._job is not None:
            self.session.worker.cancel(self._job[0])

    def _take(self, rid: int) -> tuple[str, Any] | None:
        if self._job is None or self._job[0] != rid:
            return None
        _, what, extra = self._job
        self._job = None
        return what, extra

    def _on_progress(self, rid: int, _kind: str, report: Any) -> None:
        if self._job is not None and self._job[0] == rid:
            frac = report.fraction
            self.progress.emit(-1.0 if frac is None else float(frac), report.message or "")

    def _on_finished(self, rid: int, _kind: str, result: Any) -> None:
        if (job := self._take(rid)) is not None:
            self.finished.emit(job[0], job[1], result)

    def _on_failed(self, rid: int, _kind: str, message: str) -> None:
        if (job := self._take(rid)) is not None:
            self.failed.emit(job[0], message)

    def _on_cancelled(self, rid: int, _kind: str) -> None:
        if (job := self._take(rid)) is not None:
            self.cancelled.emit(job[0])
