"""An ImageItem whose colour mapping is one table lookup into a premultiplied QImage.

pyqtgraph's ``ImageItem`` renders a float image with levels and a colour map
through a general path (NaN scan, substrate checks, an ``Indexed8`` or
``RGBA8888`` QImage).  Qt must then convert that QImage to premultiplied ARGB on
every paint.  For the small images of this workbench (a 40 x 40 topomap, a
layer mosaic of up to 83 x 167 pixels) that generality costs about half a
millisecond per image, and a scalp click repaints about ten of them within one
16 ms frame (``benchmarks/gui_latency.py``).

:class:`FastImageItem` keeps everything of ``ImageItem`` (``setImage``,
``setLevels``, ``setColorMap``, ``image``, bounds, export) and replaces only
:meth:`render` for the case the workbench uses: a 2-D image with scalar levels
and a ``(256, 3|4)`` uint8 colour table.  It maps values to colour indices
exactly as pyqtgraph does (``index = clip((x - lo) * n / (hi - lo), 0, n - 1)``)
and looks them up in a premultiplied ``0xAARRGGBB`` table, so the result is the
QImage format Qt draws without conversion.  Non-finite pixels (the gaps between
mosaic tiles) are transparent, as in pyqtgraph.  Anything else (RGB data, levels
per channel, no colour table) goes through pyqtgraph's own path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui


def premultiplied_table(lut: np.ndarray) -> np.ndarray:
    """A colour table as premultiplied ``0xAARRGGBB`` words.

    Parameters
    ----------
    lut
        ``(n, 3)`` or ``(n, 4)`` uint8 RGB(A) table.

    Returns
    -------
    np.ndarray
        ``(n,)`` uint32, the pixel values of ``QImage.Format_ARGB32_Premultiplied``.
    """
    lut = np.asarray(lut)
    rgb = lut[:, :3].astype(np.uint32)
    a = lut[:, 3].astype(np.uint32) if lut.shape[1] == 4 else np.full(len(lut), 255, np.uint32)
    rgb = (rgb * a[:, None] + 127) // 255
    return (a << 24) | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


def colour_indices(image: np.ndarray, levels: tuple[float, float], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour-table index of every pixel, as pyqtgraph computes it.

    Parameters
    ----------
    image
        ``(H, W)`` values.
    levels
        ``(lo, hi)``; values at ``lo`` get index 0, at ``hi`` and above ``n - 1``.
    n
        Entries in the colour table.

    Returns
    -------
    index : (H, W) intp
    nan : (H, W) bool or None
        NaN pixels, drawn transparent (None when there are none).  Infinities
        take the end colours, as in pyqtgraph.
    """
    lo, hi = float(levels[0]), float(levels[1])
    span = hi - lo
    scale = n / (span if span != 0 else 1.0)
    x = np.asarray(image, dtype=np.float32)
    # one reduction tells whether there is any NaN (it propagates through min)
    nan = np.isnan(x) if np.isnan(x.min()) else None
    t = np.subtract(x, np.float32(lo), dtype=np.float32)
    t *= np.float32(scale)
    # fmax/fmin (unlike clip) send NaN to 0, so the integer cast below is defined
    np.fmax(t, 0, out=t)
    np.fmin(t, n - 1, out=t)
    return t.astype(np.intp), nan


class FastImageItem(pg.ImageItem):
    """``pg.ImageItem`` with a one-lookup render for 2-D images with a colour table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lut_seen: Any = None  # the colour table the word table was built from
        self._table = np.zeros(0, np.uint32)
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive

    def _word_table(self, lut: Any) -> np.ndarray | None:
        """The premultiplied table for ``lut``, or None when ``lut`` is not a colour table."""
        if lut is self._lut_seen:
            return self._table
        if not isinstance(lut, np.ndarray) or lut.dtype != np.uint8 or lut.ndim != 2 \
                or lut.shape[1] not in (3, 4) or not 0 < lut.shape[0] <= 65536:
            return None
        self._lut_seen, self._table = lut, premultiplied_table(lut)
        return self._table

    def render(self) -> None:
        # this runs for about ten images on every scalp click: keep it to a few numpy calls
        img, levels = self.image, self.levels
        table = self._word_table(self.lut)
        if (table is None or img is None or img.ndim != 2 or img.size == 0
                or img.dtype.kind not in "fiu" or levels is None or len(levels) != 2
                or np.ndim(levels) != 1 or self.autoDownsample):
            super().render()
            return
        if self.axisOrder != "row-major":
            img = img.T
        idx, nan = colour_indices(img, (levels[0], levels[1]), len(table))
        pixels = table.take(idx)
        if nan is not None:
            pixels[nan] = 0  # transparent
        h, w = pixels.shape
        self._pixels = pixels
        self.qimage = QtGui.QImage(pixels.data, w, h, 4 * w,
                                   QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        self._renderRequired = False
        self._unrenderable = False
