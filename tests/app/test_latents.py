"""Latent sliders panel driving a real (tiny) decoder through the model worker."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.latents import LatentsPanel, latent_of
from app.worker import ModelWorker
from eegmi.inference import Inference
from eegmi.models.config import ModelConfig
from eegmi.models.vae import build_model

N = 32
CH = tuple(f"E{i}" for i in range(N))


class _Operator:
    """A fixed random electrodes->image matrix (the panel never looks inside)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.matrix = (rng.random((40 * 40, N)) / N).astype(np.float32)
        self.montage = SimpleNamespace(n_channels=N, ch_names=CH)
        self.head_mask = np.ones((40, 40), bool)

    def render(self, values: np.ndarray) -> np.ndarray:
        return (values @ self.matrix.T).reshape(*np.shape(values)[:-1], 40, 40)

    def render_torch(self, values: torch.Tensor) -> torch.Tensor:
        return (values @ torch.from_numpy(self.matrix).T).reshape(-1, 1, 40, 40)


class _Scaler:
    def transform(self, x):
        return np.clip(np.asarray(x, np.float32), 0, 1)


class Session(QtCore.QObject):
    """The Session attributes/signals the panel uses, on a real ModelWorker."""

    model_changed = QtCore.Signal()
    data_changed = QtCore.Signal()
    forward_ready = QtCore.Signal(object)
    decode_ready = QtCore.Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.worker = ModelWorker()
        self.worker.finished.connect(self._done)
        self.operator = _Operator()
        self.model = self.inference = self.data = None
        self.scaler = _Scaler()

    def set_model(self, kind: str, latent_dim: int) -> None:
        torch.manual_seed(0)
        cfg = ModelConfig(kind=kind, latent_dim=latent_dim if kind == "vae" else N,
                          filters=(4, 8, 8))
        self.model = SimpleNamespace(model=build_model(cfg), config=cfg, operator=self.operator,
                                     injection_config=None)
        self.inference = Inference(self.model, self.operator, "cpu")
        self.model_changed.emit()

    def set_data(self) -> None:
        rng = np.random.default_rng(1)
        self.data = SimpleNamespace(values=rng.random((64, N)).astype(np.float32), n_frames=64)
        self.data_changed.emit()

    def forward(self, values) -> None:
        inf = self.inference
        self.worker.submit(lambda: inf.forward_values(values), kind="forward", key="forward")

    def request_decode(self, z) -> int:
        inf, zz = self.inference, np.asarray(z, np.float32).copy()
        return self.worker.submit(lambda: inf.decode(zz), kind="decode", key="decode")

    def _done(self, _rid, kind, result) -> None:
        if kind == "decode":
            self.decode_ready.emit(result)
        elif kind == "forward":
            self.forward_ready.emit(result)

    def state(self) -> dict:
        return {"model": "tiny"}


@pytest.fixture
def session(qtbot):
    s = Session()
    yield s
    s.worker.stop()


def make_panel(qtbot, session, kind="vae", d=32):
    panel = LatentsPanel(session)
    qtbot.addWidget(panel)
    panel.resize(700, 500)
    panel.show()
    session.set_model(kind, d)
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
        session.set_data()
    lo, hi = panel.ranges()
    assert np.all(hi > lo)
    np.testing.assert_allclose((lo + hi) / 2, panel.mean, atol=1e-5)
    assert panel.sliders[5].minimum() == pytest.approx(lo[5], abs=1e-3)

    panel.random_button.click()
    z1 = panel.z()
    assert np.all(z1 >= lo - 1e-3) and np.all(z1 <= hi + 1e-3)
    assert np.abs(z1 - panel.mean).max() > 0.1 * panel.std.max()
    panel.random_button.click()
    assert not np.allclose(panel.z(), z1)

    panel.reset_button.click()
    np.testing.assert_allclose(panel.z(), panel.mean, atol=1e-3 * panel.std.min())

    values = session.data.values[7]
    with qtbot.waitSignal(session.forward_ready, timeout=10000) as blocker:
        session.forward(values)
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
    session.set_model("decoder", N)
    assert panel.names == list(CH)
    session.set_model("vae", 27)
    assert len(panel.sliders) == 27 and panel.names[-1] == "z26"
