"""The propagation panel runs the ``propagation`` and ``pick_compare`` recipes: one model's
pick & interpolate numbers are the same in the single-model report and the across-models
table, and the panel's exported state re-runs headless to the numbers it shows."""

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

N_FRAMES = 150  # enough for the linearity fit on frames (2 (32 + 1) = 66)


def _data(path):
    from eegmi.data.loaders import save_npz
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData

    rng = np.random.default_rng(5)
    values = np.cumsum(rng.normal(size=(N_FRAMES, 32)), axis=0).astype(np.float32) * 5.0
    data = EEGData(values, tuple(DEAP_CHANNELS), 128.0, np.zeros(N_FRAMES, np.int16),
                   np.repeat(np.arange(3), N_FRAMES // 3).astype(np.int32))
    return str(save_npz(data, path))


def _model(folder, data, seed: int) -> str:
    """A tiny untrained VAE (marks, scaler ±40) whose card names ``data`` as its source."""
    return str(write_tiny_model(folder, seed=seed, marks=True, scale=40.0, data=data))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("prop_recipes")
    data = _data(root / "rec.npz")
    return data, [_model(root / "tiny_a", data, 3), _model(root / "tiny_b", data, 4)]


@pytest.fixture
def panel(qtbot, files, monkeypatch):
    import app.panels.propagation as prop_mod
    from app.panels.propagation import PropagationPanel

    data, models = files
    monkeypatch.setattr(prop_mod, "bundled_names", lambda: list(models))
    s = Session()
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        s.set_model(models[0])
    with qtbot.waitSignal(s.data_changed, timeout=30000):
        s.set_data(data)
    p = PropagationPanel(s)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.show()
    qtbot.waitExposed(p)
    p.n_inputs.setValue(66)
    p.pick_options.count.setValue(60)
    yield p
    s.shutdown()


def _same(a, b, path="summary"):
    """Equal JSON-like trees, floats to 1e-9."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=1e-9), path
    else:
        assert a == b, path


def _run_both(qtbot, p):
    with qtbot.waitSignal(p.result_ready, timeout=120000):
        p.job.run_button.click()
    p.compare.run_button.click()
    qtbot.waitUntil(lambda: not p.compare.running, timeout=120000)
    assert p.comparison, f"the across-models run failed: {p.compare.status.text()}"


def test_single_model_and_across_models_show_the_same_numbers(qtbot, panel, files):
    """A model whose card names a data file, with that file loaded: both places of the
    GUI score it on the same inputs and show the same pick & interpolate numbers."""
    p = panel
    _run_both(qtbot, p)
    single = p.summary["pick"]
    row = p.comparison_summary["models"][0]
    assert single["inputs"] == row["inputs"] and "held-out frames" in single["inputs"]
    _same(single, row)
    # and the two views show these numbers
    view, table = p.pick_view.table, p.compare_table
    for key in ("pick_r2", "interpolate", "alignment", "axis_alignment", "reconstruction_r2"):
        vcol = 2 + [k for k, _, _ in COLUMNS].index(key)
        ccol = 3 + list(table.KEYS).index(key)
        assert view.item(0, vcol).text() == table.item(0, ccol).text() == share(single[key], 4)
    assert table.item(0, 0).text() == single["model"] == "tiny_a"
    # the controls' interpolate in the table is the one the single-model view shows
    icol = 2 + [k for k, _, _ in COLUMNS].index("interpolate")
    roles = [view.item(i, 0).text() for i in range(view.rowCount())]
    for j, role in ((0, "untrained"), (1, "PCA-4")):
        shown = view.item(roles.index(role), icol).text()
        assert table.item(0, 3 + len(table.KEYS) + j).text() == shown


def test_exported_state_reruns_headless_to_the_panel_numbers(qtbot, panel, files, tmp_path,
                                                             capsys):
    from eegmi.cli import main
    from eegmi.jobs import run_job
    from eegmi.recipes.base import rerun_job

    p = panel
    _run_both(qtbot, p)
    state = p.state()
    analysis = state["analysis"]
    assert analysis["recipe"] == "propagation" and analysis["model"] == files[1][0]
    assert analysis["data"] == files[0] and analysis["options"]["linearity_inputs"] == 66
    recipe, result = run_job(rerun_job(analysis))
    _same(p.summary, recipe.summary(result))
    # the linearity fit ran on the dataset's frames, and its R² is what the table shows
    assert "frames" in result.linearity.source
    rows = p.summary["layers"]
    col = list(p.table.horizontalHeaderItem(j).text()
               for j in range(p.table.columnCount())).index("linearity R²")
    for i, r in enumerate(rows):
        assert p.table.item(i, col).text() == f"{r['linearity_r2']:.3f}"
    # the across-models table re-runs too
    recipe, result = run_job(rerun_job(state["comparison_analysis"]))
    _same(p.comparison_summary, recipe.summary(result))
    # and through the CLI, from the panel's exported JSON
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state), encoding="utf-8")
    capsys.readouterr()
    assert main(["rerun", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recipe"] == "propagation"
    _same(p.summary, out["summary"])
