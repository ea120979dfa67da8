"""Common behaviour of panels: the session, and the export hooks every panel has.

Two exports exist.  The numbers behind the view (:meth:`Panel.export_items`) and,
for a panel with a publication figure, :meth:`Panel.figure_data` (the numbers the
figure draws) with :meth:`Panel.figure_state` (what produced them, as
:func:`eegmi.figures.panel.figure_state` assembles it): :func:`app.export.export_panel`
hands both to :func:`eegmi.figures.export.write_panel_figure`, and ``eegmi figures
--from STATE.json`` re-renders the same figure headless.  A panel without a figure
keeps the defaults below, which say so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QWidget

from eegmi.errors import ConfigError


def forward_pending(session: Any, result: Any) -> str:
    """"" when ``result`` (a ForwardResult a panel shows) is the forward pass of the
    session's current input; else why not (the figure would mix two inputs)."""
    if result is None:
        return "waiting for the first forward pass"
    values = getattr(result, "values", None)
    if values is None or not np.array_equal(np.asarray(values, dtype=np.float32),
                                            np.asarray(session.values, dtype=np.float32)):
        return "waiting for the forward pass of the current input"
    return ""


class NoFigure(ConfigError):
    """A panel that has no publication figure (yet)."""


class Panel(QWidget):
    """Base for panels: subclasses fill :meth:`export_items` and :meth:`state`, and a panel
    with a figure :meth:`figure_data` and :meth:`figure_state`."""

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

    def holds_result(self) -> bool:
        """True while the panel shows the result of an analysis job (lost on quitting)."""
        return self.state().get("analysis") is not None

    # -- the publication figure ------------------------------------------------------
    def has_figure(self) -> bool:
        """True when this panel overrides :meth:`figure_state` (it exports a figure)."""
        return type(self).figure_state is not Panel.figure_state

    def figure_data(self) -> dict[str, Any]:
        """The numbers the panel's figure draws (what the view shows), by the figure
        module's keys (:mod:`eegmi.figures.panels`)."""
        raise NoFigure(f"the {self.title} panel has no figure export yet "
                       "(use File › Export panel › Screenshot)")

    def figure_state(self) -> dict[str, Any]:
        """The figure state (``eegmi.figures.panel.figure_state(...)``) of the view."""
        raise NoFigure(f"the {self.title} panel has no figure export yet "
                       "(use File › Export panel › Screenshot)")

    def figure_pending(self) -> str:
        """Why the view is still catching up (a forward pass, a decode), or ""."""
        return ""

    def set_dark(self, dark: bool) -> None:
        """Theme hook for widgets that paint themselves."""
        self.dark = dark
