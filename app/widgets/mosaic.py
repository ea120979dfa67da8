"""The pyqtgraph item a feature-map mosaic (:mod:`eegmi.mosaic`) is shown in."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

from app.widgets.colour_bar import ColourBar
from app.widgets.fast_image import FastImageItem


def image_plot(title: str, cmap: str) -> tuple[Any, Any, Any]:
    """A titled, axis-free PlotItem with one row-major ImageItem and a colour bar.

    Returns ``(PlotItem, ImageItem, ColourBar)``; row 0 is drawn at the top.
    """
    plot = pg.PlotItem()
    # the plot only arranges its children: telling Qt so spares a Python bounds call
    # for it in every repaint
    plot.setFlag(plot.GraphicsItemFlag.ItemHasNoContents)
    plot.setTitle(title, size="9pt")
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setMenuEnabled(False)
    plot.hideButtons()
    vb = plot.getViewBox()
    vb.invertY(True)  # row 0 (nose / first tile row) at the top
    vb.setAspectLocked(True)
    vb.setMouseEnabled(x=False, y=False)
    image = FastImageItem(axisOrder="row-major")
    plot.addItem(image)
    bar = ColourBar(values=(0.0, 1.0), width=10, colorMap=cmap)
    bar.setImageItem(image, insert_in=plot)
    return plot, image, bar
