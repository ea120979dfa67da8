"""The propagation panel's pick & interpolate numbers equal the CLI's, for the single model
and the across-models table (one default input set: held-out frames)."""

from __future__ import annotations

import json

import numpy as np
import PySide6
import pytest
from gui_fixtures import write_tiny_model

from app.session import Session
from eegmi.analysis.pick_report import COLUMNS, share

if PySide6.__version__ == "6.12.0":  # see tests/app/test_activations.py
    _PYSIDE_NONE_GUARD = [None] * 2_000_000


def _model(folder, data, seed: int) -> str:
    """A tiny untrained VAE (marks, scaler ±40) whose card names ``data`` as its source."""
    return str(write_tiny_model(folder, seed=seed, marks=True, scale=40.0, data=data))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("pick_panel")
    return [_model(root / "tiny_a", "synthetic", 3), _model(root / "tiny_b", "synthetic", 4)]


@pytest.fixture
def panel(qtbot, models, monkeypatch):
    import app.panels.propagation as prop_mod
    from app.panels.propagation import PropagationPanel

    monkeypatch.setattr(prop_mod, "bundled_names", lambda: list(models))
    s = Session()
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        s.set_model(models[0])
    p = PropagationPanel(s)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.show()
    qtbot.waitExposed(p)
    p.n_inputs.setValue(66)
    yield p
    s.shutdown()


def _cli(capsys, argv):
    from eegmi.cli import main

    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_panel_single_model_and_across_models_agree_with_the_cli(qtbot, panel, models, capsys):
    p = panel
    with qtbot.waitSignal(p.result_ready, timeout=120000):
        p.job.run_button.click()
    with qtbot.waitSignal(p.comparison_ready, timeout=120000):
        p.compare.run_button.click()
    cli = _cli(capsys, ["analyze", "pick-interpolate", *models])
    single = p.result.pick
    first_cli = cli["table"][0]
    assert single.inputs["description"] == cli["models"]["tiny_a"]["inputs"]["description"]
    assert "held-out frames" in single.inputs["description"]
    for key in ("pick_r2", "interpolate", "alignment", "axis_alignment", "reconstruction_r2"):
        assert single.model.row()[key] == pytest.approx(first_cli[key], abs=1e-9), key
        for i, res in enumerate(p.comparison):
            assert res.row()[key] == pytest.approx(cli["table"][i][key], abs=1e-9), key
    # the controls too
    for role in ("exact", "rotated", "untrained", "pca"):
        got = single.control(role).interpolate
        assert got == pytest.approx(cli["models"]["tiny_a"]["controls"][role]["interpolate"], abs=1e-9)
    # and the views show these numbers
    view = p.pick_view
    assert view.table.rowCount() == 5
    col = 2 + [k for k, _, _ in COLUMNS].index("interpolate")
    assert view.table.item(0, col).text() == share(first_cli["interpolate"], 4)
    assert view.table.item(2, 0).text() == "rotated P&I"
    assert share(single.model.pick, 4) in view.headline.text()
    assert "Axis alignment (basis-dependent)" in view.headline.text()
    assert view.inputs.text().endswith(single.inputs["description"])
    ccol = 3 + list(p.compare_table.KEYS).index("interpolate")
    assert p.compare_table.item(1, ccol).text() == share(cli["table"][1]["interpolate"], 4)
    for t in (view.table, p.compare_table):
        assert all(t.horizontalHeaderItem(j).toolTip() for j in range(2, t.columnCount()))
    assert view.table.item(2, 0).toolTip().startswith("Control: the exact network with its latents")
    assert p.export_items()["pick_interpolate"]["score"]["interpolate"] == pytest.approx(
        single.model.interpolate)
    assert p.state()["pick_cli"].startswith(f"eegmi analyze pick-interpolate {models[0]} --inputs heldout")


def test_random_inputs_are_an_explicit_choice(qtbot, panel, capsys, models):
    p = panel
    p.pick_options.kind.setCurrentIndex(p.pick_options.kind.findData("random"))
    p.pick_options.count.setValue(80)
    assert "--inputs random --count 80" in p.state()["pick_cli"]
    with qtbot.waitSignal(p.result_ready, timeout=120000):
        p.job.run_button.click()
    res = p.result.pick
    assert res.inputs["kind"] == "random" and "random mixes" in p.pick_view.inputs.text()
    cli = _cli(capsys, ["analyze", "pick-interpolate", models[0], "--inputs", "random",
                        "--count", "80"])
    assert res.model.interpolate == pytest.approx(cli["table"][0]["interpolate"], abs=1e-9)
    assert np.isfinite(res.model.pick)
