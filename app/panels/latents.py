"""Latent sliders panel: drive the decoder one latent dimension at a time.

One labelled slider per latent dimension (``z0``.. for a VAE; electrode names
for the decoder-only E1, whose "latent" is the scaled electrode vector).  The
range is the dataset's latent mean +- 3 standard deviations once the
``latent_stats`` recipe (:mod:`eegmi.recipes.latents`, its defaults) has computed
them on the worker, else +-3.  "Set from input" widens a range that does not hold
the input's latent; Reset restores the ranges and centres every slider.  A marker
under each slider shows the current input's latent mean.  Every slider change sends
``session.request_decode(z)`` (latest-wins on the worker) and the decoded image
is redrawn when ``decode_ready`` arrives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from superqt import QLabeledDoubleSlider

from app.panels.base import Panel, forward_pending
from app.widgets.colour_bar import ColourBar
from app.widgets.fast_image import FastImageItem
from eegmi.figures.panels.latents import input_latent
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.latents import LATENT_STATS, LatentStats, LatentStatsOptions

#: the statistics' options (frames encoded, half-range in standard deviations)
STATS_OPTIONS = LatentStatsOptions()
STAT_FRAMES = STATS_OPTIONS.frames
DEFAULT_HALF_RANGE = STATS_OPTIONS.half_range


def latent_of(result: Any) -> np.ndarray | None:
    """The decoder input of a ForwardResult: ``mu (d,)``, or ``latent.z`` (decoder-only)."""
    return input_latent(result)


class _Marker(QtWidgets.QWidget):
    """A thin strip under a slider with a triangle at the input's latent value.

    Every scalp click moves all of them, so setting a value is kept cheap: the
    slider range is held here (set with the slider's), a marker repaints only when
    its triangle moves, and the tooltip is made when the pointer enters.
    """

    def __init__(self, slider: QLabeledDoubleSlider) -> None:
        super().__init__()
        self.slider = slider
        self.value: float | None = None
        self._lo, self._hi = float(slider.minimum()), float(slider.maximum())
        slider.rangeChanged.connect(self.set_range)
        self.setFixedHeight(7)

    def set_range(self, lo: float, hi: float) -> None:
        """The slider's range changed to ``[lo, hi]``."""
        self._lo, self._hi = float(lo), float(hi)
        self.update()

    def set_value(self, value: float | None) -> None:
        old = self.fraction()
        self.value = value
        if self.fraction() != old:
            self.update()
        if self.underMouse():
            self.setToolTip(self._tip())

    def _tip(self) -> str:
        return "" if self.value is None else f"input \u03bc = {self.value:.4g}"

    def enterEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        # a setToolTip on every marker per click cost a ToolTipChange event each
        self.setToolTip(self._tip())
        super().enterEvent(event)

    def fraction(self) -> float | None:
        """Where the triangle sits along the groove, 0..1 (None without a value)."""
        if self.value is None:
            return None
        lo, hi = self._lo, self._hi
        return min(max((self.value - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.5

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 (Qt override)
        frac = self.fraction()
        if frac is None:
            return
        inner = self.slider._slider  # the groove part, without the value box
        handle = 12
        x = inner.x() + handle / 2 + frac * max(inner.width() - handle, 1)
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setBrush(QtGui.QColor("#d62728"))
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x, 0), QtCore.QPointF(x - 4, 7),
                                       QtCore.QPointF(x + 4, 7)]))
        p.end()


