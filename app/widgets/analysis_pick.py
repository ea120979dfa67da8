"""Image views for the saliency panel: pick a pixel or drag a region; map over a head.

:class:`PickImagePlot` shows an ``(H, W)`` image (row 0 at the top, nose up) in
a view box that turns a left click into ``pixelPicked(row, col)`` and a left
drag into ``regionPicked(r0, c0, r1, c1)`` (ends exclusive, clipped to the
image), drawing the chosen pixel / rectangle.  :func:`add_head_outline` draws
the head disc with a nose on top of any image plot; :func:`add_colour_bar` puts
a labelled colour bar beside one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from app.widgets.colour_bar import ColourBar

#: the diverging colour map of signed maps (attributions): blue < 0 < red
DIVERGING = "CET-D1"


class PickViewBox(pg.ViewBox):
    """A view box whose left click picks a pixel and whose left drag picks a rectangle."""

    pixelPicked = QtCore.Signal(int, int)
    regionPicked = QtCore.Signal(int, int, int, int)

    def __init__(self, size: int = 40) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.size = int(size)
        self.setMouseEnabled(x=False, y=False)
        self.rect_item = pg.PlotCurveItem(pen=pg.mkPen((255, 80, 0), width=2))
        self.addItem(self.rect_item)
        self.rect_item.setZValue(10)

    def _cell(self, scene_pos: QtCore.QPointF) -> tuple[int, int]:
        p = self.mapSceneToView(scene_pos)
        r = min(max(math.floor(p.y()), 0), self.size - 1)
        c = min(max(math.floor(p.x()), 0), self.size - 1)
        return r, c

    def show_box(self, r0: int, c0: int, r1: int, c1: int) -> None:
        """Outline rows ``r0:r1`` and columns ``c0:c1`` (ends exclusive)."""
        self.rect_item.setData([c0, c1, c1, c0, c0], [r0, r0, r1, r1, r0])

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        ev.accept()
        r, c = self._cell(ev.scenePos())
        self.show_box(r, c, r + 1, c + 1)
        self.pixelPicked.emit(r, c)

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        ra, ca = self._cell(ev.buttonDownScenePos())
        rb, cb = self._cell(ev.scenePos())
        r0, r1 = min(ra, rb), max(ra, rb) + 1
        c0, c1 = min(ca, cb), max(ca, cb) + 1
        self.show_box(r0, c0, r1, c1)
        if ev.isFinish():
            self.regionPicked.emit(r0, c0, r1, c1)


def add_head_outline(plot: Any, center: np.ndarray, radius: float) -> list[Any]:
    """Draw the head disc and a nose (towards row 0) on ``plot``; returns the items.

    Parameters
    ----------
    center
        ``(2,)`` (col, row) of the disc centre in pixel-index units.
    radius
        Disc radius in pixels.
    """
    cx, cy = float(center[0]) + 0.5, float(center[1]) + 0.5
    t = np.linspace(0.0, 2.0 * np.pi, 121)
    pen = pg.mkPen((60, 60, 60), width=1.5)
    circle = pg.PlotCurveItem(cx + radius * np.cos(t), cy + radius * np.sin(t), pen=pen)
    nose = pg.PlotCurveItem([cx - 0.18 * radius, cx, cx + 0.18 * radius],
                            [cy - 0.98 * radius, cy - 1.15 * radius, cy - 0.98 * radius], pen=pen)
    for item in (circle, nose):
        item.setZValue(5)
        plot.addItem(item)
    return [circle, nose]


def image_plot(layout: pg.GraphicsLayout, title: str, row: int, col: int,
               view_box: pg.ViewBox | None = None) -> pg.PlotItem:
    """An axis-free, aspect-locked plot with row 0 at the top."""
    plot = layout.addPlot(row=row, col=col, title=title, viewBox=view_box)
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setMenuEnabled(False)
    plot.hideButtons()
    vb = plot.getViewBox()
    vb.invertY(True)
    vb.setAspectLocked(True)
    vb.setMouseEnabled(x=False, y=False)
    return plot


def add_colour_bar(plot: pg.PlotItem, image: pg.ImageItem | None = None,
                   cmap: str = DIVERGING) -> ColourBar:
    """A colour bar right of ``plot``'s view; with ``image`` it also sets that image's
    colour map and levels (``bar.setLevels``), without one it only shows a scale (the
    colours of scatter points, say)."""
    bar = ColourBar(values=(-1.0, 1.0), width=10, colorMap=cmap)
    bar.setImageItem([] if image is None else image, insert_in=plot)
    return bar


def diverging_lut(n: int = 256, alpha: int = 255) -> np.ndarray:
    """Blue-white-red lookup table ``(n, 4)`` uint8 with constant ``alpha``."""
    cmap = pg.colormap.get(DIVERGING)
    lut = cmap.getLookupTable(nPts=n, alpha=True)
    lut = np.asarray(lut, dtype=np.uint8).copy()
    lut[:, 3] = alpha
    return lut


def symmetric_levels(a: np.ndarray) -> tuple[float, float]:
    """``(-m, m)`` with ``m`` the largest finite |value| (1 when there is none)."""
    finite = np.asarray(a)[np.isfinite(a)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    m = m if m > 0 else 1.0
    return -m, m
