"""Training panel: a tiny real training run with live curves, pause, cancel, resume, open."""

from __future__ import annotations

import json
import threading

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


# ---- per-batch progress, pause and cancel within an epoch ----------------------------------

def small_batches(name: str):
    exp = tiny_experiment(name)
    exp.training.batch_size = 8  # 6 of 8 trials train: 96 frames -> 12 batches an epoch
    return exp


class Gate:
    """A train function that holds the worker thread after the first report ``at`` picks,
    until the test has clicked (so a click lands inside an epoch without any sleep)."""

    def __init__(self, at) -> None:
        self.at, self.reached, self.release = at, threading.Event(), threading.Event()

    def __call__(self, experiment, data, out_dir, resume=False, cancel=None):
        from eegmi.training.loop import train

        job = train(experiment, data, out_dir, resume=resume, cancel=cancel)
        held = False
        while True:
            try:
                report = next(job)
            except StopIteration as stop:
                return stop.value
            yield report
            if not held and self.at(report):
                held = True
                self.reached.set()
                self.release.wait(60)


def gated_panel(qtbot, tmp_path, gate) -> TrainingPanel:
    session = Session()
    session.use_data("tiny", tiny_data())
    p = TrainingPanel(session, train_fn=gate, experiment_loader=small_batches)
    qtbot.addWidget(p)
    p.out_edit.setText(str(tmp_path / "run"))
    p.show()
    return p


