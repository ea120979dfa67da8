"""Colour scales and units say what is shown: scalp map and model input follow the injected
amplitude, the amplitude limit is shown and clips are reported, the strip has units,
saliency maps and SAE cards carry their colour scales."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
import pytest
from gui_fixtures import (
    loaded_session,
    shown_scalp_panel,
    train_tiny_sae,
    write_tiny_data,
    write_tiny_model,
)
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem

from app.panels.scalp import ScalpPanel, input_levels
from eegmi.workbench import AMPLITUDE_RANGE


@pytest.fixture
def panel(qtbot):
    p = shown_scalp_panel(qtbot)
    yield p
    p.session.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("colour_scales")
    return {"data": write_tiny_data(root / "tiny.npz", seed=1),
            "model": write_tiny_model(root / "tiny_vae", seed=3, latent=4)}


def _inject(qtbot, p: ScalpPanel, mix: dict[str, float]) -> None:
    s = p.session
    with qtbot.waitSignal(s.forward_ready, timeout=10000):
        s.workbench.inject(mix)
    QApplication.processEvents()


def _viridis(x: float) -> QColor:
    r, g, b = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256)[int(round(x * 255))][:3]
    return QColor(int(r), int(g), int(b))


def _close(a: QColor, b: QColor, tol: int = 12) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= tol


def test_input_levels_cover_values_and_amplitudes() -> None:
    assert input_levels([np.array([0.2, 0.9])]) == (0.0, 1.0)
    assert input_levels([np.array([0.0, 2.0]), None]) == (0.0, 2.0)
    assert input_levels([np.array([0.0, 0.5, np.nan])], [-1.5]) == (-1.5, 1.0)
    lo, hi = input_levels([np.array([-0.03, 1.234])])
    assert lo <= -0.03 and hi >= 1.234 and (lo, hi) == (-0.1, 1.3)


def test_amplitude_2_is_shown_as_2_on_map_bar_and_model_input(qtbot, panel) -> None:
    op = panel.session.operator
    _inject(qtbot, panel, {"Cz": 2.0, "Pz": 1.0})
    shown = panel.input_plot.image.image
    np.testing.assert_allclose(shown, op.render(panel.session.values), atol=1e-6)
    lo, hi = panel.input_plot.image.levels
    # the model input's levels cover what it shows (2 at Cz), its colour bar says so
    assert lo <= float(np.nanmin(shown)) and hi >= float(np.nanmax(shown)) >= 1.9
    assert tuple(panel.input_plot.colorbar.levels()) == (lo, hi)
    assert panel.input_plot.colorbar.tick_values()[-1][0] == pytest.approx(hi)
    # the scalp map colours electrodes from 0 to 2, with its own colour bar (the image's
    # scale also covers its undershoot between electrodes)
    assert hi == 2.0 and panel.scalp.levels == (0.0, 2.0)
    ticks = panel.scalp.bar_ticks()
    assert ticks[0] == (0.0, "0.0") and ticks[-1] == (2.0, "2.0")
    lo, hi = panel.scalp.levels
    img = panel.scalp.grab().toImage()
    ratio = img.devicePixelRatio()
    mr = panel.scalp._marker_radius()

    def fill(name: str) -> QColor:  # inside the marker, below its label
        c = panel.scalp.electrode_pos(op.montage.index(name))
        return img.pixelColor(int(c.x() * ratio), int((c.y() + 0.75 * mr) * ratio))

    assert _close(fill("Cz"), _viridis(1.0))
    # amplitude 1 is part way up the scale, not at its top as it was when 1 was the top
    assert _close(fill("Pz"), _viridis((1.0 - lo) / (hi - lo)))
    assert not _close(fill("Pz"), _viridis(1.0), tol=40)
    bar = panel.scalp.bar_rect()
    top = img.pixelColor(int(bar.center().x() * ratio), int((bar.top() + 3) * ratio))
    assert _close(top, _viridis(1.0))


def test_negative_amplitude_widens_the_scale_down(qtbot, panel) -> None:
    _inject(qtbot, panel, {"O1": -1.5})
    lo, hi = panel.input_plot.image.levels
    assert lo <= -1.5 and lo <= float(np.nanmin(panel.input_plot.image.image))
    assert panel.scalp.levels == (-1.5, 1.0)
    lo, hi = panel.scalp.levels
    ticks = panel.scalp.bar_ticks()
    assert ticks[0][0] <= -1.0 and all(lo <= v <= hi for v, _ in ticks)


def test_amplitude_limit_shown_and_clips_reported(qtbot, panel) -> None:
    lo, hi = AMPLITUDE_RANGE
    assert f"±{hi:g}" in panel.amp_limit.text() and panel.amp_limit.isVisible()
    assert f"±{hi:g}" in panel.amp.toolTip()
    panel.amp.setValue(3.0)  # typed beyond the limit
    qtbot.waitUntil(lambda: panel.session.input.amplitude == hi and panel.amp.value() == hi, timeout=3000)
    assert "+3.00 clipped to +2" in panel.clip_message
    # the wheel over an electrode past the limit
    op = panel.session.operator
    _inject(qtbot, panel, {"Cz": 1.95})
    panel.clip_message = ""
    pos = panel.scalp.electrode_pos(op.montage.index("Cz"))
    ev = QWheelEvent(pos, panel.scalp.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(panel.scalp, ev)
    qtbot.waitUntil(lambda: panel.session.input.mix.get("Cz") == hi, timeout=3000)
    assert panel.clip_message.startswith("Cz amplitude +2.05 clipped to +2")
    panel.clip_message = ""
    panel.amp.setValue(-0.5)  # inside the limit: nothing to report
    assert panel.clip_message == ""


def test_clip_reaches_the_window_status_line(qtbot, isolated_settings) -> None:
    from app.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.panels["scalp"].amp.setValue(-7.0)
    assert "-7.00 clipped to -2" in win.statusBar().currentMessage()
    win.close()


def test_strip_in_seconds_and_data_units(qtbot, panel, files) -> None:
    s = panel.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        s.set_data(files["data"])
    s.workbench.set_frame(25)
    qtbot.waitUntil(lambda: panel.dataset_box.isVisible(), timeout=3000)
    bottom, left = panel.strip.getAxis("bottom"), panel.strip.getAxis("left")
    assert (bottom.labelText, bottom.labelUnits) == ("time in trial", "s")
    assert left.labelText == "µV"
    assert panel.strip.minimumHeight() >= 90  # room for its axis labels in a short dock
    sfreq = s.data.sfreq
    np.testing.assert_allclose(panel.gfp_curve.xData, np.arange(20) / sfreq)
    assert panel.cursor.value() == pytest.approx(5 / sfreq)
    np.testing.assert_allclose(panel.gfp_curve.yData, np.asarray(s.data.values[20:40]).std(axis=1),
                               rtol=1e-5)
    # a recording without a physical unit: the strip shows the model's scaled values
    bare = dataclasses.replace(s.data, provenance={})
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        s.use_data("bare", bare)
    s.workbench.set_frame(25)
    qtbot.waitUntil(lambda: left.labelText == "scaled units", timeout=3000)
    scaled = s.scaler.transform(np.asarray(bare.values[20:40]))
    np.testing.assert_allclose(panel.gfp_curve.yData, scaled.std(axis=1), rtol=1e-4, atol=1e-6)


# ---- saliency ------------------------------------------------------------------------
@pytest.fixture
def session(qtbot, files):
    s = loaded_session(qtbot, files["model"], files["data"])
    yield s
    s.shutdown()


def test_saliency_map_and_electrodes_have_colour_bars(qtbot, session) -> None:
    from app.panels.saliency import SaliencyPanel
    from app.widgets.analysis_pick import symmetric_levels
    from eegmi.data.injection import mix

    p = SaliencyPanel(session)
    qtbot.addWidget(p)
    p.resize(1000, 650)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(session.forward_ready, timeout=10000):
        session.set_values(mix({"Fz": 1.0, "O1": 0.7}, session.operator.montage))
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    shown = p.map_image.image
    levels = symmetric_levels(shown)
    assert tuple(p.map_image.levels) == pytest.approx(levels)
    assert p.map_bar.levels() == pytest.approx(levels) and p.map_bar.isVisible()
    assert p.map_bar.tick_values()  # labelled
    assert p.map_bar.colorMap().name == "CET-D1"
    assert p.elec_bar.levels() == pytest.approx(symmetric_levels(p.electrode_attribution()))
    assert p.elec_bar.isVisible() and p.elec_bar.tick_values()


# ---- SAE cards -------------------------------------------------------------------------
def test_sae_card_colour_keys_show_the_thumbnail_scales(qtbot, session) -> None:
    from app.panels.sae import SaeGalleryPanel
    from app.panels.sae.feature_card import CARD_H, CARD_W, FeatureCardDelegate, to_qimage

    p = SaeGalleryPanel(session)
    qtbot.addWidget(p)
    p.resize(1000, 600)
    p.show()
    train_tiny_sae(qtbot, p, 8)
    model = p.model
    i = model.feature_at(0)
    keys = model.colour_keys(i)
    assert keys[0] == ("inputs", "viridis", 0.0, 1.0)
    arr, _caption = model.data_.feature_map(i)
    label, cmap, lo, hi = keys[1]
    assert label == "map" and lo < hi
    # the key's levels are the ones the map thumbnail was drawn with
    assert to_qimage(arr, (lo, hi), cmap) == model.image("map", i)
    # painted: each key's gradient runs from its colour map's low end to its high end
    delegate = FeatureCardDelegate()
    img = QImage(CARD_W, CARD_H, QImage.Format.Format_ARGB32)
    img.fill(QColor(255, 255, 255))
    opt = QStyleOptionViewItem()
    opt.rect = QRect(0, 0, CARD_W, CARD_H)
    opt.font = p.font()
    painter = QPainter(img)
    delegate.paint(painter, opt, model.index(0))
    painter.end()
    small = p.font()
    small.setPointSizeF(max(6.5, opt.font.pointSizeF() * 0.8))
    r = opt.rect.adjusted(2, 2, -2, -2)
    layout = delegate.key_layout(model, i, QRect(0, 0, 1, 12), small)
    assert [k[:4] for k in layout] == keys
    for _label, name, _lo, _hi, _lab, _low, grad, _high in layout:
        lut = pg.colormap.get(name).getLookupTable(nPts=256, alpha=False)
        y0 = r.top() + 3 + 18 + 54 + 16 + 54 + 16 + 16  # where paint puts the key row
        for x, want in ((grad.left() + r.left() + 5, lut[0]), (grad.right() + r.left() + 5, lut[-1])):
            got = img.pixelColor(x, y0 + grad.center().y())
            assert _close(got, QColor(*[int(v) for v in want[:3]]), tol=20), (name, x, got.name())
    assert CARD_H >= y0 + 12


def test_reconstruction_input_follows_amplitude_2(qtbot, files) -> None:
    """The reconstruction panel's input and output share a range that covers an electrode
    injected at 2 (a fixed [0, 1] saturated it silently)."""
    from app.panels.reconstruction import ReconstructionPanel

    s = loaded_session(qtbot, files["model"], files["data"])
    try:
        p = ReconstructionPanel(s)
        qtbot.addWidget(p)
        with qtbot.waitSignal(s.forward_ready, timeout=10000):
            s.workbench.inject({"Cz": 2.0})
        QApplication.processEvents()
        image = p.result.image
        assert float(np.max(image)) == pytest.approx(2.0, abs=1e-4)
        lo, hi = p.input_plot.levels
        assert hi >= 2.0 and lo <= float(np.min(image))
        assert p.output_plot.levels == (lo, hi)
        with qtbot.waitSignal(s.forward_ready, timeout=10000):
            s.workbench.inject({"Cz": 0.5})
        QApplication.processEvents()
        assert p.input_plot.levels == input_levels([p.result.image, p.result.recon])
    finally:
        s.shutdown()
