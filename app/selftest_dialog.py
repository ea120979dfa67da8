"""Help › Check the tools: the self-test (``eegmi selftest``) as a long job, its table
in a dialog.

The families to run and the quick switch are chosen here; Run submits
:func:`eegmi.selftest.run.run_selftest` to the model worker through a
:class:`~app.widgets.analysis_job.JobControl` (progress bar, Cancel), and the
rows fill a table: analysis, case, score, bar, pass/fail.  Closing the dialog
cancels a run in progress.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.widgets.analysis_job import JobControl
from eegmi.selftest.run import FAMILIES, SelftestResult, format_score

COLUMNS = ("Analysis", "Case", "Score", "Bar", "Result")
FAMILY_TITLES = {"pick": "Pick & interpolate", "spectra": "Eigenspectra",
                 "sanity": "Saliency sanity", "sae": "Sparse autoencoders"}


def selftest_job(quick: bool, only: list[str]) -> Any:
    """Job factory for the worker (``token -> generator``); runs on the worker thread."""
    from eegmi.selftest.run import run_selftest

    return lambda token: run_selftest(quick=quick, only=only, cancel=token)


class SelftestDialog(QtWidgets.QDialog):
    """Family switches, Run/Cancel/progress, and the table of checks.

    Attributes
    ----------
    result
        The last finished :class:`SelftestResult`, or None.
    """

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Check the tools")
        self.setObjectName("selftest_dialog")
        self.result: SelftestResult | None = None
        lay = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel(
            "Runs every analysis on inputs whose answer is known (planted ground truths) and "
            "on controls that must fail. A row passes when its score meets its bar.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QtWidgets.QHBoxLayout()
        self.family_boxes: dict[str, QtWidgets.QCheckBox] = {}
        for name in FAMILIES:
            box = QtWidgets.QCheckBox(FAMILY_TITLES.get(name, name))
            box.setChecked(True)
            box.toggled.connect(self._update_run_enabled)
            self.family_boxes[name] = box
            row.addWidget(box)
        row.addStretch(1)
        self.quick_box = QtWidgets.QCheckBox("Quick")
        self.quick_box.setToolTip("small, fast variants of every case (as the test suite runs)")
        row.addWidget(self.quick_box)
        lay.addLayout(row)
        self.job = JobControl(session, "Run")
        self.job.run_clicked.connect(self.run)
        self.job.done.connect(self._show)
        lay.addWidget(self.job)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        self.resize(1000, 480)

    def chosen(self) -> list[str]:
        """The families ticked, in run order."""
        return [name for name, box in self.family_boxes.items() if box.isChecked()]

    def run(self) -> int | None:
        """Start the self-test of the ticked families; returns the worker request id."""
        only = self.chosen()
        if not only:
            return None
        self.summary.setText("")
        return self.job.start(selftest_job(self.quick_box.isChecked(), only), "selftest",
                              "self-test: queued")

    def _update_run_enabled(self) -> None:
        if not self.job.running:
            self.job.run_button.setEnabled(bool(self.chosen()))

    def _show(self, result: SelftestResult) -> None:
        self.result = result
        self.table.setRowCount(len(result.checks))
        bad = QtGui.QColor(200, 40, 40)
        good = QtGui.QColor(30, 140, 60)
        for i, c in enumerate(result.checks):
            cells = (c.analysis, c.case, format_score(c.score), c.bar,
                     "pass" if c.passed else "FAIL")
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if c.detail:
                    item.setToolTip(c.detail)
                if j == 2:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                          | QtCore.Qt.AlignmentFlag.AlignVCenter)
                if j == 4:
                    item.setForeground(good if c.passed else bad)
                self.table.setItem(i, j, item)
        self.summary.setText(result.summary())

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for export and tests)."""
        return [tuple(self.table.item(i, j).text() for j in range(len(COLUMNS)))
                for i in range(self.table.rowCount())]

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.job.cancel()
        super().closeEvent(event)

    def reject(self) -> None:  # Escape closes the dialog: stop the run too
        self.job.cancel()
        super().reject()
