"""Saliency panel: attribution maps over the current input and the cascading
randomisation sanity check.

Maps come from the core recipe ``saliency`` (:mod:`eegmi.recipes.saliency`), run on
the model worker for the session's current input vector; the method box starts from
:class:`~eegmi.analysis.saliency_options.SaliencyOptions` (the CLI's defaults).  The
sanity check (:mod:`app.widgets.sanity_view`) runs the recipe ``sanity`` with the
CLI's options and inputs (held-out frames by default), for the panel's target.  The target is a latent
dimension, an output pixel (click the output image) or an output region (drag
a rectangle on it); targets travel as the analysis' spec strings
(``latent:K``, ``pixel:R,C``, ``region:R0,C0,R1,C1``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.jobs import JobHandle
from app.panels.base import Panel
from app.widgets.analysis_job import JobControl
from app.widgets.analysis_pick import (
    PickViewBox,
    add_colour_bar,
    add_head_outline,
    diverging_lut,
    image_plot,
    symmetric_levels,
)
from app.widgets.sanity_view import SanityView
from eegmi.analysis.saliency_options import SaliencyOptions
from eegmi.errors import ConfigError, EegmiError
from eegmi.figures.panel import figure_state
from eegmi.figures.panels import saliency as saliency_figure
from eegmi.figures.panels.saliency import METHOD_LABELS
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.saliency import SALIENCY


def label_colour(dark: bool) -> tuple[int, int, int]:
    """Electrode-name colour on the electrode view's background in each theme."""
    return (225, 225, 225) if dark else (30, 30, 30)


#: the recipe's defaults (method, target, method settings), the CLI's too
DEFAULTS = SaliencyOptions()


def is_mix(values: np.ndarray) -> bool:
    """True when some but not all electrodes are active (clicked one-hots and their mixes)."""
    k = int(np.count_nonzero(np.asarray(values)))
    return 0 < k < np.asarray(values).size


