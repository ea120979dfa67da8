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
    invalid : (H, W) bool or None
        Non-finite pixels (None when there are none).
    """
    lo, hi = float(levels[0]), float(levels[1])
    span = hi - lo
    scale = n / (span if span != 0 else 1.0)
    x = np.asarray(image, dtype=np.float32)
    invalid = ~np.isfinite(x)
    has_invalid = bool(invalid.any())
    if has_invalid:
        x = np.where(invalid, lo, x)
    idx = np.clip((x - lo) * scale, 0, n - 1).astype(np.intp)
    return idx, (invalid if has_invalid else None)


class FastImageItem(pg.ImageItem):
    """``pg.ImageItem`` with a one-lookup render for 2-D images with a colour table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table_key: bytes | None = None
        self._table = np.zeros(0, np.uint32)
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive

    @property
    def render_pending(self) -> bool:
        """True while new data or levels are set but not yet rendered by a paint."""
        return bool(self._renderRequired)

    def _fast_inputs(self) -> tuple[np.ndarray, tuple[float, float], np.ndarray] | None:
        img, lut, levels = self.image, self.lut, self.levels
        if img is None or img.ndim != 2 or img.size == 0 or img.dtype.kind not in "fiu":
            return None
        if not isinstance(lut, np.ndarray) or lut.dtype != np.uint8 or lut.ndim != 2 \
                or lut.shape[1] not in (3, 4) or not 0 < lut.shape[0] <= 65536:
            return None
        if levels is None or np.ndim(levels) != 1 or len(levels) != 2 or self.autoDownsample:
            return None
        return img, (float(levels[0]), float(levels[1])), lut

    def render(self) -> None:
        inputs = self._fast_inputs()
        if inputs is None:
            super().render()
            return
        img, levels, lut = inputs
        key = lut.tobytes()
        if key != self._table_key:  # a new colour map: rebuild the word table once
            self._table_key = key
            self._table = premultiplied_table(lut)
        idx, invalid = colour_indices(img if self.axisOrder == "row-major" else img.T, levels, len(lut))
        pixels = self._table[idx]
        if invalid is not None:
            pixels[invalid] = 0  # transparent
        h, w = pixels.shape
        self._pixels = np.ascontiguousarray(pixels)
        self.qimage = QtGui.QImage(self._pixels.data, w, h, 4 * w,
                                   QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        self._renderRequired = False
        self._unrenderable = False
