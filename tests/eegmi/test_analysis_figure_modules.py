"""The analysis panels' figure modules without the GUI: registration, one-line refusals
of states they cannot recompute, and the training figure read back from a run folder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eegmi.errors import ConfigError
from eegmi.figures.export import figure_from_state_job, render_figure, write_panel_figure
from eegmi.figures.panel import figure_state, panel_figure
from eegmi.jobs import run_job

ANALYSIS_PANELS = ("spectra", "saliency", "propagation", "sae", "training")
WORKBENCH = {"model": "", "data": "", "input": {"mode": "inject", "mix": {}, "frame": 0,
                                                "baseline": "zero", "amplitude": 1.0},
             "values": [], "channels": []}


@pytest.mark.parametrize("name", ANALYSIS_PANELS)
def test_each_analysis_panel_registers_its_figure(name) -> None:
    fig = panel_figure(name)
    assert fig.name == name and callable(fig.compute) and callable(fig.render)


@pytest.mark.parametrize("name", ("spectra", "saliency", "propagation", "sae"))
def test_a_state_without_an_analysis_is_refused_in_one_line(name) -> None:
    state = figure_state(name, name, WORKBENCH)
    with pytest.raises(ConfigError) as err:
        run_job(panel_figure(name).compute(state, "cpu"))
    assert "\n" not in str(err.value)


def _history(n: int = 4) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for e in range(1, n + 1):
        out.append({"epoch": e, "train_loss": float(1 / e + rng.uniform(0, 0.01)),
                    "val_loss": float(1.2 / e), "val_mse": float(0.1 / e), "val_mae": float(0.3 / e),
                    "val_ssim": float(0.9 + e / 100), "val_ssim_head": float(0.88 + e / 100),
                    "lr": 1e-3, "weight_norm": 10.0, "best_epoch": e})
    return out


def _run_folder(tmp_path, history, metrics):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    (run / "model.json").write_text(json.dumps({"config": {"kind": "vae"}, "metrics": metrics}))
    return run


def test_training_figure_is_read_back_from_its_run_folder(tmp_path) -> None:
    from eegmi.figures.panels.training import data_from_history

    history = _history()
    metrics = {**history[-1], "test_mse": 0.0123, "test_ssim": 0.97, "test_n": 40}
    run = _run_folder(tmp_path, history, metrics)
    state = figure_state("training", "Training", WORKBENCH,
                         view={"run_dir": str(run), "preset": "E3", "data": "synthetic"},
                         render={"height_in": 3.2, "dpi": 50})
    shown = data_from_history(history, metrics)
    # history lines carry no test figures: only the card's, scored once, are kept
    assert shown["test"] == {"test_mse": 0.0123, "test_ssim": 0.97, "test_n": 40}
    write_panel_figure(tmp_path / "fig", shown, state, ("png", "json"))
    run_job(figure_from_state_job(tmp_path / "fig.json", tmp_path / "again.png"))
    assert (tmp_path / "fig.png").read_bytes() == (tmp_path / "again.png").read_bytes()
    fig = render_figure(shown, state)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "Validation error", "Validation SSIM"]
    assert any("test split, scored once: mse 0.0123" in t.get_text() for t in fig.texts)


def test_training_figure_refusals_and_gaps(tmp_path) -> None:
    from eegmi.figures.panels.training import data_from_history

    with pytest.raises(ConfigError, match="start a training run first"):
        data_from_history([], {})
    data = data_from_history([{"epoch": 1, "train_loss": 0.5}], None)
    assert data["train_loss"].tolist() == [0.5] and math.isnan(data["val_loss"][0])
    compute = panel_figure("training").compute
    with pytest.raises(ConfigError, match="names no run folder"):
        run_job(compute(figure_state("training", "T", WORKBENCH), "cpu"))
    with pytest.raises(ConfigError, match="no such run folder") as err:
        run_job(compute(figure_state("training", "T", WORKBENCH,
                                     view={"run_dir": str(tmp_path / "gone")}), "cpu"))
    assert str(tmp_path / "gone") in err.value.line()
