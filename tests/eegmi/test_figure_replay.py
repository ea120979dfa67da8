"""Panel figures headless: a state's input replayed (checked against its description),
the caption, the difference view of the activations figure, every figure module."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model

from eegmi.data.loaders import load_dataset
from eegmi.errors import ConfigError
from eegmi.figures.export import render_figure
from eegmi.figures.panel import PANELS, figure_state, panel_figure
from eegmi.figures.replay import caption, replay_job
from eegmi.inference import Inference
from eegmi.jobs import run_job
from eegmi.mosaic import layer_arrays
from eegmi.training.checkpoint import load_checkpoint
from eegmi.workbench import Workbench


@pytest.fixture
def bench(tmp_path):
    """A workbench on a tiny model and recording (what the GUI's session holds)."""
    data_path = write_tiny_data(tmp_path / "d.npz")
    model_path = write_tiny_model(tmp_path / "tiny", marks=True)
    loaded = load_checkpoint(model_path)
    wb = Workbench(loaded.operator.montage)
    wb.set_data(str(data_path), load_dataset(str(data_path)), loaded.scaler)
    wb.set_model(str(model_path), loaded, loaded.operator.montage)
    return wb


def _state(wb: Workbench, panel: str = "reconstruction", view: dict | None = None) -> dict:
    return figure_state(panel, panel, {**wb.state(), "device": "cpu"}, None, view or {},
                        {"width_in": 4.0, "height_in": 3.0, "dpi": 50})


def test_replay_checks_the_values_against_the_input(bench, tmp_path) -> None:
    bench.set_frame(17)
    rep = run_job(replay_job(_state(bench)))
    assert rep.check == "matched"
    np.testing.assert_array_equal(rep.values, bench.input_values())
    direct = Inference(bench.loaded).forward_values(bench.input_values())
    np.testing.assert_allclose(rep.result.recon, direct.recon, atol=1e-6)
    assert "dataset frame 17" in caption(_state(bench)) and "Model tiny" in caption(_state(bench))
    # values that are not what the input describes are refused, in one line
    bad = _state(bench)
    bad["workbench"]["values"] = [v + 0.01 for v in bad["workbench"]["values"]]
    with pytest.raises(ConfigError, match="do not match its input"):
        run_job(replay_job(bad))
    # the mean baseline is rebuilt from the data as the workbench does
    bench.set_baseline("mean")
    bench.inject({"Cz": 1.5, "Pz": -0.5})
    rep = run_job(replay_job(_state(bench)))
    assert rep.check == "matched"
    np.testing.assert_allclose(rep.baseline, bench.baseline_values(), atol=1e-7)
    assert "Cz=+1.50, Pz=-0.50 on mean baseline" in caption(_state(bench))
    # without the data file the check is skipped (and said), the values still replay
    gone = _state(bench)
    gone["workbench"]["data"] = str(tmp_path / "moved.npz")
    rep = run_job(replay_job(gone))
    assert rep.check.startswith("skipped: data not available") and rep.baseline is None
    np.testing.assert_array_equal(rep.values, bench.input_values())


def test_activations_difference_view_is_current_minus_baseline(bench) -> None:
    bench.set_baseline("mean")
    bench.inject({"Fz": 2.0})
    view = {"layers": ["input", "enc.act1", "latent.mu", "out"], "shared_scale": False,
            "difference": True}
    state = _state(bench, "activations", view)
    data = run_job(panel_figure("activations").compute(state, "cpu"))
    inf = Inference(bench.loaded)
    cur = layer_arrays(inf.forward_values(bench.input_values()))
    base = layer_arrays(inf.forward_values(bench.baseline_values()))
    assert data["layers"] == view["layers"]
    for name in view["layers"]:
        np.testing.assert_allclose(data[name], cur[name] - base[name], atol=1e-6)
        m = float(np.max(np.abs(data[name])))
        np.testing.assert_allclose(data[f"{name}.levels"], [-m, m])  # symmetric, per layer
    fig = render_figure(data, state)
    assert "minus the baseline" in fig._suptitle.get_text()
    # one range over every layer with the shared scale
    shared = run_job(panel_figure("activations").compute(
        _state(bench, "activations", {**view, "shared_scale": True}), "cpu"))
    assert len({tuple(shared[f"{n}.levels"]) for n in view["layers"]}) == 1


def test_inspect_panels_have_figure_modules() -> None:
    for name in ("scalp", "reconstruction", "activations", "latents"):
        assert name in PANELS and panel_figure(name).name == name
    with pytest.raises(ConfigError, match="no figure for panel"):
        panel_figure("nope")


def test_one_caption_for_inspect_and_analysis_figures() -> None:
    """The analysis figures' caption names the recipe's model and data, falling back to
    the workbench's; the inspect figures' names the workbench's and the view settings."""
    wb = {"model": "/runs/E3", "data": "/rec/a.npz", "values": [0.0] * 32,
          "input": {"mode": "inject", "mix": {"Cz": 2.0}, "baseline": "zero"}}
    inspect = figure_state("reconstruction", "t", wb, None, {"difference": True})
    assert caption(inspect) == ("Model E3 · data a.npz · input: inject Cz=+2.00 on zero "
                                "baseline · view: difference on")
    recipe = {"recipe": "spectra", "model": "E4", "data": "/other/b.npz", "options": {}}
    analysis = figure_state("spectra", "t", wb, recipe, {"layer": "enc.act1"})
    assert caption(analysis, "fit 10–50", input_too=False) == "Model E4 · data b.npz · fit 10–50"
    # a recipe that names no model or data: the workbench's model; the model's own data
    bare = figure_state("spectra", "t", {**wb, "data": ""}, {"recipe": "spectra", "options": {}})
    assert caption(bare, "", input_too=False) == "Model E3 · data the model's own data"
    assert "input: inject Cz=+2.00" in caption(bare, "x")
