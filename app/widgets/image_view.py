"""Topomap images in pyqtgraph: nose up, left hemisphere left, with a colour bar.

Items are created once and updated with ``setImage(..., autoLevels=False)`` so
a click repaints within a frame instead of rebuilding the scene.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QWidget

from app.widgets.colour_bar import ColourBar
from app.widgets.fast_image import FastImageItem

# images are (row, col) arrays with row 0 = front of the head
pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class TopoImagePlot:
    """One titled image (+ optional colour bar) inside a GraphicsLayout.

    Parameters
    ----------
    layout : pg.GraphicsLayout (or GraphicsLayoutWidget)
    title : str
    levels : (lo, hi)
        Fixed colour levels (model inputs live in [0, 1]).
    cmap : str
        pyqtgraph colour map name.
    colorbar : bool
    """

    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int = 0, col: int = 0,
                 levels: tuple[float, float] = (0.0, 1.0), cmap: str = "viridis",
                 colorbar: bool = True) -> None:
        self.plot = layout.addPlot(row=row, col=col, title=title)
        # the plot only arranges its children: Qt then skips its bounds in every repaint
        self.plot.setFlag(self.plot.GraphicsItemFlag.ItemHasNoContents)
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.invertY(True)
        self.image = FastImageItem()
        self.plot.addItem(self.image)
        self.levels = levels
        self.cmap = pg.colormap.get(cmap)
        self.image.setLookupTable(self.cmap.getLookupTable(nPts=256))
        self.image.setLevels(levels)
        # marks and markers are plain Qt items, painted in C++: pyqtgraph's scatter items
        # cost a Python paint each on every repaint of the image under them
        self.overlay = QGraphicsPathItem()
        self.overlay.setPen(_cosmetic_pen((255, 255, 255), 1))
        self.overlay.setVisible(False)
        self.plot.addItem(self.overlay)
        self.marks = np.zeros((0, 2), dtype=int)  # (k, 2) (row, col) of outlined pixels
        self._marker_items: list[QGraphicsEllipseItem] = []
        self._marker_xy = np.zeros((0, 2))
        self.head = QGraphicsEllipseItem()
        self.head.setPen(pg.mkPen((200, 200, 200), width=1.5))
        self.head.setVisible(False)
        self.plot.addItem(self.head)
        self.colorbar = None
        if colorbar:
            self.colorbar = ColourBar(values=levels, colorMap=self.cmap, width=12)
            self.colorbar.setImageItem(self.image)
            layout.addItem(self.colorbar, row=row, col=col + 1)
        self.data: np.ndarray | None = None

    def set_image(self, img: np.ndarray | None, levels: tuple[float, float] | None = None) -> None:
        """Show ``img (H, W)``; None clears it."""
        if img is None:
            self.data = None
            self.image.clear()
            return
        self.data = np.asarray(img, dtype=np.float32)
        lv = levels or self.levels
        first = self.image.image is None
        self.image.setImage(self.data, autoLevels=False, levels=lv)
        if self.colorbar is not None and lv != self.levels:
            self.colorbar.setLevels(lv, update_items=False)  # setImage brought the levels
        self.levels = lv
        if first:
            h, w = self.data.shape
            self.plot.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def set_head(self, center: np.ndarray, radius: float) -> None:
        """Outline the head disc: ``center`` (col, row) and ``radius`` in pixels."""
        cx, cy = float(center[0]) + 0.5, float(center[1]) + 0.5
        self.head.setRect(cx - radius, cy - radius, 2 * radius, 2 * radius)
        self.head.setVisible(True)

    def set_marks(self, mask: np.ndarray | None) -> None:
        """Outline the injection-layer mark pixels (``mask (H, W) bool``)."""
        if mask is None or not np.any(mask):
            self.marks = np.zeros((0, 2), dtype=int)
            self.overlay.setVisible(False)
            return
        self.marks = np.argwhere(mask)
        path = QPainterPath()
        for r, c in self.marks.tolist():
            path.addRect(c, r, 1, 1)
        self.overlay.setPath(path)
        self.overlay.setVisible(True)

    @property
    def marker_xy(self) -> np.ndarray:
        """(k, 2) (col, row) image coordinates of the circled points."""
        return self._marker_xy

    def set_markers(self, xy: np.ndarray | None) -> None:
        """Circle points ``xy (k, 2)`` given as (col, row) image coordinates."""
        xy = np.zeros((0, 2)) if xy is None or len(xy) == 0 else np.asarray(xy, dtype=float)
        if np.array_equal(xy, self._marker_xy):
            return  # the same electrodes: nothing to redraw
        self._marker_xy = xy
        while len(self._marker_items) < len(xy):
            # a fixed on-screen size (9 px) whatever the zoom, as a scatter symbol in px mode
            item = QGraphicsEllipseItem(-4.5, -4.5, 9, 9)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            item.setPen(_cosmetic_pen((255, 170, 0), 2))
            self.plot.addItem(item, ignoreBounds=True)
            self._marker_items.append(item)
        for k, item in enumerate(self._marker_items):
            if k < len(xy):
                item.setPos(float(xy[k, 0]) + 0.5, float(xy[k, 1]) + 0.5)
            item.setVisible(k < len(xy))


def _cosmetic_pen(rgb: tuple[int, int, int], width: float) -> QPen:
    """A pen ``width`` screen pixels wide whatever the view's scale."""
    pen = QPen(QColor(*rgb))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    return pen


def make_layout(parent: QWidget | None = None) -> pg.GraphicsLayoutWidget:
    """A GraphicsLayoutWidget with the project's defaults."""
    w = pg.GraphicsLayoutWidget(parent)
    w.ci.setContentsMargins(2, 2, 2, 2)
    return w
