"""Topomap images in pyqtgraph: nose up, left hemisphere left, with a colour bar.

Items are created once and updated with ``setImage(..., autoLevels=False)`` so
a click repaints within a frame instead of rebuilding the scene.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsEllipseItem, QWidget

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
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.invertY(True)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.levels = levels
        self.cmap = pg.colormap.get(cmap)
        self.image.setLookupTable(self.cmap.getLookupTable(nPts=256))
        self.image.setLevels(levels)
        self.overlay = pg.ScatterPlotItem(size=4, pen=pg.mkPen("w", width=1), brush=None,
                                          symbol="s", pxMode=False)
        self.plot.addItem(self.overlay)
        self.markers = pg.ScatterPlotItem(size=9, pen=pg.mkPen((255, 170, 0), width=2),
                                          brush=None, symbol="o")
        self.plot.addItem(self.markers)
        self.head = QGraphicsEllipseItem()
        self.head.setPen(pg.mkPen((200, 200, 200), width=1.5))
        self.head.setVisible(False)
        self.plot.addItem(self.head)
        self.colorbar = None
        if colorbar:
            self.colorbar = pg.ColorBarItem(values=levels, colorMap=self.cmap, interactive=False,
                                            width=12)
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
            self.colorbar.setLevels(lv)
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
            self.overlay.setData([])
            return
        rows, cols = np.nonzero(mask)
        self.overlay.setData(x=cols + 0.5, y=rows + 0.5, size=1.0)

    def set_markers(self, xy: np.ndarray | None) -> None:
        """Circle points ``xy (k, 2)`` given as (col, row) image coordinates."""
        if xy is None or len(xy) == 0:
            self.markers.setData([])
            return
        xy = np.asarray(xy, dtype=float)
        self.markers.setData(x=xy[:, 0] + 0.5, y=xy[:, 1] + 0.5)


def make_layout(parent: QWidget | None = None) -> pg.GraphicsLayoutWidget:
    """A GraphicsLayoutWidget with the project's defaults."""
    w = pg.GraphicsLayoutWidget(parent)
    w.ci.setContentsMargins(2, 2, 2, 2)
    return w
