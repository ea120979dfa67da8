"""A light colour bar for image items: gradient, frame, and a few labelled ticks.

pyqtgraph's ``ColorBarItem`` is a whole ``PlotItem``: four ``AxisItem`` s (three
of them only to draw a frame), a view box and a pixmap item.  Every change of
levels makes its value axis recompute tick positions, measure every label and
repaint, about 1.4 ms per bar on the 2-core reference machine; with the ten bars
a scalp click updates, that alone took most of the 16 ms frame
(``benchmarks/gui_latency.py``).  This item draws the same picture with one
``drawImage`` and a handful of pre-laid-out ``QStaticText`` labels, and keeps the
part of ``ColorBarItem`` 's interface the panels use (``setImageItem`` with
``insert_in``, ``setLevels``, ``levels``, ``setColorMap``, ``colorMap``), so it
drops in where a non-interactive vertical ``ColorBarItem`` was.  It is a plain
``QGraphicsWidget`` (not a pyqtgraph ``GraphicsWidget``), so Qt asks C++ for its
bounds during every repaint rather than a Python override.

The tick choice (:func:`nice_ticks`) and labels (:func:`tick_labels`) are plain
functions so they can be tested without a display.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

#: pixels between the bar and a tick label, and the tick length
TICK_PX, GAP_PX = 3, 2
#: the widest label the bar reserves room for before it has seen any
TEMPLATE_LABEL = "-0.000"


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> tuple[list[float], float]:
    """Tick values at a 1-2-5 step inside ``[lo, hi]``.

    Parameters
    ----------
    lo, hi
        The bar's levels (``lo < hi``; equal or reversed levels give no ticks).
    max_ticks
        At most this many ticks.

    Returns
    -------
    values : list of float, (k,)
        Multiples of ``step`` within ``[lo, hi]``, ascending.
    step : float
        The spacing (0 when there are no ticks).
    """
    # plain Python: this runs for every colour bar on every click
    span = float(hi) - float(lo)
    if not (math.isfinite(span) and span > 0):
        return [], 0.0
    raw = span / max(max_ticks - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    # k * step, and 0.0 rather than -0.0
    return [k * step if k else 0.0 for k in range(first, last + 1)], step


def tick_labels(values: list[float], step: float) -> list[str]:
    """Labels for ``values`` sharing one format, as short as the step allows.

    Fixed-point with as many decimals as ``step`` needs (at most 5); otherwise,
    for very large or very small numbers, scientific with enough significant
    digits that neighbouring ticks never read the same.
    """
    if not values or not step > 0:
        return []
    biggest = max(abs(v) for v in values)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if biggest < 1e4 and decimals <= 5 and (biggest >= 1e-3 or biggest == 0):
        return [f"{v:.{decimals}f}" for v in values]
    digits = max(2, math.ceil(math.log10(max(biggest, step) / step + 1e-12)) + 1)
    return [f"{v:.{digits}g}" for v in values]


class ColourBar(QtWidgets.QGraphicsWidget):
    """Vertical colour bar with ticks on its right, linked to one or more ImageItems.

    Parameters
    ----------
    values
        Initial levels ``(lo, hi)``.
    width
        Width of the gradient in pixels (the labels come on top of it).
    colorMap
        A pyqtgraph ``ColorMap`` or the name of one.
    """

    def __init__(self, values: tuple[float, float] = (0.0, 1.0), width: int = 10,
                 colorMap: Any = "viridis") -> None:
        super().__init__()
        self._bar_px = int(width)
        self.values: tuple[float, float] = (float(values[0]), float(values[1]))
        self._images: list[weakref.ReferenceType] = []
        self._cmap: Any = None
        self._gradient = QtGui.QImage()
        self._font = QtGui.QFont(QtWidgets.QApplication.font())
        self._metrics = QtGui.QFontMetricsF(self._font)
        self._ticks: list[tuple[float, str, QtGui.QStaticText]] = []
        self._texts: dict[str, tuple[QtGui.QStaticText, float]] = {}  # label -> (text, width)
        self._label_px = self._metrics.horizontalAdvance(TEMPLATE_LABEL)
        self._pen_key: Any = None
        self._pen = QtGui.QPen()
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Expanding)
        self._fit_width()
        self.setColorMap(colorMap)
        self._relabel()

    # ---- the part of ColorBarItem's interface the panels use ----------------
    def setImageItem(self, img: Any, insert_in: Any = None) -> None:  # noqa: N802 (pyqtgraph API)
        """Control ``img`` (an ImageItem or a list of them); with ``insert_in`` (a
        PlotItem) the bar goes to the right of its view box, as ``ColorBarItem`` does."""
        items = img if isinstance(img, (list, tuple)) else [img]
        self._images = [weakref.ref(i) for i in items]
        if insert_in is not None:
            insert_in.layout.addItem(self, 2, 5)
            insert_in.layout.setColumnFixedWidth(4, 5)
        self._apply(colour=True)

    def setColorMap(self, colorMap: Any) -> None:  # noqa: N802 (pyqtgraph API)
        """Use ``colorMap`` (ColorMap or name) for the bar and its images."""
        cmap = pg.colormap.get(colorMap) if isinstance(colorMap, str) else colorMap
        self._cmap = cmap
        lut = np.ascontiguousarray(cmap.getLookupTable(nPts=256, alpha=True)[::-1])  # high on top
        self._lut_rows = lut.reshape(256, 1, 4)
        self._gradient = QtGui.QImage(self._lut_rows.data, 1, 256, 4,
                                      QtGui.QImage.Format.Format_RGBA8888).copy()
        self._apply(colour=True)
        self.update()

    def colorMap(self) -> Any:  # noqa: N802 (pyqtgraph API)
        """The ColorMap in use."""
        return self._cmap

    def setLevels(self, values: tuple[float, float] | None = None, low: float | None = None,  # noqa: N802
                  high: float | None = None, update_items: bool = True) -> None:
        """Show levels ``values = (lo, hi)`` (or change only ``low``/``high``); with
        ``update_items`` the linked images get the same levels."""
        if values is not None:
            low, high = values
        lo = self.values[0] if low is None else float(low)
        hi = self.values[1] if high is None else float(high)
        if lo > hi:
            lo = hi = (lo + hi) / 2
        changed = (lo, hi) != self.values
        self.values = (lo, hi)
        if update_items:
            self._apply(colour=False)
        if changed:
            self._relabel()

    def levels(self) -> tuple[float, float]:
        """The levels shown, ``(lo, hi)``."""
        return self.values

    # ---- what is drawn ---------------------------------------------------
    def tick_values(self) -> list[tuple[float, str]]:
        """The labelled ticks currently drawn, ``[(value, label), ...]`` ascending."""
        return [(v, s) for v, s, _ in self._ticks]

    def _apply(self, colour: bool) -> None:
        for ref in self._images:
            img = ref()
            if img is None:
                continue
            if colour and self._cmap is not None:
                img.setColorMap(self._cmap)
            # an image without data would keep these as "deferred" levels and apply them
            # over the levels its first setImage(levels=...) brings
            if img.image is not None:
                img.setLevels(self.values)

    def _max_labels(self) -> int:
        """How many labels fit along the bar without touching (6 before any layout)."""
        height = self.size().height() - self._metrics.height()
        if height <= 1:
            return 6
        return max(1, min(6, int(height // (1.15 * self._metrics.height())) + 1))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._relabel()  # a shorter bar holds fewer labels

    def _relabel(self) -> None:
        fit = self._max_labels()
        lo, hi = self.values
        if fit >= 3:
            values, step = nice_ticks(lo, hi, fit)
            labels = tick_labels(values, step)
        else:  # a strip a line or two high: its ends only
            values = [lo, hi] if fit == 2 and hi > lo else [hi]
            labels = [f"{v:.3g}" for v in values]
        if len(self._texts) > 512:  # levels change with every click: keep the cache bounded
            self._texts.clear()
        self._ticks = []
        widest = 0.0
        for v, s in zip(values, labels, strict=True):
            cached = self._texts.get(s)
            if cached is None:
                text = QtGui.QStaticText(s)
                text.setTextFormat(QtCore.Qt.TextFormat.PlainText)
                text.prepare(QtGui.QTransform(), self._font)
                cached = self._texts[s] = (text, self._metrics.horizontalAdvance(s))
            self._ticks.append((v, s, cached[0]))
            widest = max(widest, cached[1])
        if widest > self._label_px:  # grow only: a bar that shrinks and grows jitters the layout
            self._label_px = widest
            self._fit_width()
        self.update()

    def _fit_width(self) -> None:
        w = self._bar_px + TICK_PX + GAP_PX + math.ceil(self._label_px) + 2
        self.setMinimumWidth(w)
        self.setMaximumWidth(w)
        self.setPreferredWidth(w)

    def _bar_rect(self) -> QtCore.QRectF:
        # half a text line above and below, so the end labels fit inside the item
        half = self._metrics.height() / 2
        r = self.boundingRect()
        return QtCore.QRectF(r.left() + 0.5, r.top() + half, self._bar_px, max(r.height() - 2 * half, 1.0))

    def paint(self, p: QtGui.QPainter, *_args: Any) -> None:
        bar = self._bar_rect()
        p.drawImage(bar, self._gradient)
        # the theme's foreground, read at paint time so a theme switch needs no hook
        fg = pg.getConfigOption("foreground")
        if fg != self._pen_key:
            self._pen_key, self._pen = fg, QtGui.QPen(pg.mkColor(fg), 1)
        p.setPen(self._pen)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
        lo, hi = self.values
        if not self._ticks or hi <= lo:
            return
        p.setFont(self._font)
        half = self._metrics.height() / 2
        x0, x1, xt = bar.right(), bar.right() + TICK_PX, bar.right() + TICK_PX + GAP_PX
        bottom, per_value = bar.bottom(), bar.height() / (hi - lo)
        for v, _s, text in self._ticks:
            y = bottom - (v - lo) * per_value
            p.drawLine(QtCore.QLineF(x0, y, x1, y))
            p.drawStaticText(QtCore.QPointF(xt, y - half), text)
