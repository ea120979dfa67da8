"""Layer activations panel: mosaics, hover, enlarge, difference view."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6 import QtCore

from app.panels.activations import ActivationsPanel
from app.session import Session
from eegmi.inference import ForwardResult, Inference
from eegmi.models.config import ModelConfig
from eegmi.models.vae import build_model
from eegmi.mosaic import as_maps, finite_range, layer_arrays, layout_for, tile
from eegmi.workbench import InputState


class FakeSession(QtCore.QObject):
    """Just the signals/attributes the panel reads, for hand-made ForwardResults."""

    forward_ready = QtCore.Signal(object)
    baseline_ready = QtCore.Signal(object)
    model_changed = QtCore.Signal()
    input_changed = QtCore.Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.input = InputState()
        self.values = np.zeros(32, np.float32)

    def state(self) -> dict:
        return {"model": "fake", "data": "none", "input": self.input.to_json(),
                "values": self.values.tolist()}


SHAPES = {
    "enc.act1": (32, 20, 20), "enc.act2": (64, 10, 10), "enc.act3": (128, 5, 5),
    "latent.mu": (8,), "latent.logvar": (8,), "latent.z": (8,),
    "dec.act1": (64, 10, 10), "dec.act2": (32, 20, 20), "out": (1, 40, 40),
}


def make_result(seed: int) -> ForwardResult:
    """A ForwardResult with paper-size random activations."""
    rng = np.random.default_rng(seed)
    acts = {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
    img = rng.random((40, 40)).astype(np.float32)
    return ForwardResult(values=rng.random(32).astype(np.float32), image=img, model_input=img,
                         activations=acts, recon=acts["out"][0], mu=acts["latent.mu"],
                         logvar=acts["latent.logvar"], mse=0.0, ssim=1.0)


def attach_tiny_model(session: Session, kind: str = "vae") -> None:
    """Put a tiny untrained model into a real Session (as a loaded checkpoint would)."""
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, latent_dim=8 if kind == "vae" else 32, filters=(4, 8, 8))
    loaded = SimpleNamespace(model=build_model(cfg), config=cfg, operator=session.operator,
                             injection_config=None, scaler=None)
    session.use_model(f"tiny-{kind}", loaded, Inference(loaded, session.operator, "cpu"))


def test_tile_places_each_channel_at_its_origin() -> None:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(7, 3, 4)).astype(np.float32)
    lay = layout_for(maps.shape, ncols=3)
    mosaic = tile(maps, lay)
    assert mosaic.shape == (3 * 4 - 1, 3 * 5 - 1)
    for k in range(7):
        r0, c0 = lay.tile_origin(k)
        np.testing.assert_array_equal(mosaic[r0:r0 + 3, c0:c0 + 4], maps[k])
        assert lay.locate(r0 + 2, c0 + 1) == (k, 2, 1)
    assert np.isnan(mosaic[3, 0]) and lay.locate(3, 0) is None  # gap row
    assert lay.locate(8, 5 * 1 + 1) is None  # empty tile 7
    assert finite_range([mosaic]) == (float(maps.min()), float(maps.max()))


@pytest.fixture
def panel(qtbot):
    session = FakeSession()
    p = ActivationsPanel(session)
    qtbot.addWidget(p)
    p.resize(900, 900)
    p.show()
    session.forward_ready.emit(make_result(1))
    return p, session


def test_each_layer_mosaic_shows_its_activations(panel) -> None:
    p, _ = panel
    res = p.result
    arrays = layer_arrays(res)
    assert "latent.z" not in arrays  # z duplicates mu for a VAE
    np.testing.assert_allclose(arrays["latent.sigma"], np.exp(res.logvar / 2), rtol=1e-6)
    assert p.visible_layers() == ["input", "enc.act1", "enc.act2", "enc.act3", "latent.mu",
                                  "latent.sigma", "dec.act1", "dec.act2", "out"]
    for name in p.visible_layers():
        expected = tile(arrays[name], layout_for(arrays[name].shape))
        np.testing.assert_array_equal(p.layer_image(name), expected)
        lo, hi = p.layer_levels(name)
        assert lo == pytest.approx(float(arrays[name].min()))
        assert hi == pytest.approx(float(arrays[name].max()))
        # what is drawn uses those levels, and the colour bar shows the same
        assert tuple(p._layers[name].image.levels) == pytest.approx((lo, hi))
        assert p._layers[name].bar.levels() == pytest.approx((lo, hi))
    # a new forward result updates the same ImageItem in place
    item = p._layers["enc.act2"].image
    p.session.forward_ready.emit(make_result(2))
    assert p._layers["enc.act2"].image is item
    np.testing.assert_array_equal(
        p.layer_image("enc.act2"),
        tile(make_result(2).activations["enc.act2"], layout_for((64, 10, 10))))


def test_shared_scale_uses_one_range(panel) -> None:
    p, _ = panel
    p.shared_scale.setChecked(True)
    levels = {p.layer_levels(n) for n in p.visible_layers()}
    assert len(levels) == 1
    arrays = layer_arrays(p.result)
    lo, hi = levels.pop()
    assert lo == pytest.approx(min(float(a.min()) for a in arrays.values()))
    assert hi == pytest.approx(max(float(a.max()) for a in arrays.values()))


def test_hover_reports_layer_channel_position_value(panel, qtbot) -> None:
    p, _ = panel
    name, ch, r, c = "enc.act2", 13, 7, 2
    lay = p.layer_layout(name)
    r0, c0 = lay.tile_origin(ch)
    vb = p.layer_plot(name).getViewBox()
    scene_pos = vb.mapViewToScene(QtCore.QPointF(c0 + c + 0.5, r0 + r + 0.5))
    with qtbot.waitSignal(p.hovered) as blocker:
        p.view.scene().sigMouseMoved.emit(scene_pos)
    info = blocker.args[0]
    value = float(p.result.activations[name][ch, r, c])
    assert info == {"layer": name, "channel": ch, "row": r, "col": c, "value": value}
    assert f"channel {ch}" in p.hover_label.text() and name in p.hover_label.text()


def test_click_enlarges_channel(panel, qtbot) -> None:
    p, _ = panel
    name, ch = "enc.act1", 5
    r0, c0 = p.layer_layout(name).tile_origin(ch)
    vb = p.layer_plot(name).getViewBox()
    pos = vb.mapViewToScene(QtCore.QPointF(c0 + 3.5, r0 + 4.5)).toPoint()
    view_pos = p.view.mapFromScene(pos)
    with qtbot.waitSignal(p.enlarged):
        qtbot.mouseClick(p.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view_pos)
    assert p.zoom == (name, ch)
    np.testing.assert_array_equal(p.zoom_image.image, p.result.activations[name][ch])
    expected = (float(p.result.activations[name][ch].min()), float(p.result.activations[name][ch].max()))
    assert p.zoom_bar.levels() == pytest.approx(expected)
    assert tuple(p.zoom_image.levels) == pytest.approx(expected)


def test_difference_from_baseline(panel) -> None:
    p, session = panel
    base = make_result(7)
    session.baseline_ready.emit(base)
    p.enlarge("dec.act1", 3)
    p.difference.setChecked(True)
    cur = p.result.activations
    for name in ("enc.act3", "dec.act1"):
        diff = cur[name] - base.activations[name]
        np.testing.assert_allclose(p.layer_image(name), tile(diff, layout_for(diff.shape)))
        lo, hi = p.layer_levels(name)
        assert lo == pytest.approx(-hi) and hi == pytest.approx(float(np.abs(diff).max()))
        assert tuple(p._layers[name].image.levels) == pytest.approx((lo, hi))
    np.testing.assert_allclose(p.zoom_image.image, cur["dec.act1"][3] - base.activations["dec.act1"][3])
    np.testing.assert_allclose(p.export_items()["latent.mu"], cur["latent.mu"] - base.activations["latent.mu"])
    p.difference.setChecked(False)
    np.testing.assert_array_equal(p.layer_image("enc.act3"),
                                  tile(cur["enc.act3"], layout_for((128, 5, 5))))


def test_layer_checkboxes_hide_layers(panel) -> None:
    p, _ = panel
    p._layers["enc.act1"].checkbox.setChecked(False)
    assert "enc.act1" not in p.visible_layers()
    assert p._layers["enc.act1"].plot.scene() is None
    items = p.export_items()
    assert "enc.act1" not in items and "enc.act2" in items
    assert p.state()["layers"] == p.visible_layers()


def test_as_maps_shapes() -> None:
    assert as_maps(np.zeros(5)).shape == (5, 1, 1)
    assert as_maps(np.zeros((4, 6))).shape == (1, 4, 6)


@pytest.fixture
def real(qtbot):
    session = Session()
    attach_tiny_model(session)
    p = ActivationsPanel(session)
    qtbot.addWidget(p)
    p.resize(800, 800)
    p.show()
    yield p, session
    session.shutdown()


def test_real_session_forward_and_baseline_difference(real, qtbot) -> None:
    p, session = real
    values = np.zeros(32, np.float32)
    values[session.operator.montage.index("Cz")] = 1.0  # a one-hot click on Cz
    with qtbot.waitSignal(session.baseline_ready, timeout=20000):
        p.baseline_box.setCurrentText("mean")  # no data loaded: the mean falls back to zeros
        p.baseline_box.activated.emit(p.baseline_box.currentIndex())
    assert session.input.baseline == "mean"
    with qtbot.waitSignal(session.baseline_ready, timeout=20000):
        session.set_baseline("zero")
    assert p.baseline_box.currentText() == "zero"
    with qtbot.waitSignal(session.forward_ready, timeout=20000,
                          check_params_cb=lambda r: np.allclose(r.values, values)):
        session.set_values(values)
    expected = session.inference.forward_values(values)
    base = session.inference.forward_values(np.zeros(32, np.float32))
    for name in ("enc.act1", "enc.act3", "dec.act2"):
        np.testing.assert_allclose(p.layer_image(name), tile(
            expected.activations[name], layout_for(expected.activations[name].shape)), atol=1e-6)
    p.difference.setChecked(True)
    for name in ("enc.act2", "latent.mu", "out"):
        diff = expected.activations[name] - base.activations[name]
        np.testing.assert_allclose(p.layer_image(name), tile(diff, layout_for(diff.shape)), atol=1e-6)
        assert np.abs(diff).max() > 0  # the injected signal changed every layer


def test_decoder_only_model_shows_input_vector(real, qtbot) -> None:
    p, session = real
    attach_tiny_model(session, "decoder")
    values = np.linspace(0, 1, 32).astype(np.float32)
    with qtbot.waitSignal(session.forward_ready, timeout=20000,
                          check_params_cb=lambda r: np.allclose(r.values, values)):
        session.set_values(values)
    assert "enc.act1" not in p.visible_layers() and "latent.z" in p.visible_layers()
    np.testing.assert_allclose(p.layer_image("input"), session.operator.render(values), atol=1e-5)
    np.testing.assert_allclose(p.layer_image("latent.z"), values[None, :], atol=1e-6)


def test_layers_below_the_fold_are_drawn_when_scrolled_into_view(qtbot) -> None:
    session = FakeSession()
    p = ActivationsPanel(session)
    qtbot.addWidget(p)
    p.resize(900, 330)  # a short dock: the decoder layers are below the fold
    p.show()
    qtbot.waitExposed(p)
    session.forward_ready.emit(make_result(1))
    qtbot.waitUntil(lambda: p._layers["input"].image.image is not None, timeout=5000)
    assert p._layers["out"].image.image is None  # not drawn while out of sight
    bar = p.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    expected = tile(layer_arrays(p.result)["out"], p.layer_layout("out"))
    qtbot.waitUntil(lambda: p._layers["out"].image.image is not None, timeout=5000)
    np.testing.assert_array_equal(p._layers["out"].image.image, expected)
    # a second input while scrolled down: what is on screen now follows at once
    session.forward_ready.emit(make_result(2))
    expected = tile(layer_arrays(p.result)["out"], p.layer_layout("out"))
    np.testing.assert_array_equal(p._layers["out"].image.image, expected)
