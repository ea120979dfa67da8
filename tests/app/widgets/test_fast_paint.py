"""The fast paint paths draw exactly what the general ones drew.

``FastImageItem`` against pyqtgraph's own ``ImageItem`` render, ``ColourBar``
against the levels and colours it controls, and the scalp map's incremental
canvas against a full repaint of the same state.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage

from app.widgets.colour_bar import ColourBar, nice_ticks, tick_labels
from app.widgets.fast_image import FastImageItem, colour_indices
from app.widgets.scalp_map import ScalpMap


def _pixels(item: pg.ImageItem) -> np.ndarray:
    """The item's rendered QImage as premultiplied ARGB words (H, W) uint32."""
    item.render()
    q = item.qimage.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    words = np.frombuffer(q.constBits(), np.uint32, q.height() * q.bytesPerLine() // 4)
    return words.reshape(q.height(), q.bytesPerLine() // 4)[:, :q.width()].copy()


@pytest.mark.parametrize("cmap", ["viridis", "CET-D1"])
def test_fast_render_matches_pyqtgraph(qapp, cmap) -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(size=(47, 95)).astype(np.float32)
    img[::6] = np.nan  # mosaic gaps
    img[3, 3], img[4, 4] = np.inf, -np.inf
    shown = []
    for cls in (pg.ImageItem, FastImageItem):
        item = cls(axisOrder="row-major")
        item.setColorMap(pg.colormap.get(cmap))
        item.setImage(img, autoLevels=False, levels=(-1.5, 2.0))
        shown.append(_pixels(item))
    np.testing.assert_array_equal(shown[1], shown[0])
    assert np.all(shown[1][::6] == 0)  # NaN is transparent


def test_fast_render_column_major_and_fallback(qapp) -> None:
    rng = np.random.default_rng(1)
    img = rng.random((20, 30)).astype(np.float32)
    ref, fast = pg.ImageItem(axisOrder="col-major"), FastImageItem(axisOrder="col-major")
    for item in (ref, fast):
        item.setColorMap(pg.colormap.get("viridis"))
        item.setImage(img, autoLevels=False, levels=(0.2, 0.8))
    np.testing.assert_array_equal(_pixels(fast), _pixels(ref))
    # RGB data has no colour table to look up: pyqtgraph's own path draws it
    rgb = (rng.random((10, 12, 3)) * 255).astype(np.uint8)
    ref, fast = pg.ImageItem(axisOrder="row-major"), FastImageItem(axisOrder="row-major")
    for item in (ref, fast):
        item.setImage(rgb, autoLevels=False)
    np.testing.assert_array_equal(_pixels(fast), _pixels(ref))


def test_colour_indices_ends_and_nan() -> None:
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]], np.float32)
    idx, nan = colour_indices(x, (0.0, 1.0), 256)
    assert idx[0, :5].tolist() == [0, 0, 128, 255, 255]
    assert nan is not None and nan.tolist() == [[False] * 5 + [True]]
    _, nan = colour_indices(x[:, :5], (0.0, 1.0), 256)
    assert nan is None


@pytest.mark.parametrize("lo,hi", [(0, 1), (-0.2, 0.75), (-2.77, 3.08), (1e-6, 3e-6),
                                   (0, 25000), (0.123, 0.1234), (1000.5, 1000.6), (-1e-5, 1e-5)])
def test_ticks_are_nice_inside_and_distinct(lo, hi) -> None:
    values, step = nice_ticks(lo, hi)
    labels = tick_labels(values, step)
    assert 2 <= len(values) <= 6
    assert all(lo - 1e-12 <= v <= hi + 1e-12 for v in values)
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
    assert len(set(labels)) == len(labels)  # neighbours never read the same
    assert all(abs(float(s) - v) <= step / 2 for s, v in zip(labels, values, strict=True))


def test_degenerate_levels_have_no_ticks() -> None:
    assert nice_ticks(2.0, 2.0) == ([], 0.0)
    assert nice_ticks(3.0, 1.0) == ([], 0.0)
    assert nice_ticks(0.0, float("nan")) == ([], 0.0)


def test_colour_bar_controls_its_image(qtbot) -> None:
    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    plot = view.addPlot()
    image = FastImageItem(axisOrder="row-major")
    plot.addItem(image)
    bar = ColourBar(values=(0.0, 1.0), colorMap="viridis")
    bar.setImageItem(image, insert_in=plot)
    view.show()
    image.setImage(np.random.default_rng(2).random((8, 8)).astype(np.float32),
                   autoLevels=False, levels=(0.0, 1.0))
    bar.setLevels((-0.5, 2.0))
    assert tuple(image.levels) == (-0.5, 2.0) and bar.levels() == (-0.5, 2.0)
    assert [s for _, s in bar.tick_values()] == ["-0.5", "0.0", "0.5", "1.0", "1.5", "2.0"]
    bar.setLevels((0.0, 4.0), update_items=False)  # the bar follows, the image keeps its own
    assert tuple(image.levels) == (-0.5, 2.0) and bar.levels() == (0.0, 4.0)
    cmap = pg.colormap.get("CET-D1")
    bar.setColorMap(cmap)
    assert bar.colorMap() is cmap
    np.testing.assert_array_equal(image.lut, cmap.getLookupTable(nPts=256))
    # the bar is laid out beside the view box and wide enough for its widest label
    width = bar.geometry().width()
    assert width >= bar._metrics.horizontalAdvance("-0.5") + 10
    assert bar.geometry().left() >= plot.getViewBox().geometry().right()


def test_scalp_canvas_repaints_only_what_changed_and_matches_full_paint(qtbot) -> None:
    rng = np.random.default_rng(3)
    names = [f"E{i}" for i in range(12)]
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    xy = np.stack([20 + 12 * np.cos(angles), 20 + 12 * np.sin(angles)], axis=1)
    maps = []
    for _ in range(2):
        m = ScalpMap()
        qtbot.addWidget(m)
        m.resize(300, 300)
        m.set_geometry(names, xy, np.array([20.0, 20.0]), 18.0)
        m.show()
        qtbot.waitExposed(m)
        maps.append(m)
    incremental, fresh = maps
    incremental.grab()  # first full paint, then a series of small changes
    for _ in range(4):
        values = np.zeros(12, np.float32)
        i = int(rng.integers(12))
        values[i] = rng.uniform(0.3, 1.0)
        incremental.set_values(values, {i: float(values[i])})
        incremental.grab()
    incremental._hover = 5
    incremental._request_repaint()
    final = incremental.grab().toImage()
    fresh.set_values(incremental.values, incremental.selected)
    fresh._hover = 5
    expected = fresh.grab().toImage()
    assert final == expected


@pytest.mark.parametrize("height", [24, 40, 70, 120, 300])
def test_colour_bar_labels_never_touch(qapp, height) -> None:
    bar = ColourBar(values=(-5.3, 6.1))
    bar.resize(60, height)
    ticks = bar.tick_values()
    assert 1 <= len(ticks) <= 6
    text_h = bar._metrics.height()
    rect = bar._bar_rect()
    ys = [rect.bottom() - (v + 5.3) / 11.4 * rect.height() for v, _ in ticks]
    assert all(abs(a - b) >= text_h for a, b in zip(ys, ys[1:], strict=False))
    if height >= 120:
        assert len(ticks) >= 3  # a tall bar gets a proper scale
