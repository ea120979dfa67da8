"""Common behaviour of panels: the session, and the export hooks every panel has."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget


class Panel(QWidget):
    """Base for panels: subclasses fill :meth:`export_items` and :meth:`state`."""

    title = "Panel"

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dark = False

    def export_items(self) -> dict[str, object]:
        """Numbers behind the view: numpy arrays and JSON-able values."""
        return {}

    def state(self) -> dict:
        """What produced the view (session state plus panel settings)."""
        return dict(self.session.state())

    def set_dark(self, dark: bool) -> None:
        """Theme hook for widgets that paint themselves."""
        self.dark = dark