class LatentsPanel(Panel):
    """Sliders for every latent dimension driving the decoder, with the decoded image.

    Parameters
    ----------
    session
        ``app.session.Session`` (``inference``, ``model``, ``data``, ``scaler``,
        ``operator``, ``worker``, ``request_decode``; signals ``model_changed``,
        ``data_changed``, ``forward_ready``, ``decode_ready``).
    """

    title = "Latent sliders"
    z_sent = QtCore.Signal(object)
    stats_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None, seed: int = 0) -> None:
        super().__init__(session, parent)
        self.names: list[str] = []
        self.sliders: list[QLabeledDoubleSlider] = []
        self.markers: list[_Marker] = []
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.stats: LatentStats | None = None
        #: exported state of the statistics behind the ranges (None before they arrive)
        self.analysis: dict[str, Any] | None = None
        #: a range was widened beyond the statistics' to hold a latent (Set from input)
        self.widened = False
        self.input_latent: np.ndarray | None = None
        self.last_decode: Any = None
        self.decodes_sent = 0
        self._bulk = False
        self._stats_request: Any = None
        self._stats_model: Any = None
        self._rng = np.random.default_rng(seed)
        self._build_ui()
        session.model_changed.connect(self.rebuild)
        session.data_changed.connect(self._request_stats)
        session.forward_ready.connect(self._on_forward)
        session.decode_ready.connect(self.set_decoded)
        if getattr(session, "inference", None) is not None:
            self.rebuild()

    # ---- construction ----------------------------------------------------
    def _build_ui(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        left = QtWidgets.QVBoxLayout()
        buttons = QtWidgets.QHBoxLayout()
        self.reset_button = QtWidgets.QPushButton("Reset")
        self.reset_button.setToolTip("Every slider to the dataset mean (0 when unknown) and "
                                     "every range back to mean \u00b13\u03c3")
        self.random_button = QtWidgets.QPushButton("Randomise")
        self.random_button.setToolTip("Draw each latent from the dataset's distribution")
        self.from_input_button = QtWidgets.QPushButton("Set from input")
        self.from_input_button.setToolTip("Sliders to the latent mean of the current input")
        self.reset_button.clicked.connect(self.reset)
        self.random_button.clicked.connect(self.randomise)
        self.from_input_button.clicked.connect(self.set_from_input)
        for b in (self.reset_button, self.random_button, self.from_input_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        left.addLayout(buttons)
        self.range_label = QtWidgets.QLabel("no model")
        left.addWidget(self.range_label)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        self._slider_host = QtWidgets.QWidget()
        self._grid = QtWidgets.QGridLayout(self._slider_host)
        self._grid.setVerticalSpacing(0)
        scroll.setWidget(self._slider_host)
        left.addWidget(scroll, 1)
        outer.addLayout(left, 3)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.plot = self.view.addPlot(title="decoded")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        vb = self.plot.getViewBox()
        vb.invertY(True)
        vb.setAspectLocked(True)
        self.image = FastImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bar = ColourBar(values=(0.0, 1.0), width=10, colorMap="viridis")
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.view.setMinimumWidth(220)
        outer.addWidget(self.view, 2)

    def _latent_names(self, d: int) -> list[str]:
        adapter = getattr(self.session, "adapter", None)
        if adapter is not None and adapter.takes_values:  # E1: its latent is the electrodes
            names = list(getattr(self.session.operator.montage, "ch_names", ()))
            if len(names) == d:
                return names
        return [f"z{i}" for i in range(d)]

    def rebuild(self) -> None:
        """Recreate the sliders for the session's model (latent size or kind changed)."""
        inference = getattr(self.session, "inference", None)
        d = 0 if inference is None else int(inference.latent_dim)
        names = self._latent_names(d)
        self.mean = self.std = self.stats = self.analysis = None
        self.widened = False
        self.input_latent = None
        if names != self.names:
            while self._grid.count():
                w = self._grid.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
            self.sliders, self.markers = [], []
            for i, name in enumerate(names):
                label = QtWidgets.QLabel(name)
                slider = QLabeledDoubleSlider(QtCore.Qt.Orientation.Horizontal)
                slider.setDecimals(3)
                slider.setRange(-DEFAULT_HALF_RANGE, DEFAULT_HALF_RANGE)
                slider.setSingleStep(0.01)
                slider.setValue(0.0)
                slider.valueChanged.connect(self._on_slider)
                marker = _Marker(slider)
                self._grid.addWidget(label, 2 * i, 0, 2, 1)
                self._grid.addWidget(slider, 2 * i, 1)
                self._grid.addWidget(marker, 2 * i + 1, 1)
                self.sliders.append(slider)
                self.markers.append(marker)
            self.names = names
        self._apply_ranges()
        self._show_range_text()
        self._request_stats()

    # ---- dataset statistics ------------------------------------------------
    def _request_stats(self) -> None:
        s = self.session
        inference, data = getattr(s, "inference", None), getattr(s, "data", None)
        if inference is None or data is None or data.n_frames == 0:
            return
        options = STATS_OPTIONS
        context = RecipeContext(model=getattr(s, "model_name", ""), loaded=s.model,
                                data=getattr(s, "data_name", "") or None,
                                device=getattr(s, "device", "cpu"), extra={"eegdata": data})
        self._stats_model = inference
        if self._stats_request is not None:
            self._stats_request.cancel()  # superseded by this model/data
        state = state_of(LATENT_STATS, options, context)
        self._stats_request = handle = s.submit(
            lambda tok: LATENT_STATS.run(options, context, tok), "latent statistics")
        # the handle and the state travel with the result (a newer request may be queued)
        handle.finished.connect(lambda result, h=handle, st=state: self._on_stats(h, st, result))

    def _on_stats(self, handle: Any, state: dict[str, Any], stats: LatentStats) -> None:
        if handle is not self._stats_request:
            return
        self._stats_request = None
        if self._stats_model is not self.session.inference or stats.mean.shape[0] != len(self.sliders):
            return  # the model changed while the statistics were computed
        self.stats, self.mean, self.std = stats, stats.mean, stats.std
        self.analysis = state
        self._apply_ranges()
        # start from the centre of the new ranges (and show its decoded image)
        self.set_z(stats.mean)
        self.stats_ready.emit()

    def ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """The statistics' slider ranges ``(lo (d,), hi (d,))``: mean +- 3 std when known,
        else +-3 (a widened slider's own range may be wider, see :meth:`shown_ranges`)."""
        d = len(self.sliders)
        if self.stats is None or self.stats.mean.shape[0] != d:
            h = STATS_OPTIONS.half_range
            return np.full(d, -h), np.full(d, h)
        return self.stats.ranges()

    def shown_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """The sliders' current ranges ``(lo (d,), hi (d,))``."""
        return (np.array([s.minimum() for s in self.sliders], dtype=np.float64),
                np.array([s.maximum() for s in self.sliders], dtype=np.float64))

    def _show_range_text(self) -> None:
        d, h = len(self.sliders), STATS_OPTIONS.half_range
        if not d:
            text = "no model"
        elif self.stats is None:
            text = f"{d} latent dims, range \u00b1{h:g} (dataset statistics pending)"
        else:
            text = (f"{d} latent dims, range = dataset mean \u00b1{h:g}\u03c3 "
                    f"({self.stats.n_frames} frames)")
        if d and self.widened:
            text += ", widened to hold the input (Reset restores it)"
        self.range_label.setText(text)

    def _apply_ranges(self) -> None:
        lo, hi = self.ranges()
        self.widened = False
        self._bulk = True
        try:
            for s, a, b in zip(self.sliders, lo, hi, strict=True):
                # enough decimals to resolve 1/1000 of the range (latent spreads vary a lot)
                s.setDecimals(int(np.clip(np.ceil(-np.log10((b - a) / 1000.0)), 2, 8)))
                s.setRange(float(a), float(b))
                s.setSingleStep(float(b - a) / 200.0)
        finally:
            self._bulk = False
        self._show_range_text()

    # ---- values ---------------------------------------------------------------
    def z(self) -> np.ndarray:
        """The latent vector the sliders show, ``(d,)`` float32."""
        return np.array([s.value() for s in self.sliders], dtype=np.float32)

    def set_z(self, z: np.ndarray) -> None:
        """Move every slider (ranges widen to include ``z``) and decode once."""
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.shape[0] != len(self.sliders):
            raise ValueError(f"expected {len(self.sliders)} latent values, got {z.shape[0]}")
        widened = False
        self._bulk = True
        try:
            for s, v in zip(self.sliders, z, strict=True):
                if v < s.minimum() or v > s.maximum():
                    s.setRange(min(s.minimum(), float(v)), max(s.maximum(), float(v)))
                    widened = True
                s.setValue(float(v))
        finally:
            self._bulk = False
        if widened and not self.widened:
            self.widened = True
            self._show_range_text()
        self._send()

    def reset(self) -> None:
        """Every range back to the statistics' and every slider to the dataset mean
        (0 without statistics)."""
        d = len(self.sliders)
        self._apply_ranges()
        self.set_z(self.mean if self.mean is not None else np.zeros(d))

    def randomise(self) -> None:
        """Sliders to a draw from N(mean, std) of the dataset (N(0, 1) without), clipped."""
        d = len(self.sliders)
        lo, hi = self.ranges()
        mean = self.mean if self.mean is not None else np.zeros(d)
        std = self.std if self.std is not None else np.ones(d)
        self.set_z(np.clip(self._rng.normal(mean, std), lo, hi))

    def set_from_input(self) -> None:
        """Sliders to the current input's latent mean (needs a forward result)."""
        if self.input_latent is not None and self.input_latent.shape[0] == len(self.sliders):
            self.set_z(self.input_latent)

    def _on_slider(self, _value: float) -> None:
        if not self._bulk:
            self._send()

    def _send(self) -> None:
        if not self.sliders or getattr(self.session, "inference", None) is None:
            return
        z = self.z()
        self.session.request_decode(z)
        self.decodes_sent += 1
        self.z_sent.emit(z)

    # ---- session slots -------------------------------------------------------
    def _on_forward(self, result: Any) -> None:
        z = latent_of(result)
        if z is None or z.shape[0] != len(self.sliders):
            return
        self.input_latent = z
        for m, v in zip(self.markers, z, strict=True):
            m.set_value(float(v))

    def set_decoded(self, result: Any) -> None:
        """Show a DecodeResult's image (``decode_ready``); the item is updated in place."""
        self.last_decode = result
        recon = np.asarray(result.recon, dtype=np.float32)
        self.image.setImage(recon, autoLevels=False, levels=(0.0, 1.0))

    # ---- export contract ---------------------------------------------------
    def export_items(self) -> dict[str, object]:
        """Slider values, ranges, dataset statistics, input latent and decoded image."""
        lo, hi = self.shown_ranges()
        items: dict[str, object] = {"z": self.z(), "range_low": lo, "range_high": hi,
                                    "names": list(self.names)}
        if self.mean is not None:
            items["dataset_mean"] = self.mean
            items["dataset_std"] = self.std
        if self.input_latent is not None:
            items["input_latent"] = self.input_latent
        if self.last_decode is not None:
            items["decoded"] = np.asarray(self.last_decode.recon)
        return items

    def state(self) -> dict:
        """Model/data and the slider vector that produced the decoded image."""
        base = self.session.state() if hasattr(self.session, "state") else {}
        h = STATS_OPTIONS.half_range
        out = {**base, "panel": "latents", "z": [float(v) for v in self.z()],
               "names": list(self.names), "widened": self.widened,
               "range": f"dataset mean +-{h:g} std" if self.stats is not None else f"+-{h:g}"}
        if self.analysis is not None:
            out["analysis"] = self.analysis
        return out

    # ---- the figure (eegmi.figures.panels.latents) ---------------------------
    def decoded_shown(self) -> np.ndarray | None:
        """The decoded image of the sliders' vector, or None when none is shown for it."""
        d = self.last_decode
        if d is None or np.shape(d.z) != (len(self.sliders),) or not np.array_equal(
                np.asarray(d.z, dtype=np.float32), self.z()):
            return None
        return np.asarray(d.recon, dtype=np.float32)

    def figure_pending(self) -> str:
        if self._stats_request is not None:
            return "latent statistics"
        if self.sliders and self.decodes_sent and self.decoded_shown() is None:
            return "decoding the slider vector"
        return forward_pending(self.session, self.session.last_forward)

    def figure_data(self) -> dict[str, Any]:
        """The input's latent mean (and sigma), the slider vector, ranges, decoded image."""
        from eegmi.figures.panels.latents import data_from

        lo, hi = self.shown_ranges()
        return data_from(self.session.last_forward, self.session.operator, self.names,
                         self.z(), lo, hi, self.decoded_shown())

    def figure_state(self) -> dict[str, Any]:
        from eegmi.figures.panel import figure_state

        lo, hi = self.shown_ranges()
        h = STATS_OPTIONS.half_range
        view = {"names": list(self.names), "z": [float(v) for v in self.z()],
                "range_low": [float(v) for v in lo], "range_high": [float(v) for v in hi],
                "decoded": self.decoded_shown() is not None,
                "range": (f"dataset mean ±{h:g} sd" if self.stats is not None else f"±{h:g}")
                + (", widened" if self.widened else "")}
        return figure_state("latents", self.title, self.session.state(), self.analysis, view,
                            {"width_in": 7.0, "height_in": 4.2})
