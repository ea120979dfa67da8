"""Latent sliders panel driving a real (tiny) decoder through the real Session and worker."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.latents import LatentsPanel, latent_of
from app.session import Session
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.preprocess import ClipScaler
from eegmi.data.recording import EEGData
from eegmi.inference import Inference
from eegmi.models.config import ModelConfig
from eegmi.models.vae import build_model

N = 32


def attach_tiny_model(session: Session, kind: str, latent_dim: int) -> None:
    """Put a tiny untrained model into a real Session (as a loaded checkpoint would)."""
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, latent_dim=latent_dim if kind == "vae" else N, filters=(4, 8, 8))
    loaded = SimpleNamespace(model=build_model(cfg), config=cfg, operator=session.operator,
                             injection_config=None, scaler=ClipScaler(lo=-2.0, hi=2.0))
    session.use_model(f"tiny-{kind}", loaded, Inference(loaded, session.operator, "cpu"))


def attach_data(session: Session) -> None:
    rng = np.random.default_rng(1)
    n = 64
    session.use_data("random", EEGData(values=rng.normal(size=(n, N)).astype(np.float32),
                                       ch_names=tuple(DEAP_CHANNELS), sfreq=128.0,
                                       subject=np.zeros(n, np.int16), trial=np.zeros(n, np.int32)))


@pytest.fixture
def session(qtbot):
    s = Session()
    yield s
    s.shutdown()


def make_panel(qtbot, session, kind="vae", d=32):
    panel = LatentsPanel(session)
    qtbot.addWidget(panel)
    panel.resize(700, 500)
    panel.show()
    attach_tiny_model(session, kind, d)
    return panel


def expected_recon(session, z) -> np.ndarray:
    return session.inference.decode(np.asarray(z, np.float32)).recon


def test_slider_value_change_decodes(qtbot, session) -> None:
    panel = make_panel(qtbot, session)
    assert len(panel.sliders) == 32 and panel.names[0] == "z0"
    with qtbot.waitSignal(session.decode_ready, timeout=10000):
        panel.sliders[3].setValue(2.5)
    qtbot.waitUntil(lambda: panel.last_decode is not None
                    and float(panel.last_decode.z[3]) == pytest.approx(2.5, abs=1e-3))
    z = panel.z()
    assert z[3] == pytest.approx(2.5, abs=1e-3) and np.all(z[np.arange(32) != 3] == 0)
    np.testing.assert_allclose(panel.image.image, expected_recon(session, z), atol=1e-6)
    base = expected_recon(session, np.zeros(32))
    assert np.abs(panel.image.image - base).max() > 0  # the drag changed the output


def _send_mouse(widget, etype, pos, buttons) -> None:
    ev = QtGui.QMouseEvent(etype, QtCore.QPointF(pos), QtCore.QPointF(widget.mapToGlobal(pos)),
                           QtCore.Qt.MouseButton.LeftButton, buttons,
                           QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_mouse_drag_on_slider_changes_decoded_image(qtbot, session) -> None:
    panel = make_panel(qtbot, session)
    inner = panel.sliders[0]._slider
    qtbot.waitExposed(panel)
    y = inner.height() // 2
    handle = inner.rect().center()
    left = QtCore.Qt.MouseButton.LeftButton
    none = QtCore.Qt.MouseButton.NoButton
    _send_mouse(inner, QtCore.QEvent.Type.MouseButtonPress, handle, left)
    for x in range(handle.x(), inner.width() - 2, 10):
        _send_mouse(inner, QtCore.QEvent.Type.MouseMove, QtCore.QPoint(x, y), left)
    _send_mouse(inner, QtCore.QEvent.Type.MouseButtonRelease, QtCore.QPoint(inner.width() - 2, y), none)
    assert panel.z()[0] > 1.0  # dragged to the right end
    assert panel.decodes_sent >= 2
    final = panel.z()
    qtbot.waitUntil(lambda: panel.last_decode is not None
                    and np.allclose(panel.last_decode.z, final), timeout=10000)
    np.testing.assert_allclose(panel.image.image, expected_recon(session, final), atol=1e-6)


def test_reset_randomise_and_set_from_input(qtbot, session) -> None:
    panel = make_panel(qtbot, session, d=27)
    assert len(panel.sliders) == 27
    with qtbot.waitSignal(panel.stats_ready, timeout=10000):
        attach_data(session)
    lo, hi = panel.ranges()
    assert np.all(hi > lo)
    np.testing.assert_allclose((lo + hi) / 2, panel.mean, atol=1e-5)
    assert panel.sliders[5].minimum() == pytest.approx(lo[5], abs=1e-3)
    np.testing.assert_allclose(panel.z(), panel.mean, atol=1e-3 * panel.std.min())  # centred

    panel.random_button.click()
    z1 = panel.z()
    assert np.all(z1 >= lo - 1e-3) and np.all(z1 <= hi + 1e-3)
    assert np.abs(z1 - panel.mean).max() > 0.1 * panel.std.max()
    panel.random_button.click()
    assert not np.allclose(panel.z(), z1)

    panel.reset_button.click()
    np.testing.assert_allclose(panel.z(), panel.mean, atol=1e-3 * panel.std.min())

    values = session.frame_values(7)
    with qtbot.waitSignal(session.forward_ready, timeout=10000) as blocker:
        session.set_values(values)
    mu = latent_of(blocker.args[0])
    assert [m.value for m in panel.markers] == pytest.approx(mu.tolist())
    panel.from_input_button.click()
    np.testing.assert_allclose(panel.z(), mu, atol=1e-3 * panel.std.min())
    qtbot.waitUntil(lambda: np.allclose(panel.last_decode.z, panel.z()), timeout=10000)
    np.testing.assert_allclose(panel.image.image, expected_recon(session, panel.z()), atol=1e-6)
    items = panel.export_items()
    assert items["z"].shape == (27,) and "decoded" in items and "dataset_mean" in items


def test_decoder_only_sliders_are_electrodes(qtbot, session) -> None:
    panel = make_panel(qtbot, session)
    attach_tiny_model(session, "decoder", N)
    assert panel.names == list(DEAP_CHANNELS)
    attach_tiny_model(session, "vae", 27)
    assert len(panel.sliders) == 27 and panel.names[-1] == "z26"


def test_marker_follows_slider_range_and_explains_itself(qtbot, session) -> None:
    """The input-latent triangle sits at mu within the slider's range; hovering names mu."""
    panel = make_panel(qtbot, session)
    values = np.linspace(-1.0, 1.0, N).astype(np.float32)
    with qtbot.waitSignal(session.forward_ready, timeout=10000,
                          check_params_cb=lambda r: np.allclose(r.values, values)) as blocker:
        session.set_values(values)
    mu = latent_of(blocker.args[0])
    marker, slider = panel.markers[2], panel.sliders[2]
    lo, hi = slider.minimum(), slider.maximum()
    assert marker.fraction() == pytest.approx(np.clip((mu[2] - lo) / (hi - lo), 0, 1), abs=1e-6)
    slider.setRange(float(mu[2]) - 1.0, float(mu[2]) + 3.0)  # the triangle follows a new range
    assert marker.fraction() == pytest.approx(0.25, abs=1e-4)
    pos = QtCore.QPointF(2, 2)
    QtWidgets.QApplication.sendEvent(marker, QtGui.QEnterEvent(pos, pos, marker.mapToGlobal(pos)))
    assert marker.toolTip() == f"input \u03bc = {mu[2]:.4g}"