def test_progress_and_eta_move_within_the_first_epoch(qtbot, tmp_path, monkeypatch) -> None:
    import app.worker

    monkeypatch.setattr(app.worker, "PROGRESS_INTERVAL_S", 0.0)  # every report reaches the GUI
    session = Session()
    session.use_data("tiny", tiny_data())
    p = TrainingPanel(session, experiment_loader=small_batches)
    qtbot.addWidget(p)
    p.out_edit.setText(str(tmp_path / "run"))
    values: list[tuple[int, int]] = []  # (progress value, epochs seen)
    etas: list[str] = []
    p.progress.valueChanged.connect(lambda v: values.append((v, len(p.history))))
    p.epochs.setValue(2)
    try:
        with qtbot.waitSignal(p.epoch_done, timeout=60000):
            p.start_button.click()
            etas.append(p.eta_label.text())
        before = [v for v, seen in values if seen == 0]
        # 12 batches an epoch: fractions 1/24 .. 11/24 are under 1/epochs
        assert len([v for v in before if v < p.progress.maximum() // 2]) >= 5
        assert before == sorted(before) and before[0] > 0
        assert p.eta_label.text().endswith("s") and p.eta_label.text() != etas[0]
        qtbot.waitUntil(lambda: p.run_state == "done", timeout=60000)
        assert [h["epoch"] for h in p.history] == [1, 2]
    finally:
        session.shutdown()


def test_pause_inside_an_epoch_stops_batches_until_resume(qtbot, tmp_path) -> None:
    gate = Gate(lambda r: r.payload.get("batch") == 2)
    p = gated_panel(qtbot, tmp_path, gate)
    p.epochs.setValue(2)
    values: list[int] = []
    try:
        p.start_button.click()
        qtbot.waitUntil(gate.reached.is_set, timeout=60000)
        p.progress.valueChanged.connect(values.append)
        p.pause_button.click()
        gate.release.set()
        qtbot.waitUntil(lambda: p.run_state == "paused", timeout=60000)
        # parked at the report after batch 3: inside epoch 1, no epoch record yet
        assert p.history == [] and p.pause_button.text() == "Resume"
        assert p.progress.value() < p.progress.maximum() // 2
        n = len(values)
        probe = p.session.call(lambda: 42, "probe")  # the worker is free and runs it
        with qtbot.waitSignal(probe.finished, timeout=10000):
            pass
        assert len(values) == n  # no batch trained while paused
        with qtbot.waitSignal(p.run_finished, timeout=60000) as done:
            p.pause_button.click()
        assert done.args == ["done"] and [h["epoch"] for h in p.history] == [1, 2]
        assert p.progress.value() == p.progress.maximum()
    finally:
        gate.release.set()
        p.session.shutdown()


def test_cancel_inside_an_epoch_then_resume_continues(qtbot, tmp_path) -> None:
    # hold at batch 3 of epoch 2 (batches 13..24 of the run)
    gate = Gate(lambda r: r.payload.get("batch") == 3 and r.done > 12)
    p = gated_panel(qtbot, tmp_path, gate)
    p.epochs.setValue(3)
    try:
        p.start_button.click()
        qtbot.waitUntil(gate.reached.is_set, timeout=60000)
        with qtbot.waitSignal(p.run_finished, timeout=60000) as done:
            p.cancel_button.click()
            gate.release.set()
        assert done.args == ["cancelled"]
        assert [h["epoch"] for h in p.history] == [1]  # epoch 2 was cut short
        assert (p.out_dir / "model.json").exists() and p.resume_button.isEnabled()
        card = json.loads((p.out_dir / "model.json").read_text())
        assert card["epochs"] == 1
        gate.at = lambda r: False
        with qtbot.waitSignal(p.run_finished, timeout=60000) as done:
            p.resume_button.click()
        assert done.args == ["done"], p.status.text()
        assert [h["epoch"] for h in p.history] == [1, 2, 3]
    finally:
        gate.release.set()
        p.session.shutdown()


def test_frame_subset_is_recorded(panel, qtbot) -> None:
    assert panel.frames.value() == 0 and panel.frames.text() == "all"
    assert panel.frames.maximum() == 128
    panel.frames.setValue(64)
    panel.epochs.setValue(1)
    with qtbot.waitSignal(panel.run_finished, timeout=60000) as done:
        panel.start_button.click()
    assert done.args == ["done"], panel.status.text()
    card = json.loads((panel.out_dir / "model.json").read_text())
    assert card["split"]["max_frames"] == 64
    assert card["experiment"]["data"]["max_frames"] == 64
    assert 60 <= sum(card["split"]["sizes"].values()) <= 68
    assert panel.state()["max_frames"] == 64


def test_too_small_dataset_says_why_in_full(qtbot, tmp_path) -> None:
    session = Session()
    values = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    session.use_data("five", EEGData(values=values, ch_names=tuple(DEAP_CHANNELS), sfreq=128.0,
                                     subject=np.zeros(5, np.int16), trial=np.zeros(5, np.int32)))
    p = TrainingPanel(session, experiment_loader=tiny_experiment)
    qtbot.addWidget(p)
    p.out_edit.setText(str(tmp_path / "run"))
    try:
        with qtbot.waitSignal(p.run_finished, timeout=60000) as done:
            p.start_button.click()
        assert done.args == ["failed"]
        text = p.status.text()
        assert "5 frames in 1 trial" in text
        assert "train and val or test splits would be empty" in text
        assert "at least 3 trials" in text
        assert not (tmp_path / "run" / "model.json").exists()
    finally:
        session.shutdown()


def test_user_model_shown_with_its_folder(window, qtbot, tmp_path) -> None:
    from gui_fixtures import write_tiny_data, write_tiny_model

    with qtbot.waitSignal(window.session.data_changed, timeout=20000):
        window.open_data(write_tiny_data(tmp_path / "a.npz"))
    out = write_tiny_model(tmp_path / "runs" / "E3")  # a run folder named like bundled E3
    panel = window.panels["training"]
    panel.out_dir = out  # the folder of a finished run
    panel._set_state("done")
    with qtbot.waitSignal(window.session.model_changed, timeout=20000):
        panel.open_button.click()  # "Open in workbench"
    assert window.session.model_name == str(out)
    assert window.model_label.text() == f"model: (your model) {out}"
    assert window.model_box.currentText() == f"(your model) {out}"
    # choosing that entry again loads the folder, not a bundled model
    with qtbot.waitSignal(window.session.model_changed, timeout=20000):
        window.model_box.activated.emit(window.model_box.currentIndex())
    assert window.session.model_name == str(out)
    assert window.model_label.text() == f"model: (your model) {out}"
