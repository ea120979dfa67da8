"""Feature-map mosaics: tile a layer's channels into one image.

A layer with C feature maps of size h x w is shown as a single image so that a
whole layer repaints with one ``ImageItem.setImage`` call.  Tiles are laid out
row-major (channel 0 top-left), separated by ``gap`` pixels of NaN so the gaps
render transparent and never influence colour levels.

The tiling is numpy only (a single pad + reshape + transpose): the activations
panel, the figure exports and the benchmarks share it; the GUI's
``app.widgets.mosaic.image_plot`` builds the pyqtgraph item a mosaic is shown in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# What researchers look at first (seed 000 §4): the model input (after the
# injection layer), encoder maps, the latent mean and spread, the decoder maps
# and the output.  ``latent.z`` is only shown for
# the decoder-only model, where it is the electrode input vector.
DEFAULT_LAYERS: tuple[str, ...] = (
    "input", "enc.act1", "enc.act2", "enc.act3", "latent.mu", "latent.sigma", "latent.z",
    "dec.act1", "dec.act2", "out",
)


@dataclass(frozen=True)
class MosaicLayout:
    """Geometry of one layer's mosaic.

    Attributes
    ----------
    n_channels
        Number of feature maps C.
    tile_h, tile_w
        Size of one feature map (h, w).
    nrows, ncols
        Tile grid.
    gap
        Pixels between neighbouring tiles.
    """

    n_channels: int
    tile_h: int
    tile_w: int
    nrows: int
    ncols: int
    gap: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the mosaic image (no trailing gap)."""
        g = self.gap
        return (self.nrows * (self.tile_h + g) - g, self.ncols * (self.tile_w + g) - g)

    def locate(self, row: int, col: int) -> tuple[int, int, int] | None:
        """Map a mosaic pixel to ``(channel, row_in_tile, col_in_tile)``.

        Returns None for gap pixels, empty trailing tiles and positions outside.
        """
        rows, cols = self.shape
        if row < 0 or col < 0 or row >= rows or col >= cols:
            return None
        ph, pw = self.tile_h + self.gap, self.tile_w + self.gap
        tr, r = divmod(int(row), ph)
        tc, c = divmod(int(col), pw)
        if r >= self.tile_h or c >= self.tile_w:
            return None
        channel = tr * self.ncols + tc
        if channel >= self.n_channels:
            return None
        return channel, r, c

    def tile_origin(self, channel: int) -> tuple[int, int]:
        """(row, col) of the top-left pixel of ``channel``'s tile in the mosaic."""
        tr, tc = divmod(int(channel), self.ncols)
        return tr * (self.tile_h + self.gap), tc * (self.tile_w + self.gap)


def as_maps(act: np.ndarray) -> np.ndarray:
    """View a per-sample activation as a stack of 2-D maps.

    Parameters
    ----------
    act
        ``(C, h, w)`` feature maps, ``(h, w)`` a single map, or ``(d,)`` a vector
        (each element becomes a 1 x 1 map so a latent shows as a 1-row strip).

    Returns
    -------
    np.ndarray
        ``(C, h, w)`` float32.
    """
    a = np.asarray(act, dtype=np.float32)
    if a.ndim == 1:
        return a.reshape(-1, 1, 1)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a
    raise ValueError(f"cannot tile an activation of shape {a.shape}")


def layout_for(shape: tuple[int, ...], gap: int = 1, ncols: int | None = None) -> MosaicLayout:
    """Choose a tile grid for an activation of per-sample ``shape``.

    Vectors become a single row with no gaps; C maps become a near-square grid
    (wider than tall, so layers fit side by side in a dock).
    """
    if len(shape) == 1:
        return MosaicLayout(int(shape[0]), 1, 1, 1, int(shape[0]), 0)
    if len(shape) == 2:
        return MosaicLayout(1, int(shape[0]), int(shape[1]), 1, 1, gap)
    c, h, w = (int(s) for s in shape)
    if ncols is None:
        ncols = max(1, math.ceil(math.sqrt(c * 2)))
        ncols = min(ncols, c)
    nrows = math.ceil(c / ncols)
    return MosaicLayout(c, h, w, nrows, ncols, gap)


