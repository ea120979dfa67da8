"""Reconstruction panel: clean input, model output and their difference, with MSE/SSIM."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.panels.base import Panel, forward_pending
from app.widgets.image_view import TopoImagePlot, make_layout
from app.widgets.scalp_map import head_geometry
from eegmi.figures.panels.scalp import input_levels

DIFF_LEVELS = (-0.5, 0.5)


class ReconstructionPanel(Panel):
    """Input | output | output - input for the current forward pass."""

    title = "Reconstruction"

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.view = make_layout()
        self.input_plot = TopoImagePlot(self.view, "Input", col=0, colorbar=False)
        self.output_plot = TopoImagePlot(self.view, "Output", col=1)
        self.diff_plot = TopoImagePlot(self.view, "Output − input", col=3, levels=DIFF_LEVELS,
                                       cmap="CET-D1")
        self.metrics = QLabel("no model loaded")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.metrics)
        self.result: Any = None
        session.forward_ready.connect(self.show_result)
        session.model_changed.connect(self._on_geometry)
        self._on_geometry()

    def _on_geometry(self) -> None:
        center, radius = head_geometry(self.session.operator)
        for plot in (self.input_plot, self.output_plot, self.diff_plot):
            plot.set_head(center, radius)

    def show_result(self, result: Any) -> None:
        """Paint ``result`` (a ForwardResult)."""
        self.result = result
        # input and output share the figure's range, widened past [0, 1] for an input
        # injected at amplitude 2 (a fixed [0, 1] saturated it silently)
        levels = input_levels([result.image, result.recon])
        self.input_plot.set_image(result.image, levels=levels)
        if result.recon is None:
            self.output_plot.set_image(None)
            self.diff_plot.set_image(None)
            self.metrics.setText("no model loaded: input only")
            return
        self.output_plot.set_image(result.recon, levels=levels)
        self.diff_plot.set_image(self.difference(result))
        ssim = "n/a" if math.isnan(result.ssim) else f"{result.ssim:.4f}"
        self.metrics.setText(f"MSE {result.mse:.5f}    SSIM {ssim}    model {self.session.model_name}")

    def difference(self, result: Any) -> np.ndarray:
        """Output minus input (H, W) inside the head disc, 0 outside (where no loss applies)."""
        from eegmi.figures.panels.reconstruction import difference

        return difference(result, self.session.operator)

    def export_items(self) -> dict[str, object]:
        r = self.result
        if r is None:
            return {}
        items: dict[str, object] = {"input": np.asarray(r.image)}
        if r.recon is not None:
            items.update(output=np.asarray(r.recon), difference=self.difference(r),
                         mse=float(r.mse), ssim=float(r.ssim))
        return items

    def state(self) -> dict:
        st = dict(self.session.state())
        st["panel"] = "reconstruction"
        return st

    # -- the figure (eegmi.figures.panels.reconstruction) -------------------------------
    def figure_pending(self) -> str:
        return forward_pending(self.session, self.result)

    def figure_data(self) -> dict[str, Any]:
        """Input, output, difference and MSE/SSIM of the result shown."""
        from eegmi.figures.panels.reconstruction import data_from

        return data_from(self.result, self.session.operator)

    def figure_state(self) -> dict[str, Any]:
        from eegmi.figures.panel import figure_state

        return figure_state("reconstruction", self.title, self.session.state(), None, {},
                            {"width_in": 7.0, "height_in": 2.8})
