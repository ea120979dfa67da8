"""Light and dark themes: a Qt palette plus pyqtgraph background/foreground."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEMES = ("light", "dark")


def _dark_palette() -> QPalette:
    pal = QPalette()
    base, alt, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(222, 222, 222)
    for role, color in (
        (QPalette.ColorRole.Window, alt), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, alt),
        (QPalette.ColorRole.ToolTipBase, alt), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, alt),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 80, 80)),
        (QPalette.ColorRole.Highlight, QColor(42, 130, 218)),
        (QPalette.ColorRole.HighlightedText, QColor(0, 0, 0)),
    ):
        pal.setColor(role, color)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(120, 120, 120))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(120, 120, 120))
    return pal


def apply_theme(name: str, root: QWidget | None = None) -> None:
    """Switch the application palette and recolour every pyqtgraph view under ``root``."""
    if name not in THEMES:
        raise ValueError(f"theme must be one of {THEMES}, not {name!r}")
    dark = name == "dark"
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    bg, fg = ("#1e1f22", "#dddddd") if dark else ("w", "k")
    pg.setConfigOption("background", bg)
    pg.setConfigOption("foreground", fg)
    if root is None:
        return
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(bg)
    for item_owner in root.findChildren(pg.GraphicsView):
        for item in item_owner.scene().items():
            if isinstance(item, pg.AxisItem):
                item.setPen(fg)
                item.setTextPen(fg)
            elif isinstance(item, pg.LabelItem):
                item.setText(item.text, color=fg)
    for panel in root.findChildren(QWidget):
        hook = getattr(panel, "set_dark", None)
        if callable(hook) and hasattr(panel, "export_items"):
            hook(dark)
