"""The activations panel's publication figure (:mod:`eegmi.figures.panels.activations`):
every checked layer, scrolled into view or not."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.panels.base import forward_pending


class ActivationsFigureMixin:
    """``figure_layers``/``figure_pending``/``figure_data``/``figure_state`` of the
    activations panel (it provides ``shown_arrays``, ``visible_layers``, the
    ``shared_scale`` and ``difference`` boxes, ``result``, ``_baseline``, ``session``)."""

    result: Any
    session: Any
    title: str
    shared_scale: Any
    difference: Any
    _baseline: Any
    shown_arrays: Any  # () -> {layer: array}, the panel's method
    visible_layers: Any  # () -> [layer], the panel's method

    def figure_layers(self) -> list[str]:
        """The layers the figure draws: every checked layer with an array, scrolled into
        view or not."""
        shown = self.shown_arrays()
        return [n for n in self.visible_layers() if n in shown]

    def figure_pending(self) -> str:
        if self.result is None:
            return ""  # between a model switch and its first result: an empty figure
        if self.difference.isChecked() and not self._baseline:
            return "waiting for the baseline input's forward pass"
        return forward_pending(self.session, self.result)

    def figure_data(self) -> dict[str, Any]:
        """Every checked layer's array (minus the baseline in difference mode) and its
        symmetric colour limits (one range for all with the shared scale)."""
        from eegmi.figures.panels.activations import data_from

        return data_from(self.shown_arrays(), self.figure_layers(), self.shared_scale.isChecked())

    def figure_state(self) -> dict[str, Any]:
        from eegmi.figures.panel import figure_state
        from eegmi.figures.panels.activations import default_height

        shown = self.shown_arrays()
        layers = self.figure_layers()
        view = {"layers": layers, "shared_scale": self.shared_scale.isChecked(),
                "difference": self.difference.isChecked()}
        height = default_height([np.shape(shown[n]) for n in layers]) if layers else 3.0
        return figure_state("activations", self.title, self.session.state(), None, view,
                            {"width_in": 7.0, "height_in": height})
