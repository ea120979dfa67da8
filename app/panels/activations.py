"""Layer activations panel: every hook point as one feature-map mosaic.

Each shown layer is ONE ``ImageItem`` holding all its channels tiled with 1-px
gaps (see :mod:`app.widgets.mosaic`), so a click on the scalp map repaints a
layer with a single ``setImage(..., autoLevels=False)`` call.  Levels are
computed once per update from the raw activations (never from the mosaics,
whose NaN gaps would only cost time).

The panel only listens to the session (``forward_ready``, ``baseline_ready``,
``model_changed``); it never calls the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.panels.activations_figure import ActivationsFigureMixin
from app.panels.base import Panel
from app.widgets.channel_zoom import ChannelZoom
from app.widgets.mosaic import image_plot
from eegmi.mosaic import MosaicLayout, as_maps, finite_range, layer_arrays, layout_for, tile

SEQUENTIAL_CMAP = "viridis"
DIVERGING_CMAP = "CET-D1"
#: minimum heights of a row of map mosaics and of a vector strip: a short dock
#: scrolls instead of squashing the mosaics to nothing
MAP_ROW_PX, VECTOR_ROW_PX = 190, 60


@dataclass
class _LayerView:
    name: str
    layout: MosaicLayout
    plot: pg.PlotItem
    image: pg.ImageItem
    bar: pg.ColorBarItem
    checkbox: QtWidgets.QCheckBox
    mosaic: np.ndarray | None = None
    levels: tuple[float, float] = (0.0, 1.0)


class ActivationsPanel(ActivationsFigureMixin, Panel):
    """Mosaics of every hook point, with hover read-out, zoom and difference view.

    Parameters
    ----------
    session
        ``app.session.Session`` (signals ``forward_ready``, ``baseline_ready``,
        ``model_changed``; attributes ``baseline``, ``model_name``...).
    """

    title = "Layer activations"
    hovered = QtCore.Signal(dict)
    enlarged = QtCore.Signal(str, int)

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: Any = None
        self.baseline_result: Any = None
        self._current: dict[str, np.ndarray] = {}
        self._baseline: dict[str, np.ndarray] = {}
        self._shown: dict[str, np.ndarray] = {}
        self._layers: dict[str, _LayerView] = {}
        self._zoom: tuple[str, int] | None = None
        self._stale: set[str] = set()  # checked layers whose mosaic is not drawn yet
        self._shared_levels: tuple[float, float] | None = None
        self._zoom_levels: tuple[float, float] = (0.0, 1.0)
        self._build_ui()
        session.forward_ready.connect(self.set_result)
        session.baseline_ready.connect(self.set_baseline)
        session.model_changed.connect(self._on_model_changed)
        session.input_changed.connect(self._on_input)

    # ---- construction -------------------------------------------------
    def _build_ui(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        bar = QtWidgets.QHBoxLayout()
        self.shared_scale = QtWidgets.QCheckBox("Shared colour scale")
        self.shared_scale.setToolTip("One colour range for all layers instead of one per layer")
        self.difference = QtWidgets.QCheckBox("Difference from baseline")
        self.difference.setToolTip("Current input minus the reference input (zero or dataset mean)")
        self.baseline_box = QtWidgets.QComboBox()
        self.baseline_box.addItems(["zero", "mean"])
        self.baseline_box.setToolTip("Reference input: all-zero electrodes or the dataset's mean frame")
        self.baseline_box.setCurrentText(self.session.input.baseline)
        # the workbench holds the one baseline: this box and the scalp panel's show it
        self.baseline_box.activated.connect(
            lambda i: self._on_baseline_choice(self.baseline_box.itemText(i)))
        self.baseline_label = QtWidgets.QLabel("")
        self.shared_scale.toggled.connect(self.redraw)
        self.difference.toggled.connect(self._on_difference_toggled)
        bar.addWidget(self.shared_scale)
        bar.addWidget(self.difference)
        bar.addWidget(self.baseline_box)
        bar.addWidget(self.baseline_label)
        bar.addStretch(1)
        outer.addLayout(bar)
        self.layer_bar = QtWidgets.QHBoxLayout()
        self.layer_bar.addWidget(QtWidgets.QLabel("Layers:"))
        self.layer_bar.addStretch(1)
        outer.addLayout(self.layer_bar)

        # mosaics scroll (a dock is often short); the enlarged channel sits beside them
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.view)
        # layers scrolled into view are drawn then (see redraw), and so are those a
        # resized view shows
        self.scroll.verticalScrollBar().valueChanged.connect(self._draw_on_screen)
        self.scroll.horizontalScrollBar().valueChanged.connect(self._draw_on_screen)
        self.view.sigDeviceRangeChanged.connect(self._on_view_resized)
        split.addWidget(self.scroll)
        self.zoom_view = ChannelZoom(SEQUENTIAL_CMAP)
        self.zoom_plot, self.zoom_image, self.zoom_bar = (
            self.zoom_view.plot, self.zoom_view.image, self.zoom_view.bar)
        split.addWidget(self.zoom_view)
        split.setSizes([700, 260])
        outer.addWidget(split, 1)
        self.hover_label = QtWidgets.QLabel("hover over a tile")
        self.hover_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.hover_label)
        self.zoom_view.hovered.connect(self.hover_label.setText)

    def _ensure_layers(self, arrays: dict[str, np.ndarray]) -> None:
        """Create (only when the model's layers or shapes change) one view per layer."""
        wanted = {name: layout_for(a.shape) for name, a in arrays.items()}
        if [(n, lv.layout) for n, lv in self._layers.items()] == list(wanted.items()):
            return
        for lv in self._layers.values():
            self.layer_bar.removeWidget(lv.checkbox)
            lv.checkbox.deleteLater()
        self._layers.clear()
        self._zoom = None
        self.zoom_view.reset()
        cmap = DIVERGING_CMAP if self.difference.isChecked() else SEQUENTIAL_CMAP
        for name, layout in wanted.items():
            shape = arrays[name].shape
            dims = "x".join(str(s) for s in shape)
            plot, image, bar = image_plot(f"{name}  ({dims})", cmap)
            if len(shape) == 1:
                plot.getViewBox().setAspectLocked(False)
                plot.setMaximumHeight(VECTOR_ROW_PX)
            # the mosaic's size is fixed by the layout: a fixed range, no auto-ranging
            # (which would also wait for a first paint of a layer drawn off screen)
            rows, cols = layout.shape
            plot.getViewBox().setRange(xRange=(0, cols), yRange=(0, rows), padding=0.02)
            box = QtWidgets.QCheckBox(name)
            box.setChecked(True)
            box.toggled.connect(self._relayout)
            self.layer_bar.insertWidget(self.layer_bar.count() - 1, box)
            self._layers[name] = _LayerView(name, layout, plot, image, bar, box)
        self._relayout()

    def _relayout(self) -> None:
        """Place the checked layers: maps two per row, vectors on a row of their own."""
        self.view.ci.clear()
        row, col, height = 0, 0, 0
        for lv in self._layers.values():
            if not lv.checkbox.isChecked():
                continue
            if lv.layout.tile_h == 1 and lv.layout.tile_w == 1:
                if col:
                    row, col = row + 1, 0
                self.view.addItem(lv.plot, row=row, col=0, colspan=2)
                row += 1
                height += VECTOR_ROW_PX
                continue
            self.view.addItem(lv.plot, row=row, col=col)
            if col == 0:
                height += MAP_ROW_PX
            col += 1
            if col == 2:
                row, col = row + 1, 0
        self.view.setMinimumHeight(height)
        self.view.ci.layout.activate()  # place the plots now: redraw asks what is on screen
        self.redraw()

    # ---- session slots --------------------------------------------------
    def set_result(self, result: Any) -> None:
        """Show a new ForwardResult (connected to ``session.forward_ready``)."""
        self.result = result
        self._current = layer_arrays(result)
        self._ensure_layers(self._current)
        self.redraw()

    def set_baseline(self, result: Any) -> None:
        """Keep the reference ForwardResult (``session.baseline_ready``)."""
        self.baseline_result = result
        self._baseline = layer_arrays(result)
        self.baseline_label.setText(f"baseline: {self.session.input.baseline}")
        if self.difference.isChecked():
            self.redraw()

    def _on_baseline_choice(self, which: str) -> None:
        if self.session.input.baseline != which:
            self.baseline_label.setText("baseline: computing…")
            self.session.workbench.set_baseline(which)

    def _on_input(self, state: Any) -> None:
        if self.baseline_box.currentText() != state.baseline:
            self.baseline_box.blockSignals(True)
            self.baseline_box.setCurrentText(state.baseline)
            self.baseline_box.blockSignals(False)
            self.baseline_label.setText("baseline: computing…")

    def _on_model_changed(self) -> None:
        self.result = None
        self.baseline_result = None
        self._current, self._baseline, self._shown = {}, {}, {}
        # the old model's mosaics stay on screen until the new model's first result;
        # layers not drawn yet have nothing left to draw (their names may not even
        # exist in the new model: a VAE's latent.mu, the decoder-only E1's dec.act1)
        self._stale.clear()
        # the enlarged channel belonged to the old model: nothing shown (nor exported)
        # until the user picks a channel of the new one
        self._zoom = None
        self.zoom_view.reset()

    def _on_difference_toggled(self, on: bool) -> None:
        if on and not self._baseline:
            self.baseline_label.setText("baseline: not computed yet")
        cmap = pg.colormap.get(DIVERGING_CMAP if on else SEQUENTIAL_CMAP)
        for lv in self._layers.values():
            lv.bar.setColorMap(cmap)
        self.zoom_bar.setColorMap(cmap)
        self.redraw()

    # ---- drawing ---------------------------------------------------------
    def visible_layers(self) -> list[str]:
        """Names of the layers currently shown (checked), in display order."""
        return [n for n, lv in self._layers.items() if lv.checkbox.isChecked()]

    def shown_arrays(self) -> dict[str, np.ndarray]:
        """The arrays behind the mosaics: activations, or current minus baseline."""
        if not self.difference.isChecked():
            return dict(self._current)
        return {n: a - self._baseline[n] for n, a in self._current.items()
                if n in self._baseline and self._baseline[n].shape == a.shape}

    def redraw(self) -> None:
        """Repaint every checked layer from the current arrays (no item re-creation).

        Layers scrolled out of the dock (or in a hidden dock) are only marked stale
        and drawn when they come into view, or when their images are asked for:
        a scalp click then pays for the mosaics on screen, not for all of them.
        """
        diff = self.difference.isChecked()
        self._shown = self.shown_arrays()
        visible = [n for n in self.visible_layers() if n in self._shown]
        # one range over every checked layer, only when they share it
        self._shared_levels = (finite_range([self._shown[n] for n in visible], symmetric=diff)
                               if visible and self.shared_scale.isChecked() else None)
        self._stale = set(visible)
        self._draw_stale(only_on_screen=True)
        self._draw_zoom()

    def _shown_scene_rect(self) -> QtCore.QRectF | None:
        """The part of the scene on screen now, or None when none of it is."""
        # the viewport is what is painted (the view itself is covered by it)
        shown = self.view.viewport().visibleRegion().boundingRect()
        if shown.isEmpty():
            return None
        return self.view.mapToScene(shown).boundingRect()

    def _draw_stale(self, only_on_screen: bool = False) -> None:
        """Draw the stale layers (those on screen only, with ``only_on_screen``)."""
        if not self._stale:
            return
        diff = self.difference.isChecked()
        shown = self._shown_scene_rect() if only_on_screen else None
        if only_on_screen and shown is None:
            return
        self._stale &= self._shown.keys()  # a layer with no array has nothing to draw
        for name in [n for n in self._layers if n in self._stale]:
            lv = self._layers[name]
            if shown is not None and not lv.plot.sceneBoundingRect().intersects(shown):
                continue
            self._stale.discard(name)
            arr = self._shown[name]
            levels = (self._shared_levels if self.shared_scale.isChecked()
                      else finite_range([arr], symmetric=diff))
            lv.mosaic = tile(arr, lv.layout)
            lv.levels = levels
            # image and levels in one setImage; the bar only relabels (it would otherwise
            # set the same levels on the image again, a second render request)
            lv.image.setImage(lv.mosaic, autoLevels=False, levels=levels)
            lv.bar.setLevels(values=levels, update_items=False)

    def _draw_on_screen(self, *_args: Any) -> None:
        self._draw_stale(only_on_screen=True)

    def _on_view_resized(self, *_args: Any) -> None:
        if self._stale:
            # after the scene has followed the new size
            QtCore.QTimer.singleShot(0, self._draw_on_screen)

    def on_dock_visibility(self, visible: bool) -> None:
        """The window raised (True) or covered this panel's dock: draw what shows now."""
        if visible:
            QtCore.QTimer.singleShot(0, self._draw_on_screen)  # after the dock is laid out

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        QtCore.QTimer.singleShot(0, self._draw_on_screen)

    def _draw_zoom(self) -> None:
        if self._zoom is not None and self._zoom[0] in self._shown:
            self.zoom_view.show_channel(*self._zoom, self._shown[self._zoom[0]],
                                        symmetric=self.difference.isChecked())
            self._zoom_levels = self.zoom_view.levels

    def enlarge(self, layer: str, channel: int) -> None:
        """Show ``channel`` of ``layer`` in the large view with its own colour bar."""
        self._zoom = (layer, int(channel))
        self._draw_zoom()
        self.enlarged.emit(layer, int(channel))

    @property
    def zoom(self) -> tuple[str, int] | None:
        """(layer, channel) shown in the large view, or None."""
        return self._zoom

    def layer_image(self, name: str) -> np.ndarray | None:
        """The mosaic set on ``name``'s ImageItem (drawn now if it was off screen)."""
        self._draw_stale()
        lv = self._layers.get(name)
        return None if lv is None else lv.image.image

    def layer_levels(self, name: str) -> tuple[float, float]:
        self._draw_stale()
        return self._layers[name].levels

    def layer_layout(self, name: str) -> MosaicLayout:
        return self._layers[name].layout

    def layer_plot(self, name: str) -> pg.PlotItem:
        self._draw_stale()  # its view range follows its image
        return self._layers[name].plot

    # ---- hover and click -------------------------------------------------
    def describe(self, layer: str, row: int, col: int) -> dict[str, Any] | None:
        """What is under mosaic pixel ``(row, col)`` of ``layer``.

        Returns
        -------
        dict | None
            ``{"layer", "channel", "row", "col", "value"}`` (row/col inside the
            channel's map) or None over a gap or outside the mosaic.
        """
        lv = self._layers.get(layer)
        if lv is None or layer not in self._shown:
            return None
        hit = lv.layout.locate(row, col)
        if hit is None:
            return None
        ch, r, c = hit
        value = float(as_maps(self._shown[layer])[ch, r, c])
        return {"layer": layer, "channel": ch, "row": r, "col": c, "value": value}

    def _hit(self, scene_pos: QtCore.QPointF) -> dict[str, Any] | None:
        for name in self.visible_layers():
            vb = self._layers[name].plot.getViewBox()
            if not vb.sceneBoundingRect().contains(scene_pos):
                continue
            p = vb.mapSceneToView(scene_pos)
            return self.describe(name, math.floor(p.y()), math.floor(p.x()))
        return None

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        info = self._hit(scene_pos)
        if info is None:
            return
        text = (f"{info['layer']}  channel {info['channel']}  "
                f"(row {info['row']}, col {info['col']})  value {info['value']:.4g}")
        if self.difference.isChecked():
            text += "  (minus baseline)"
        self.hover_label.setText(text)
        self.view.setToolTip(text)
        self.hovered.emit(info)

    def _on_mouse_clicked(self, event: Any) -> None:
        info = self._hit(event.scenePos())
        if info is not None:
            self.enlarge(info["layer"], info["channel"])

    # ---- export contract -------------------------------------------------
    def export_items(self) -> dict[str, object]:
        """Numbers behind the view: per layer the shown array, its mosaic and levels."""
        self._draw_stale()  # an export shows every layer, on screen or not
        items: dict[str, object] = {}
        for name in self.visible_layers():
            if name not in self._shown:
                continue
            lv = self._layers[name]
            items[f"{name}"] = np.asarray(self._shown[name])
            items[f"{name}.mosaic"] = lv.mosaic
            items[f"{name}.levels"] = np.asarray(lv.levels, dtype=np.float64)
        if self._zoom is not None and self.zoom_image.image is not None:
            items["zoom"] = np.asarray(self.zoom_image.image)
        if self.result is not None and getattr(self.result, "values", None) is not None:
            items["input_values"] = np.asarray(self.result.values)
        return items

    def state(self) -> dict:
        """What produced the view (the workbench's model, data and input; toggles, zoom)."""
        st = dict(self.session.state())
        st.update(
            panel="activations",
            # the layers whose numbers are exported (none between a model switch and
            # the new model's first result)
            layers=[n for n in self.visible_layers() if n in self._shown],
            shared_scale=self.shared_scale.isChecked(),
            difference=self.difference.isChecked(),
            zoom=list(self._zoom) if self._zoom else None,
            colormap=DIVERGING_CMAP if self.difference.isChecked() else SEQUENTIAL_CMAP,
        )
        return st
