"""The dialog behind File > Export panel…: which panel, where, formats, PNG size and DPI."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.export import FORMATS


class ExportDialog(QDialog):
    """Choose a panel, an output base path, formats, PNG size and DPI."""

    def __init__(self, panels: dict[str, QWidget], current: str | None = None,
                 directory: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export panel")
        self.panels = panels
        self.panel_box = QComboBox()
        self.panel_box.addItems(list(panels))
        if current in panels:
            self.panel_box.setCurrentText(current)
        self.path = QLineEdit(str(Path(directory or ".") / "figure"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        self.checks = {f: QCheckBox(f.upper()) for f in FORMATS}
        fmt_row = QHBoxLayout()
        for c in self.checks.values():
            c.setChecked(True)
            fmt_row.addWidget(c)
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box in (self.width_box, self.height_box):
            box.setRange(0, 10000)
            box.setSpecialValueText("as shown")
        self.dpi = QSpinBox()
        self.dpi.setRange(50, 1200)
        self.dpi.setValue(150)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(self.height_box)
        form = QFormLayout(self)
        form.addRow("Panel", self.panel_box)
        form.addRow("File (no extension)", path_row)
        form.addRow("Formats", fmt_row)
        form.addRow("PNG size (w × h)", size_row)
        form.addRow("DPI", self.dpi)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        # nothing to write without a format or a file name: OK waits for both
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        for c in self.checks.values():
            c.toggled.connect(self._update_ok)
        self.path.textChanged.connect(self._update_ok)

    def _update_ok(self, *_args: object) -> None:
        ready = any(c.isChecked() for c in self.checks.values()) and bool(self.path.text().strip())
        self.ok_button.setEnabled(ready)
        self.ok_button.setToolTip("" if ready else "choose at least one format and a file name")

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text())
        if name:
            self.path.setText(name)

    def options(self) -> dict:
        """Keyword arguments for :func:`app.export.export_panel` (plus ``panel``)."""
        w, h = self.width_box.value(), self.height_box.value()
        return {
            "panel": self.panels[self.panel_box.currentText()],
            "path_base": self.path.text(),
            "formats": [f for f, c in self.checks.items() if c.isChecked()],
            "size": (w, h) if w and h else None,
            "dpi": self.dpi.value(),
        }
