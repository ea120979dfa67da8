"""Latents panel: Reset after Set-from-input widened the ranges restores the ranges, the
handles (centred) and the range label; the statistics are the ``latent_stats`` recipe's and
its exported state re-runs headless to the same ranges."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.latents import LatentsPanel
from app.session import Session
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.preprocess import ClipScaler
from eegmi.data.recording import EEGData
from eegmi.inference import Inference
from eegmi.models.config import ModelConfig
from eegmi.models.vae import build_model

N = 32
D = 5


@pytest.fixture
def panel(qtbot):
    s = Session()
    p = LatentsPanel(s)
    qtbot.addWidget(p)
    p.resize(700, 500)
    p.show()
    qtbot.waitExposed(p)
    torch.manual_seed(0)
    cfg = ModelConfig(kind="vae", latent_dim=D, filters=(4, 8, 8))
    loaded = SimpleNamespace(model=build_model(cfg), config=cfg, operator=s.operator,
                             injection_config=None, scaler=ClipScaler(lo=-2.0, hi=2.0))
    s.use_model("tiny", loaded, Inference(loaded, s.operator, "cpu"))
    rng = np.random.default_rng(1)
    data = EEGData(values=rng.normal(size=(64, N)).astype(np.float32),
                   ch_names=tuple(DEAP_CHANNELS), sfreq=128.0,
                   subject=np.zeros(64, np.int16), trial=np.zeros(64, np.int32))
    with qtbot.waitSignal(p.stats_ready, timeout=20000):
        s.use_data("random", data)
    yield p
    s.shutdown()


def _fractions(p) -> np.ndarray:
    """Where each handle sits along its track, 0..1."""
    return np.array([(s.value() - s.minimum()) / (s.maximum() - s.minimum()) for s in p.sliders])


def _drag_to_right_end(slider) -> None:
    inner = slider._slider
    y = inner.height() // 2
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton

    def send(etype, pos, buttons):
        ev = QtGui.QMouseEvent(etype, QtCore.QPointF(pos), QtCore.QPointF(inner.mapToGlobal(pos)),
                               QtCore.Qt.MouseButton.LeftButton, buttons,
                               QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(inner, ev)

    start = inner.rect().center()
    send(QtCore.QEvent.Type.MouseButtonPress, start, left)
    for x in range(start.x(), inner.width() - 2, 10):
        send(QtCore.QEvent.Type.MouseMove, QtCore.QPoint(x, y), left)
    send(QtCore.QEvent.Type.MouseButtonRelease, QtCore.QPoint(inner.width() - 2, y), none)


def test_reset_after_set_from_input_restores_ranges_handles_and_label(qtbot, panel) -> None:
    p, s = panel, panel.session
    lo, hi = p.ranges()
    label = p.range_label.text()
    assert label == f"{D} latent dims, range = dataset mean \u00b13\u03c3 (64 frames)"
    np.testing.assert_allclose(_fractions(p), 0.5, atol=1e-3)  # centred on the mean
    # the user drags a slider, then takes the latent of an input far outside the data
    _drag_to_right_end(p.sliders[0])
    assert _fractions(p)[0] > 0.9
    far = np.linspace(-2, 2, N).astype(np.float32)  # the widest input an injection allows
    with qtbot.waitSignal(s.forward_ready, timeout=10000,
                          check_params_cb=lambda r: np.allclose(r.values, far)):
        s.set_values(far)
    qtbot.mouseClick(p.from_input_button, QtCore.Qt.MouseButton.LeftButton)
    shown_lo, shown_hi = p.shown_ranges()
    assert np.any(shown_lo < lo - 1e-3) or np.any(shown_hi > hi + 1e-3)  # widened
    assert "widened" in p.range_label.text()
    assert p.state()["widened"] is True
    # Reset: the ranges, the centred handles and the label come back
    qtbot.mouseClick(p.reset_button, QtCore.Qt.MouseButton.LeftButton)
    shown_lo, shown_hi = p.shown_ranges()
    np.testing.assert_allclose(shown_lo, lo, atol=1e-3 * (hi - lo).min())
    np.testing.assert_allclose(shown_hi, hi, atol=1e-3 * (hi - lo).min())
    np.testing.assert_allclose(_fractions(p), 0.5, atol=1e-2)
    np.testing.assert_allclose(p.z(), p.mean, atol=1e-3 * p.std.min())
    assert p.range_label.text() == label
    assert p.state()["widened"] is False
    qtbot.waitUntil(lambda: p.last_decode is not None and np.allclose(p.last_decode.z, p.z()),
                    timeout=10000)


def test_statistics_are_the_latent_stats_recipe(qtbot, panel) -> None:
    from eegmi.jobs import run_job
    from eegmi.recipes.base import RecipeContext, read_state
    from eegmi.recipes.latents import LATENT_STATS

    p, s = panel, panel.session
    state = p.state()["analysis"]
    assert state["recipe"] == "latent_stats" and state["options"]["frames"] == 512
    recipe, options, _ = read_state(state)
    ctx = RecipeContext(model="tiny", loaded=s.model, extra={"eegdata": s.data})
    stats = run_job(recipe.run(options, ctx, None))
    summary = LATENT_STATS.summary(stats)
    np.testing.assert_allclose(summary["mean"], p.mean, atol=1e-7)
    np.testing.assert_allclose(summary["range_low"], p.ranges()[0], atol=1e-6)
    # the recipe's latents are the forward pass's mu (what the sliders' markers show)
    frame = np.asarray(s.scaler.transform(s.data.values[:1]), np.float32)
    mu = s.inference.forward_values(frame[0]).mu
    one = run_job(recipe.run(type(options)(frames=1), ctx, None))
    np.testing.assert_allclose(one.mean, mu, atol=1e-5)