class SaliencyPanel(Panel):
    """Method and target choosers, map over the input, per-electrode view, sanity check."""

    title = "Saliency"
    result_ready = QtCore.Signal()
    sanity_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: Any = None
        self.pixel = (20, 20)
        self.region = (15, 15, 25, 25)
        self._result_method = ""
        self._label_items: list[Any] = []
        self._head_items: list[tuple[Any, Any]] = []
        self._pending_forward: Any = None
        #: the recipe state of the map shown (``eegmi rerun`` input), or None
        self.analysis: dict[str, Any] | None = None
        self._started: dict[str, Any] | None = None
        self._build_ui()
        session.forward_ready.connect(self._on_forward)
        session.model_changed.connect(self._on_model_changed)
        if session.model is not None:
            self._on_model_changed()
        if getattr(session, "last_forward", None) is not None:
            self._on_forward(session.last_forward)

    # ---- construction ---------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("method"))
        self.method_box = QtWidgets.QComboBox()
        for name, label in METHOD_LABELS:
            self.method_box.addItem(label, name)
        self.method_box.setCurrentIndex(self.method_box.findData(DEFAULTS.methods[0]))
        row.addWidget(self.method_box)
        row.addWidget(QtWidgets.QLabel("target"))
        self.target_box = QtWidgets.QComboBox()
        self.target_box.addItem("latent dimension", "latent")
        self.target_box.addItem("output pixel (click output)", "pixel")
        self.target_box.addItem("output region (drag on output)", "region")
        row.addWidget(self.target_box)
        self.latent_spin = QtWidgets.QSpinBox()
        self.latent_spin.setPrefix("k = ")
        self.latent_spin.setRange(0, 0)
        row.addWidget(self.latent_spin)
        self.target_label = QtWidgets.QLabel("")
        row.addWidget(self.target_label, 1)
        outer.addLayout(row)
        self.target_box.currentIndexChanged.connect(self._target_changed)
        self.latent_spin.valueChanged.connect(self._target_changed)
        self.job = JobControl(self.session, "Compute map")
        self.job.run_clicked.connect(self.run)
        self.job.done.connect(self._on_done)
        outer.addWidget(self.job)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.map_plot = image_plot(self.view, "map over the input", 0, 0)
        self.input_image = pg.ImageItem(axisOrder="row-major")
        self.input_image.setLookupTable(pg.colormap.get("CET-L1").getLookupTable(nPts=256))
        self.map_image = pg.ImageItem(axisOrder="row-major")
        self.map_image.setLookupTable(diverging_lut(alpha=255))
        self.map_image.setOpacity(0.6)  # the input stays readable under the map
        self.map_plot.addItem(self.input_image)
        self.map_plot.addItem(self.map_image)
        # the map's scale (symmetric about 0), beside the map
        self.map_bar = add_colour_bar(self.map_plot, self.map_image)
        self.pick_box = PickViewBox(int(self.session.operator.size))
        self.out_plot = image_plot(self.view, "output (click: pixel, drag: region)", 0, 1,
                                   view_box=self.pick_box)
        self.out_image = pg.ImageItem(axisOrder="row-major")
        self.out_image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.out_plot.addItem(self.out_image)
        self.pick_box.pixelPicked.connect(self.pick_pixel)
        self.pick_box.regionPicked.connect(self.pick_region)
        self.elec_plot = image_plot(self.view, "per electrode", 0, 2)
        self.elec_dots = pg.ScatterPlotItem(size=10, pen=pg.mkPen((40, 40, 40), width=1))
        self.elec_plot.addItem(self.elec_dots)
        self.elec_bar = add_colour_bar(self.elec_plot)  # the dots' colours
        self.elec_dots.setZValue(8)
        self.view.setMinimumHeight(200)
        vsplit = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        vsplit.addWidget(self.view)
        lower = QtWidgets.QWidget()
        lower_lay = QtWidgets.QVBoxLayout(lower)
        lower_lay.setContentsMargins(0, 0, 0, 0)
        self.sanity_box = SanityView(self.session, dict(METHOD_LABELS))
        self.sanity_job_ctl = self.sanity_box.job_ctl
        self.sanity_job_ctl.run_clicked.connect(self.run_sanity)
        self.sanity_box.ready.connect(self.sanity_ready)
        lower_lay.addWidget(self.sanity_box, 1)
        vsplit.addWidget(lower)
        vsplit.setSizes([300, 300])
        outer.addWidget(vsplit, 1)
        self._setup_geometry()
        self._target_changed()

    def _setup_geometry(self) -> None:
        from app.widgets.scalp_map import head_geometry

        op = self.session.operator
        for plot, item in self._head_items:
            plot.removeItem(item)
        for item in self._label_items:
            self.elec_plot.removeItem(item)
        center, radius = head_geometry(op)
        self._head_items = [(plot, item) for plot in (self.map_plot, self.elec_plot)
                            for item in add_head_outline(plot, center, radius)]
        xy = np.asarray(op.electrode_xy, dtype=float) + 0.5
        self._label_items = []
        font = QtGui.QFont()
        font.setPointSize(6)
        for name, (x, y) in zip(op.montage.ch_names, xy, strict=True):
            t = pg.TextItem(name, color=label_colour(self.dark), anchor=(0.5, -0.45))
            t.setFont(font)
            t.setPos(float(x), float(y))
            self.elec_plot.addItem(t)
            self._label_items.append(t)
        size = int(op.size)
        self.pick_box.size = size
        for p in (self.map_plot, self.out_plot, self.elec_plot):
            p.getViewBox().setRange(xRange=(0, size), yRange=(-0.1 * size, size), padding=0.02)
        self.elec_dots.setData(x=xy[:, 0], y=xy[:, 1], brush=pg.mkBrush(230, 230, 230))

    # ---- targets ----------------------------------------------------------------
    def target_spec(self) -> str:
        """The chosen target as the analysis' spec string."""
        kind = self.target_box.currentData()
        if kind == "pixel":
            return f"pixel:{self.pixel[0]},{self.pixel[1]}"
        if kind == "region":
            return "region:" + ",".join(str(v) for v in self.region)
        return f"latent:{self.latent_spin.value()}"

    def _target_changed(self, *_args: Any) -> None:
        kind = self.target_box.currentData()
        self.latent_spin.setVisible(kind == "latent")
        if kind == "pixel":
            self.pick_box.show_box(self.pixel[0], self.pixel[1], self.pixel[0] + 1, self.pixel[1] + 1)
        elif kind == "region":
            self.pick_box.show_box(*self.region)
        else:
            self.pick_box.rect_item.setData([], [])
        self.target_label.setText(self.target_spec())

    def pick_pixel(self, row: int, col: int) -> None:
        """Use output pixel ``(row, col)`` as the target."""
        self.pixel = (int(row), int(col))
        self.target_box.setCurrentIndex(self.target_box.findData("pixel"))
        self._target_changed()

    def pick_region(self, r0: int, c0: int, r1: int, c1: int) -> None:
        """Use the sum of output rows ``r0:r1``, columns ``c0:c1`` as the target."""
        self.region = (int(r0), int(c0), int(r1), int(c1))
        self.target_box.setCurrentIndex(self.target_box.findData("region"))
        self._target_changed()

    def set_method(self, name: str) -> None:
        """Choose a method by its analysis name (``saliency``, ``gradcam``...)."""
        self.method_box.setCurrentIndex(self.method_box.findData(name))

    def method(self) -> str:
        return str(self.method_box.currentData())

    # ---- session -------------------------------------------------------------------
    def _on_model_changed(self) -> None:
        loaded = self.session.model
        # a decoder-only model's latent is its electrode vector: latent_dim says so too
        d = int(getattr(getattr(loaded, "config", None), "latent_dim", 1) or 1)
        self.latent_spin.setRange(0, max(d - 1, 0))
        self.result = None
        self.analysis = self._started = None
        self.sanity_box.clear()
        self._setup_geometry()

    def _on_forward(self, result: Any) -> None:
        # a hidden panel (a tab behind another) draws the newest input when it is shown:
        # every scalp click would otherwise pay for images nobody sees
        self._pending_forward = result
        if self.isVisible() and not self.visibleRegion().isEmpty():
            self._show_forward()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._show_forward()

    def on_dock_visibility(self, visible: bool) -> None:
        """The window raised (True) or covered this panel's dock tab; Qt keeps a
        covered tab "visible", so this is how the panel learns it is seen again."""
        if visible:
            self._show_forward()

    def _show_forward(self) -> None:
        result, self._pending_forward = self._pending_forward, None
        if result is None:
            return
        recon = getattr(result, "recon", None)
        if recon is not None:
            self.out_image.setImage(np.asarray(recon, np.float32), autoLevels=True)
        image = getattr(result, "image", None)
        if image is not None and self.result is None:
            self.input_image.setImage(np.asarray(image, np.float32), autoLevels=True)

    # ---- running ----------------------------------------------------------------------
    def run(self) -> JobHandle | None:
        """Compute the chosen method's map for the chosen target and the current input."""
        loaded = self.session.model
        if loaded is None:
            self.job.status.setText("load a model first")
            return None
        s = self.session
        try:
            opts = self.options()
        except EegmiError as exc:
            self.job.status.setText(exc.line())
            return None
        context = RecipeContext(model=str(s.model_name), loaded=loaded,
                                data=str(s.data_name) if s.data_name else None, device=s.device)
        self._started = state_of(SALIENCY, opts, context)
        return self.job.start(lambda tok: SALIENCY.run(opts, context, tok), "saliency")

    def options(self) -> SaliencyOptions:
        """The recipe's options for the chosen method and target and the current input."""
        # the workbench's current input: the injected mix on its baseline, or the frame
        values = np.asarray(self.session.workbench.input_values(), np.float64).ravel()
        return replace(DEFAULTS, methods=(self.method(),), target=self.target_spec(),
                       values=tuple(float(v) for v in values))

    def run_sanity(self) -> JobHandle | None:
        """The sanity check of all six methods for the chosen target (held-out inputs by
        default, the same options and verdicts as ``eegmi analyze sanity``)."""
        return self.sanity_box.run(self.target_spec(), tuple(m for m, _ in METHOD_LABELS))

    @property
    def sanity(self) -> Any:
        """The last sanity check's :class:`eegmi.analysis.sanity.SanityResult` (or None)."""
        return self.sanity_box.result

    def cancel(self) -> None:
        self.job.cancel()
        self.sanity_job_ctl.cancel()

    # ---- showing ----------------------------------------------------------------------
    def current_map(self) -> np.ndarray | None:
        """``(H, W)`` map of the last computed method (None for decoder-only models)."""
        if self.result is None:
            return None
        m = self.result.maps.get(self._result_method)
        return None if m is None else np.asarray(m[0])

    def electrode_attribution(self) -> np.ndarray | None:
        """``(n,)`` per-electrode attribution of the last computed method."""
        if self.result is None:
            return None
        return np.asarray(self.result.electrodes[self._result_method][0])

    def _on_done(self, result: Any) -> None:
        self.result = result
        self.analysis = self._started
        self._result_method = next(iter(result.electrodes))
        values = np.asarray(result.values[0], np.float32)
        op = self.session.operator
        head = np.asarray(op.head_mask, bool)
        img = np.asarray(op.render(values), np.float32)
        # outside the head there is no signal: transparent, so only the disc is drawn
        self.input_image.setImage(np.where(head, img, np.nan).astype(np.float32),
                                  levels=(float(img[head].min()), float(img[head].max()) + 1e-6))
        label = dict(METHOD_LABELS).get(self._result_method, self._result_method)
        m = self.current_map()
        if m is None:
            self.map_image.clear()
        else:
            shown = np.where(head, m, np.nan).astype(np.float32)
            levels = symmetric_levels(shown)
            self.map_image.setImage(shown, autoLevels=False, levels=levels)
            self.map_bar.setLevels(levels, update_items=False)
        self.map_plot.setTitle(f"{label} for {result.target}", size="9pt")
        el = self.electrode_attribution()
        mix = is_mix(values)
        self.elec_plot.setVisible(mix)
        if el is not None:
            lo, hi = symmetric_levels(el)
            self.elec_bar.setLevels((lo, hi))
            lut = diverging_lut()
            idx = np.clip(((el - lo) / (hi - lo) * 255).round().astype(int), 0, 255)
            brushes = [pg.mkBrush(*lut[i][:3]) for i in idx]
            # active (injected) electrodes get a thick outline; the value is in the tooltip
            pens = [pg.mkPen((0, 0, 0), width=2.5) if v != 0 else pg.mkPen((90, 90, 90), width=1)
                    for v in values]
            tips = [f"{n}: {a:.4g}" for n, a in zip(op.montage.ch_names, el, strict=True)]
            self.elec_dots.setData(x=np.asarray(op.electrode_xy)[:, 0] + 0.5,
                                   y=np.asarray(op.electrode_xy)[:, 1] + 0.5, brush=brushes,
                                   pen=pens, data=tips, hoverable=True, tip="{data}".format)
            self.elec_plot.setTitle(f"per electrode ({label})", size="9pt")
        self.result_ready.emit()

    # ---- export contract ------------------------------------------------------------------
    def set_dark(self, dark: bool) -> None:
        """Electrode names in the theme's text colour: dark grey vanished on the dark theme."""
        super().set_dark(dark)
        for t in self._label_items:
            t.setColor(label_colour(dark))

    def export_items(self) -> dict[str, object]:
        items: dict[str, object] = {}
        if self.result is not None:
            items["method"] = self._result_method
            items["target"] = self.result.target
            items["values"] = np.asarray(self.result.values[0])
            items["electrodes"] = list(self.result.ch_names)
            items["electrode_attribution"] = self.electrode_attribution()
            m = self.current_map()
            if m is not None:
                items["map"] = m
            items["input_image"] = np.asarray(self.input_image.image)
        if self.sanity is not None:
            items["sanity"] = self.sanity.to_json()
            items["sanity_cli"] = self.sanity_box.cli(self.session.model_name, self.target_spec())
            for k, v in self.sanity.arrays().items():
                if not k.startswith("maps/"):
                    items[f"sanity/{k}"] = v
        return items

    def figure_view(self) -> dict[str, Any]:
        """Panel settings that change the figure: the sanity check shown (its recipe state)
        and the method whose curves are drawn."""
        return {"method": self._result_method or self.method(), "target": self.target_spec(),
                "sanity_analysis": self.sanity_box.state(),
                "sanity_method": self.sanity_box.method or None}

    def figure_data(self) -> dict[str, Any]:
        """The figure's numbers from the map and sanity check shown
        (:func:`eegmi.figures.panels.saliency.data_from_result`)."""
        if self.result is None and self.sanity is None:
            raise ConfigError(saliency_figure.NOT_RUN)
        return saliency_figure.data_from_result(self.result, self.session.operator, self.sanity,
                                                self.figure_view())

    def figure_state(self) -> dict[str, Any]:
        """The figure state: the map's recipe state as ``analysis``, the sanity check's in
        the view; its height fits the rows shown (maps, sanity check)."""
        if self.result is None and self.sanity is None:
            raise ConfigError(saliency_figure.NOT_RUN)
        return figure_state("saliency", self.title, self.session.state(), analysis=self.analysis,
                            view=self.figure_view(),
                            render={"height_in": saliency_figure.height_in(
                                self.result is not None, self.sanity is not None)})

    def state(self) -> dict:
        s = dict(self.session.state())
        s.update({"panel": "saliency", "method": self.method(), "target": self.target_spec(),
                  "cli": f"eegmi analyze saliency {self.session.model_name} "
                         f"--method {self.method()} --target {self.target_spec()}",
                  "sanity_cli": self.sanity_box.cli(self.session.model_name, self.target_spec())})
        if self.analysis is not None:
            s["analysis"] = self.analysis
        if self.sanity_box.state() is not None:
            s["sanity_analysis"] = self.sanity_box.state()
        return s

