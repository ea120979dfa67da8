"""The enlarged view of one channel of a layer, with its own colour bar and read-out."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from app.widgets.mosaic import image_plot
from eegmi.mosaic import as_maps, finite_range

EMPTY_TITLE = "click a channel to enlarge it"


class ChannelZoom(pg.GraphicsLayoutWidget):
    """One channel map (or a whole vector strip) drawn large.

    Signals
    -------
    hovered(str): a read-out line for the pixel under the pointer
    """

    hovered = QtCore.Signal(str)

    def __init__(self, cmap: str) -> None:
        super().__init__()
        self.setBackground("w")
        self.plot, self.image, self.bar = image_plot(EMPTY_TITLE, cmap)
        self.addItem(self.plot)
        self.levels: tuple[float, float] = (0.0, 1.0)
        #: (layer, channel) shown, or None
        self.channel: tuple[str, int] | None = None
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.setMinimumWidth(160)

    def show_channel(self, layer: str, channel: int, array: np.ndarray, symmetric: bool) -> bool:
        """Draw ``channel`` of a layer's array (``(C, H, W)`` maps or a ``(d,)`` vector,
        whose whole strip is shown); False when the channel does not exist."""
        maps = as_maps(array)
        if channel >= maps.shape[0]:
            return False
        img = maps[channel]
        if img.shape[0] == 1 and img.shape[1] == 1:
            img = maps[:, 0, 0][None, :]  # a vector: show the whole strip
        self.channel = (layer, int(channel))
        self.levels = finite_range([img], symmetric=symmetric)
        self.image.setImage(img, autoLevels=False, levels=self.levels)
        self.bar.setLevels(values=self.levels, update_items=False)
        self.plot.setTitle(f"{layer}  channel {channel}", size="9pt")
        self.plot.getViewBox().autoRange(padding=0.02)
        return True

    def reset(self) -> None:
        """Show nothing (the channel belonged to another model or input).

        Not named ``clear``: pyqtgraph binds the layout's own ``clear`` (remove every
        item) onto each GraphicsLayoutWidget instance, which would shadow it."""
        self.channel = None
        self.image.clear()
        self.plot.setTitle(EMPTY_TITLE, size="9pt")

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        img = self.image.image
        if self.channel is None or img is None:
            return
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        r, c = math.floor(p.y()), math.floor(p.x())
        if 0 <= r < img.shape[0] and 0 <= c < img.shape[1]:
            self.hovered.emit(f"{self.channel[0]}  channel {self.channel[1]}  "
                              f"(row {r}, col {c})  value {float(img[r, c]):.4g}")