def tile(maps: np.ndarray, layout: MosaicLayout, fill: float = np.nan) -> np.ndarray:
    """Tile ``(C, h, w)`` maps into a mosaic image.

    Parameters
    ----------
    maps
        ``(C, h, w)`` array matching ``layout`` (or anything :func:`as_maps` accepts).
    layout
        Geometry from :func:`layout_for`.
    fill
        Value of gap pixels and empty tiles (NaN renders transparent).

    Returns
    -------
    np.ndarray
        ``layout.shape`` float32 mosaic; tile k at ``layout.tile_origin(k)``.
    """
    m = as_maps(maps)
    c, h, w = m.shape
    if (c, h, w) != (layout.n_channels, layout.tile_h, layout.tile_w):
        raise ValueError(f"maps of shape {m.shape} do not match layout {layout}")
    g, nr, nc = layout.gap, layout.nrows, layout.ncols
    padded = np.full((nr * nc, h + g, w + g), fill, dtype=np.float32)
    padded[:c, :h, :w] = m
    # (nr, nc, h+g, w+g) -> (nr, h+g, nc, w+g): rows of tiles side by side.
    grid = padded.reshape(nr, nc, h + g, w + g).transpose(0, 2, 1, 3)
    img = grid.reshape(nr * (h + g), nc * (w + g))
    rows, cols = layout.shape
    return np.ascontiguousarray(img[:rows, :cols])


def finite_range(arrays: list[np.ndarray], symmetric: bool = False) -> tuple[float, float]:
    """Colour levels covering the finite values of ``arrays``.

    A constant or empty input gets a small non-zero span so colour bars stay
    valid; ``symmetric`` gives (-m, m) with m the largest magnitude (diverging maps).
    """
    lo, hi = np.inf, -np.inf
    for a in arrays:
        a = np.asarray(a)
        if a.size == 0:
            continue
        amin, amax = a.min(), a.max()
        if not (np.isfinite(amin) and np.isfinite(amax)):
            # NaN or inf somewhere (rare: mosaic gaps are added after the levels are
            # taken), so the masked pass is paid only then
            finite = a[np.isfinite(a)]
            if finite.size == 0:
                continue
            amin, amax = finite.min(), finite.max()
        lo, hi = min(lo, float(amin)), max(hi, float(amax))
    if not np.isfinite(lo) or not np.isfinite(hi):
        lo, hi = 0.0, 1.0
    if symmetric:
        m = max(abs(lo), abs(hi))
        m = m if m > 0 else 1e-6
        return -m, m
    if hi - lo <= 0:
        pad = max(abs(hi) * 1e-3, 1e-6)
        return lo - pad, hi + pad
    return lo, hi


def layer_arrays(result: Any) -> dict[str, np.ndarray]:
    """The per-sample arrays the panel shows, from a ForwardResult.

    Parameters
    ----------
    result
        ``eegmi.inference.ForwardResult`` (``activations`` dict of per-sample
        arrays, ``logvar (d,) | None``, ``recon (H, W)``).

    Returns
    -------
    dict[str, np.ndarray]
        Layer name -> float32 array (``(C, h, w)`` maps or ``(d,)`` vectors), in
        :data:`DEFAULT_LAYERS` order.  ``input`` is the model input image (after
        injection), ``latent.sigma`` is ``exp(logvar / 2)``.
    """
    acts = {k: np.asarray(v, dtype=np.float32) for k, v in dict(result.activations).items()}
    logvar = acts.get("latent.logvar")
    if logvar is None and getattr(result, "logvar", None) is not None:
        logvar = np.asarray(result.logvar, dtype=np.float32)
    if logvar is not None:
        acts["latent.sigma"] = np.exp(0.5 * logvar).astype(np.float32)
    if getattr(result, "model_input", None) is not None:
        acts["input"] = np.asarray(result.model_input, dtype=np.float32)
    if "out" not in acts and getattr(result, "recon", None) is not None:
        acts["out"] = np.asarray(result.recon, dtype=np.float32)
    if "latent.mu" in acts:
        acts.pop("latent.z", None)
    return {name: acts[name] for name in DEFAULT_LAYERS if name in acts}
