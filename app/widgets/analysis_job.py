"""Run / Cancel / progress strip for one long analysis job on the model worker.

A panel hands :meth:`JobControl.start` a job factory (``token -> generator``);
the strip submits it through ``session.run_job``, follows only its own request
id on the worker's signals (several panels share one worker), shows the
progress reports and re-emits the outcome as ``done(result)``,
``failed(message)`` or ``cancelled()``.  It never touches the job's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets


class JobControl(QtWidgets.QWidget):
    """A Run button, a Cancel button, a progress bar and a status line.

    Parameters
    ----------
    session
        ``app.session.Session`` (``run_job``, ``worker``).
    run_text
        Label of the run button.

    Signals
    -------
    run_clicked(), done(object result), failed(str), cancelled(), progressed(float, str)
    """

    run_clicked = QtCore.Signal()
    done = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    progressed = QtCore.Signal(float, str)

    def __init__(self, session: Any, run_text: str = "Run",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.request_id: int | None = None
        self.kind = ""
        self.last_error = ""
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.run_button = QtWidgets.QPushButton(run_text)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.status = QtWidgets.QLabel("")
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.run_button)
        lay.addWidget(self.cancel_button)
        lay.addWidget(self.bar)
        lay.addWidget(self.status, 1)
        self.run_button.clicked.connect(self.run_clicked)
        self.cancel_button.clicked.connect(self.cancel)
        worker = session.worker
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.progress.connect(self._on_progress)
        worker.cancelled.connect(self._on_cancelled)

    @property
    def running(self) -> bool:
        """True while this strip's job is queued or running."""
        return self.request_id is not None

    def start(self, gen_factory: Callable[[Any], Any], kind: str, message: str = "") -> int:
        """Submit ``gen_factory(token)`` as a long job; returns the request id."""
        if self.request_id is not None:
            self.session.worker.cancel(self.request_id)
        self.kind = kind
        self.request_id = self.session.run_job(gen_factory, kind)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)  # busy until the first report says how far it is
        self.status.setText(message or f"{kind.replace('_', ' ')}: queued")
        return self.request_id

    def cancel(self) -> bool:
        """Ask the worker to stop this job (it stops at its next progress report)."""
        if self.request_id is None:
            return False
        self.status.setText("cancelling…")
        return bool(self.session.worker.cancel(self.request_id))

    def _finish(self, text: str) -> None:
        self.request_id = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1000)
        self.status.setText(text)

    def _on_finished(self, rid: int, _kind: str, result: Any) -> None:
        if rid != self.request_id:
            return
        self._finish("done")
        self.bar.setValue(1000)
        self.done.emit(result)

    def _on_failed(self, rid: int, _kind: str, message: str) -> None:
        if rid != self.request_id:
            return
        self.last_error = message
        self._finish(f"failed: {message}")
        self.bar.setValue(0)
        self.failed.emit(message)

    def _on_cancelled(self, rid: int, _kind: str) -> None:
        if rid != self.request_id:
            return
        self._finish("cancelled")
        self.bar.setValue(0)
        self.cancelled.emit()

    def _on_progress(self, rid: int, _kind: str, report: Any) -> None:
        if rid != self.request_id:
            return
        frac = getattr(report, "fraction", None)
        msg = str(getattr(report, "message", "") or "")
        if frac is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(1000 * min(max(float(frac), 0.0), 1.0))))
        self.status.setText(msg)
        self.progressed.emit(-1.0 if frac is None else float(frac), msg)
