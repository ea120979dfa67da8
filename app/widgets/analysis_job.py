"""Run / Cancel / progress strip for one long analysis job on the model worker.

A panel hands :meth:`JobControl.start` a job factory (``token -> generator``); the
strip submits it with ``session.submit``, follows the returned
:class:`app.jobs.JobHandle` (whose signals concern that job only), shows its
progress reports and re-emits the outcome as ``done(result)``, ``failed(message)``
or ``cancelled()``. It never touches the job's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from app.jobs import JobHandle


class JobControl(QtWidgets.QWidget):
    """A Run button, a Cancel button, a progress bar and a status line.

    Parameters
    ----------
    session
        ``app.session.Session`` (``submit``).
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
        self.handle: JobHandle | None = None
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

    @property
    def running(self) -> bool:
        """True while this strip's job is queued or running."""
        return self.handle is not None and self.handle.active

    def start(self, gen_factory: Callable[[Any], Any], label: str, message: str = "") -> JobHandle:
        """Submit ``gen_factory(token)`` as a long job (a running one is cancelled first)."""
        if self.handle is not None:
            self.handle.cancel()
        handle = self.session.submit(gen_factory, label)
        self.handle = handle
        handle.progress.connect(lambda report, h=handle: self._on_progress(h, report))
        handle.finished.connect(lambda result, h=handle: self._on_finished(h, result))
        handle.failed.connect(lambda message, h=handle: self._on_failed(h, message))
        handle.cancelled.connect(lambda h=handle: self._on_cancelled(h))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)  # busy until the first report says how far it is
        self.status.setText(message or f"{label}: queued")
        return handle

    def cancel(self) -> bool:
        """Cancel this strip's job (it stops at its next progress report)."""
        if self.handle is None or not self.handle.active:
            return False
        self.status.setText("cancelling…")
        return self.handle.cancel()

    def _finish(self, text: str) -> None:
        self.handle = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1000)
        self.status.setText(text)

    def _on_finished(self, handle: JobHandle, result: Any) -> None:
        if handle is not self.handle:
            return  # a job this strip replaced
        self._finish("done")
        self.bar.setValue(1000)
        self.done.emit(result)

    def _on_failed(self, handle: JobHandle, message: str) -> None:
        if handle is not self.handle:
            return
        self.last_error = message
        self._finish(f"failed: {message}")
        self.bar.setValue(0)
        self.failed.emit(message)

    def _on_cancelled(self, handle: JobHandle) -> None:
        if handle is not self.handle:
            return
        self._finish("cancelled")
        self.bar.setValue(0)
        self.cancelled.emit()

    def _on_progress(self, handle: JobHandle, report: Any) -> None:
        if handle is not self.handle:
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
