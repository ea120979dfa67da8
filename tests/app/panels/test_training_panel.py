"""Training panel: a tiny real training run with live curves, pause, cancel, resume, open."""

from __future__ import annotations

import numpy as np
import pytest

from app.panels.training import TrainingPanel
from app.session import Session
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.recording import EEGData
from eegmi.models.config import ModelConfig
from eegmi.training.experiments import load_experiment


def tiny_data() -> EEGData:
    rng = np.random.default_rng(0)
    n = 128
    return EEGData(values=rng.normal(size=(n, 32)).astype(np.float32), ch_names=tuple(DEAP_CHANNELS),
                   sfreq=128.0, subject=np.zeros(n, np.int16),
                   trial=np.repeat(np.arange(8), n // 8).astype(np.int32))


def tiny_experiment(name: str):
    exp = load_experiment(name)
    exp.model = ModelConfig(kind=exp.model.kind, latent_dim=8, filters=(4, 8, 8))
    exp.training.batch_size = 128
    return exp


@pytest.fixture
def panel(qtbot, tmp_path):
    session = Session()
    session.use_data("tiny", tiny_data())
    p = TrainingPanel(session, experiment_loader=tiny_experiment)
    qtbot.addWidget(p)
    p.out_edit.setText(str(tmp_path / "run"))
    p.show()
    yield p
    session.shutdown()


def test_trains_and_curves_get_points_then_opens_model(panel, qtbot) -> None:
    panel.preset.setCurrentText("E3")
    panel.out_edit.setText(panel.out_edit.text())
    panel.epochs.setValue(2)
    with qtbot.waitSignal(panel.run_finished, timeout=60000) as done:
        panel.start_button.click()
    assert done.args == ["done"], panel.status.text()
    x, y = panel.loss_plot.series("train_loss")
    assert x.tolist() == [1.0, 2.0] and np.all(y > 0)
    assert len(panel.loss_plot.series("val_loss")[0]) == 2
    assert len(panel.error_plot.series("val_mse")[0]) == 2
    assert len(panel.ssim_plot.series("val_ssim")[0]) == 2
    assert len(panel.ssim_plot.series("val_ssim_head")[0]) == 2
    assert not any(k in h for h in panel.history for k in ("mse", "ssim", "test_mse"))
    np.testing.assert_allclose(panel.error_plot.series("val_mse")[1],
                               [h["val_mse"] for h in panel.history])
    assert "test, scored once" in panel.status.text()
    assert [h["epoch"] for h in panel.history] == [1, 2]
    np.testing.assert_allclose(panel.export_items()["train_loss"], y)
    assert panel.open_button.isEnabled()
    with qtbot.waitSignal(panel.session.model_changed, timeout=30000):
        panel.open_button.click()
    assert panel.session.model_name == str(panel.out_dir)
    assert panel.session.inference.latent_dim == 8


def test_pause_stops_pulling_and_resume_continues(panel, qtbot) -> None:
    panel.epochs.setValue(3)
    with qtbot.waitSignal(panel.epoch_done, timeout=60000):
        panel.start()
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.run_state == "paused", timeout=60000)
    n_paused = len(panel.history)
    assert n_paused < 3 and panel.pause_button.text() == "Resume"
    # paused: the worker is free for other requests and no epoch is trained
    probe = panel.session.call(lambda: 42, "probe")
    with qtbot.waitSignal(probe.finished, timeout=10000):
        pass
    assert len(panel.history) == n_paused
    with qtbot.waitSignal(panel.run_finished, timeout=60000) as done:
        panel.pause_button.click()
    assert done.args == ["done"]
    assert [h["epoch"] for h in panel.history] == [1, 2, 3]


def test_cancel_stops_and_resume_from_checkpoint(panel, qtbot) -> None:
    panel.epochs.setValue(200)
    with qtbot.waitSignal(panel.epoch_done, timeout=60000):
        panel.start()
    with qtbot.waitSignal(panel.run_finished, timeout=60000) as done:
        panel.cancel_button.click()
    assert done.args == ["cancelled"]
    n = len(panel.history)
    assert 1 <= n < 200
    assert not panel.open_button.isEnabled() and panel.resume_button.isEnabled()
    assert (panel.out_dir / "model.json").exists()
    panel.epochs.setValue(n + 1)
    with qtbot.waitSignal(panel.run_finished, timeout=60000) as done:
        panel.resume_button.click()
    assert done.args == ["done"], panel.status.text()
    assert panel.history[-1]["epoch"] == n + 1
    assert len(panel.loss_plot.series("train_loss")[0]) == n + 1
