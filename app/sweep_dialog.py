"""File › Open sweep…: a sweep's table, each trial one row, and Open to load a trial.

The table is :func:`eegmi.sweep.table.read_sweep` of the folder (JSON files only, no
torch on the GUI thread) with the CLI's columns (:func:`eegmi.sweep.table.columns`):
state, epochs, validation and test figures, α per layer and the pick & interpolate
figures when the spec asked for them.  Open (or a double click) loads the selected
trial's checkpoint as the workbench's model, the same as the model box's
"(sweep NAME) TRIAL" entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: states whose folder holds a model card (an interrupted run keeps its last best epoch)
OPENABLE = ("done", "trained", "partial", "failed")


def sweep_title(sweep: str, trial: str) -> str:
    """How a sweep's trial is named in the model box: ``"(sweep NAME) TRIAL"``."""
    return f"(sweep {sweep}) {trial}"


def openable(row: dict[str, Any]) -> bool:
    """A trial with a checkpoint to load (a train run's card, an SAE has no model)."""
    return (row.get("kind") == "train" and row.get("state") in OPENABLE
            and (Path(row["path"]) / "model.json").is_file())


class SweepDialog(QDialog):
    """The table of one sweep folder.

    Parameters
    ----------
    folder
        The sweep folder (``plan.json`` inside).
    open_model
        Called with a trial's checkpoint folder when the user opens it.
    """

    def __init__(self, folder: str | Path, open_model: Callable[[str], Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self._open_model = open_model
        self.table_data: dict[str, Any] = {}
        self.rows_data: list[dict[str, Any]] = []
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("load the selected trial as the workbench's model")
        self.open_button.clicked.connect(self.open_selected)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("read the sweep folder again (a sweep still running)")
        self.reload_button.clicked.connect(self.reload)
        close = QPushButton("Close")
        close.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.reload_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.resize(1000, 360)
        self.reload()

    @property
    def name(self) -> str:
        return str(self.table_data.get("sweep", self.folder.name))

    def reload(self) -> None:
        """Read the folder's table again (raises ``ConfigError`` for a non-sweep folder)."""
        from eegmi.sweep.table import columns, read_sweep

        self.table_data = read_sweep(self.folder)
        self.rows_data = list(self.table_data["trials"])
        cols = columns(self.table_data)
        self.setWindowTitle(f"Sweep {self.name}")
        self.table.clear()
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(len(self.rows_data))
        self.table.setHorizontalHeaderLabels([head for head, _ in cols])
        for i, row in enumerate(self.rows_data):
            for j, (_, get) in enumerate(cols):
                item = QTableWidgetItem(str(get(row)))
                if row.get("error"):
                    item.setToolTip(row["error"])
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.table_data["counts"].items()))
        self.summary.setText(f"{self.folder}: {len(self.rows_data)} trials ({counts}). "
                             "Validation figures are the epoch each run kept; test figures "
                             "were scored once, when the run ended.")
        self._selection_changed()

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (what a user reads)."""
        return [tuple(self.table.item(i, j).text() for j in range(self.table.columnCount()))
                for i in range(self.table.rowCount())]

    def select(self, trial_id: str) -> None:
        """Select a trial's row by its id."""
        for i, row in enumerate(self.rows_data):
            if row["id"] == trial_id:
                self.table.selectRow(i)
                return
        raise KeyError(trial_id)

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _selection_changed(self) -> None:
        i = self.selected_row()
        self.open_button.setEnabled(i is not None and openable(self.rows_data[i]))

    def open_selected(self) -> None:
        i = self.selected_row()
        if i is not None:
            self.open_row(i)

    def open_row(self, i: int) -> None:
        """Load row ``i``'s trial as the model (a trial without a checkpoint is ignored)."""
        row = self.rows_data[i]
        if openable(row):
            self._open_model(row["path"])
