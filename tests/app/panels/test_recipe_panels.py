"""The Eigenspectra and Saliency panels run the core recipes: run a panel through its
buttons, take its ``state()``, re-run the state headless (``rerun_job`` and
``eegmi rerun --json``) and get the numbers the panel shows."""

from __future__ import annotations

import json
import math

import numpy as np
import PySide6
import pytest
from gui_fixtures import loaded_session, write_tiny_data, write_tiny_model

from eegmi.jobs import run_job

# see tests/app/test_activations.py: PySide6 6.12.0 drops a reference to None per
# pyqtgraph itemChange call; hold spare references for this run
if PySide6.__version__ == "6.12.0":
    _PYSIDE_NONE_GUARD = [None] * 2_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe_panels")
    return write_tiny_model(root / "tiny_vae", seed=3, latent=4), write_tiny_data(root / "tiny.npz", seed=1)


@pytest.fixture
def session(qtbot, files):
    model, data = files
    s = loaded_session(qtbot, model, data)
    yield s
    s.shutdown()


def _show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(1000, 650)
    widget.show()
    qtbot.waitExposed(widget)


def assert_same(a, b, path="summary"):
    """Nested JSON-like values equal, floats to 1e-9 (relative)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def rerun_both(state, tmp_path, capsys):
    """The summary of ``state`` re-run headless by ``rerun_job`` and by ``eegmi rerun --json``."""
    from eegmi.cli import main
    from eegmi.recipes.base import rerun_job

    recipe, result = run_job(rerun_job(json.loads(json.dumps(state))))
    headless = recipe.summary(result)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    capsys.readouterr()
    assert main(["rerun", str(path), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["recipe"] == state["recipe"] and cli["model"] == state["model"]
    return headless, cli["summary"]


def test_spectra_panel_state_reruns_to_the_shown_numbers(qtbot, session, tmp_path, capsys) -> None:
    from app.panels.spectra import SpectraPanel
    from eegmi.analysis.spectra_options import SpectraOptions
    from eegmi.recipes.spectra import SPECTRA

    p = SpectraPanel(session)
    _show(qtbot, p)
    d = SpectraOptions()
    # the boxes start from the recipe's defaults, the seed's 8000-dim cap included
    assert (p.n_inputs.value(), p.max_dim.value(), p.null_seeds.value(), p.n_proj.value()) == \
        (d.count, d.max_dim, d.null_seeds, d.projections) and d.max_dim == 8000
    assert "analysis" not in p.state()
    p.n_inputs.setValue(30)
    p.n_proj.setValue(4)
    p.max_dim.setValue(120)
    p.null_seeds.setValue(2)
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    state = p.state()["analysis"]
    assert state["recipe"] == "spectra" and state["model"] == session.model_name
    assert state["options"]["count"] == 30 and state["options"]["projections"] == 4
    shown = SPECTRA.summary(p.result)
    headless, cli = rerun_both(state, tmp_path, capsys)
    assert_same(shown, headless)
    assert_same(shown, cli)
    # the numbers on screen are the re-run's
    assert any(a is not None for a in p.alphas().values())
    for layer, alpha in p.alphas().items():
        if alpha is None or not math.isfinite(alpha):
            assert headless["alpha"][layer] is None
        else:
            assert headless["alpha"][layer] == pytest.approx(alpha, rel=1e-9)
    p.layer_box.setCurrentText("enc.act1")
    layer = headless["layers"]["enc.act1"]
    assert f"α = {layer['alpha']:.4f}" in p.alpha_label.text()
    assert f"untrained {layer['null_mean']:.3f} ± {layer['null_sd']:.3f}" in p.alpha_label.text()
    assert f"input {headless['input_alpha']:.3f}" in p.alpha_label.text()
    assert list(headless["action"]) == list(p.export_items()["projections"]["action"])


def test_saliency_panel_state_reruns_to_the_shown_map(qtbot, session, tmp_path, capsys) -> None:
    from app.panels.saliency import SaliencyPanel
    from eegmi.analysis.saliency_options import SaliencyOptions
    from eegmi.data.injection import mix

    p = SaliencyPanel(session)
    _show(qtbot, p)
    assert p.method() == SaliencyOptions().methods[0]  # the CLI's default method
    values = mix({"Fz": 1.0, "O1": 0.6}, session.operator.montage)
    with qtbot.waitSignal(session.forward_ready, timeout=10000):
        session.set_values(values)
    p.set_method("input_x_gradient")
    p.latent_spin.setValue(2)
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    state = p.state()["analysis"]
    assert state["recipe"] == "saliency"
    assert state["options"]["methods"] == ["input_x_gradient"]
    assert state["options"]["target"] == "latent:2"
    np.testing.assert_array_equal(np.asarray(state["options"]["values"], np.float32), values)
    headless, cli = rerun_both(state, tmp_path, capsys)
    assert_same(headless, cli)
    shown = p.electrode_attribution()
    names = session.operator.montage.ch_names
    rerun_el = headless["methods"]["input_x_gradient"]["electrodes"]
    np.testing.assert_allclose([rerun_el[n] for n in names], shown, rtol=1e-9, atol=1e-12)
    assert headless["methods"]["input_x_gradient"]["map_abs_sum"] == pytest.approx(
        float(np.abs(p.current_map()).sum()), rel=1e-9)
    assert headless["target"] == p.result.target
    # File › Export panel writes the state into its .json: that file re-runs too
    from app.export import export_panel
    from eegmi.cli import main

    (exported,) = export_panel(p, tmp_path / "saliency_export", ["json"])
    capsys.readouterr()
    assert main(["rerun", str(exported), "--json"]) == 0
    assert_same(json.loads(capsys.readouterr().out)["summary"], headless)


def test_sanity_verdicts_equal_wherever_they_run(qtbot, session, tmp_path, capsys) -> None:
    """The saliency panel's sanity table, the view's exported state re-run headless, and
    ``eegmi rerun`` of it give the same verdicts and statistics (one recipe)."""
    from app.panels.saliency import SaliencyPanel

    p = SaliencyPanel(session)
    _show(qtbot, p)
    box = p.sanity_box
    box.count_spin.setValue(4)
    p.target_box.setCurrentIndex(p.target_box.findData("latent"))
    p.latent_spin.setValue(1)
    with qtbot.waitSignal(p.sanity_ready, timeout=180000):
        p.sanity_job_ctl.run_button.click()
    state = p.state()["sanity_analysis"]
    assert state["recipe"] == "sanity" and state["options"]["target"] == "latent:1"
    assert state == box.state()
    headless, cli = rerun_both(state, tmp_path, capsys)
    assert box.verdicts() == headless["verdicts"] == cli["verdicts"]
    assert len(box.verdicts()) == 6
    assert_same(headless, cli)
    for i, m in enumerate(p.sanity.methods):
        last = headless["randomised"][m]
        shown = box.table.item(i, 2).text().split(" / ")[0]
        assert shown == ("–" if last[0] is None else f"{last[0]:.2f}")
