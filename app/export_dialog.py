"""The dialog behind File > Export panel…: which panel, where, formats, figure size and DPI.

A panel with a publication figure is rendered from its data (:mod:`app.export`): the
size is the figure's, in pixels at the chosen DPI (the label beside it gives the
inches; vector formats have the same size in inches), 0 x 0 meaning the panel's
default figure size.  "Screenshot of the panel" grabs the widget as drawn instead
(the only export of a panel without a figure; its size is then the PNG's pixels, 0 x 0
the on-screen size).
"""

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
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.export import FORMATS, has_figure

DEFAULT_DPI = 300


class ExportDialog(QDialog):
    """Choose a panel, an output base path, formats, figure size and DPI (or a screenshot)."""

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
            box.setRange(0, 20000)
            box.setSuffix(" px")
            box.setSpecialValueText("default")
        self.dpi = QSpinBox()
        self.dpi.setRange(50, 1200)
        self.dpi.setValue(DEFAULT_DPI)
        self.inches = QLabel("")
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        size_row.addWidget(self.inches, 1)
        self.screenshot = QCheckBox("Screenshot of the panel (the widget as drawn, not a figure)")
        self.screenshot.setToolTip("Grab the panel's widgets instead of rendering its figure "
                                   "from its data; size is then the PNG's pixels")
        self.kind = QLabel("")
        form = QFormLayout(self)
        form.addRow("Panel", self.panel_box)
        form.addRow("", self.kind)
        form.addRow("File (no extension)", path_row)
        form.addRow("Formats", fmt_row)
        form.addRow("Figure size (w × h)", size_row)
        form.addRow("DPI", self.dpi)
        form.addRow("", self.screenshot)
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
        for box in (self.width_box, self.height_box, self.dpi):
            box.valueChanged.connect(self._update_size_text)
        self.screenshot.toggled.connect(self._update_size_text)
        self.panel_box.currentTextChanged.connect(self._on_panel)
        self._on_panel(self.panel_box.currentText())

    def _on_panel(self, name: str) -> None:
        panel = self.panels.get(name)
        figure = panel is not None and has_figure(panel)
        self.screenshot.setEnabled(figure)
        if not figure:
            self.screenshot.setChecked(True)
        self.kind.setText("figure rendered from the panel's data" if figure
                          else "no figure for this panel: a screenshot of the widget")
        self._update_size_text()

    def _update_size_text(self, *_args: object) -> None:
        w, h, dpi = self.width_box.value(), self.height_box.value(), self.dpi.value()
        if self.screenshot.isChecked():
            self.inches.setText("PNG pixels" if w and h else "on-screen size")
        elif w and h:
            self.inches.setText(f"= {w / dpi:.2f} × {h / dpi:.2f} in at {dpi} dpi")
        else:
            self.inches.setText("the panel's default figure size")

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
            "screenshot": self.screenshot.isChecked(),
        }
