"""Propagation, eigenspectra and saliency panels on a tiny untrained ConvVAE."""

from __future__ import annotations

import threading

import numpy as np
import PySide6
import pytest
from gui_fixtures import loaded_session, write_tiny_data, write_tiny_model
from PySide6 import QtCore

# see tests/app/test_activations.py: PySide6 6.12.0 drops a reference to None per
# pyqtgraph itemChange call; hold spare references for this run
if PySide6.__version__ == "6.12.0":
    _PYSIDE_NONE_GUARD = [None] * 2_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis_panels")
    model = write_tiny_model(root / "tiny_vae", seed=3, latent=4)
    data = write_tiny_data(root / "tiny.npz", seed=1)
    return model, data


@pytest.fixture
def session(qtbot, files):
    model, data = files
    s = loaded_session(qtbot, model, data)
    yield s
    s.shutdown()


def _pipe(session):
    from eegmi.analysis.propagation import pipeline_for

    return pipeline_for(session.model)


def _run(job):
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def _show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(1000, 650)
    widget.show()
    qtbot.waitExposed(widget)


# ---- propagation -------------------------------------------------------------
@pytest.fixture
def prop_panel(qtbot, session):
    from app.panels.propagation import PropagationPanel

    p = PropagationPanel(session)
    _show(qtbot, p)
    p.n_inputs.setValue(66)  # the fewest linearity accepts for 32 electrodes
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    return p


def test_propagation_fills_matrix_with_the_analysis_numbers(prop_panel, session) -> None:
    from eegmi.analysis.linearity import linearity
    from eegmi.analysis.propagation import propagation

    p = prop_panel
    expected = _run(propagation(session.model.model, _pipe(session), (1.0,)))
    assert p.layer_box.count() == len(expected.hook_names)
    for layer in ("enc.act1", "latent.mu", "out"):
        p.layer_box.setCurrentText(layer)
        np.testing.assert_allclose(p.heatmap.matrix, expected.unit_response[layer], rtol=1e-5, atol=1e-6)
    assert p.heatmap.row_names == list(session.operator.montage.ch_names)
    rows = {r["layer"]: r for r in p.summary_rows()}
    for ref in expected.layer_summary():
        got = rows[ref["layer"]]
        assert (got["monosemantic"], got["polysemantic"], got["dead"]) == (
            ref["monosemantic"], ref["polysemantic"], ref["dead"])
    # the table shows the same counts
    i = list(rows).index("enc.act1")
    assert int(p.table.item(i, 2).text()) == rows["enc.act1"]["monosemantic"]
    # the linearity column is the analysis' R² on the same (random, seed 0) inputs
    lin = _run(linearity(session.model.model, _pipe(session), n_inputs=66))
    assert rows["enc.conv1"]["linearity_r2"] == pytest.approx(lin.r2["enc.conv1"], abs=1e-9)
    pick = p.result.pick  # on the loaded dataset's frames: the model card names no data
    assert pick is not None and "held-out frames" in pick.inputs["description"]
    assert pick.label == "tiny_vae" and "tiny_vae" in p.pick_view.headline.text()
    items = p.export_items()
    assert items["layer"] == "out" and np.array_equal(items["matrix"], p.heatmap.matrix)
    assert p.state()["panel"] == "propagation"


def test_clicking_a_row_injects_that_electrodes_one_hot(qtbot, prop_panel, session) -> None:
    from eegmi.data.injection import one_hot

    p = prop_panel
    p.layer_box.setCurrentText("enc.act1")
    row = session.operator.montage.index("Oz")
    view = p.heatmap
    pos = view.mapFromScene(view.row_scene_pos(row))
    with qtbot.waitSignal(session.forward_ready, timeout=10000) as blocker:
        qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    expected = one_hot(session.operator.montage, "Oz")
    np.testing.assert_array_equal(session.values, expected)
    assert view.selected_row == row
    # the forward pass (scalp map, activation grids) is of that one-hot input
    np.testing.assert_allclose(blocker.args[0].values, expected)


# ---- eigenspectra ----------------------------------------------------------------
def test_spectra_panel_shows_the_analysis_alpha(qtbot, session) -> None:
    from dataclasses import replace

    from app.panels.spectra import SpectraPanel
    from eegmi.analysis.spectra import model_spectra
    from eegmi.analysis.spectra_options import SpectraOptions

    p = SpectraPanel(session)
    _show(qtbot, p)
    # the panel's defaults are the CLI's (one SpectraOptions), seed cap included
    d = SpectraOptions()
    assert (p.n_inputs.value(), p.max_dim.value(), p.null_seeds.value()) == \
        (d.count, d.max_dim, d.null_seeds)
    assert p.options() == replace(d, data=session.data_name)  # the tiny card names no data
    p.n_inputs.setValue(50)
    p.n_proj.setValue(20)
    p.max_dim.setValue(150)  # every 11th of 1600 dims: small eigendecompositions
    p.null_seeds.setValue(2)
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    opts = replace(d, count=50, max_dim=150, null_seeds=2, data=session.data_name, projections=20)
    assert p.options() == opts
    expected = _run(model_spectra(session.model, opts))
    assert p.result.n_inputs == 50 and "held-out" in p.result.inputs
    p.layer_box.setCurrentText("enc.act1")
    alpha = expected.spectra["enc.act1"].alpha
    assert alpha is not None and alpha > 0  # eigenvalue ∝ k^-alpha
    assert p.alphas()["enc.act1"] == pytest.approx(alpha, rel=1e-9)
    assert p.alphas()["dec.act2"] == pytest.approx(expected.spectra["dec.act2"].alpha, rel=1e-9)
    null = expected.null["enc.act1"]
    assert f"α = {alpha:.4f}" in p.alpha_label.text()
    assert f"untrained {null.mean:.3f} ± {null.sd:.3f}" in p.alpha_label.text()
    assert f"input {expected.input.alpha:.3f}" in p.alpha_label.text()
    # 50 inputs span at most 49 dimensions: the 10-50 window reaches past that rank
    assert expected.spectra["enc.act1"].effective_rank <= 49
    assert "effective rank" in p.warning_label.text()
    # α against depth: trained, the untrained null (mean ± sd) and the input
    names = {c.name() for c in p.alpha_plot.listDataItems()}
    assert {"tiny_vae trained", "untrained (2 seeds, mean ± sd)", "input", "fit warning"} <= names
    assert "k^-α" in p.alpha_plot.getAxis("left").labelText
    # the fitted line drawn over components 10-50 is the analysis' fit
    fit_curve = [c for c in p.spec_plot.listDataItems() if "fit" in (c.name() or "")][0]
    x, y = fit_curve.getOriginalDataset()
    assert x[0] == 10 and x[-1] == 50
    np.testing.assert_allclose(y, expected.spectra["enc.act1"].fit.predict(x), rtol=1e-6)
    # the auto window ends below the effective rank and the rank warning goes
    p.fit_box.setCurrentIndex(1)
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    es = p.report().spectra["enc.act1"]
    assert es.fit.fit_range[1] < es.effective_rank
    assert "effective rank" not in p.warning_label.text()
    # projections: one average action per layer, "input" first
    actions = p.export_items()["projections"]["action"]
    assert list(actions)[0] == "input" and list(actions)[1:] == list(p.alphas())
    assert p.state()["n_inputs"] == 50 and p.state()["fit_range"] == "auto"


# ---- saliency ----------------------------------------------------------------------
@pytest.fixture
def sal_panel(qtbot, session):
    from app.panels.saliency import SaliencyPanel
    from eegmi.data.injection import mix

    p = SaliencyPanel(session)
    _show(qtbot, p)
    values = mix({"Fz": 1.0, "O1": 0.7}, session.operator.montage)
    with qtbot.waitSignal(session.forward_ready, timeout=10000):
        session.set_values(values)
    return p


@pytest.mark.parametrize(("method", "target"), [("integrated_gradients", "latent:2"),
                                                ("gradcam", "region:10,12,18,20")])
def test_saliency_map_equals_the_analysis(qtbot, sal_panel, session, method, target, tmp_path) -> None:
    from eegmi.analysis.saliency import Target, saliency

    p = sal_panel
    p.set_method(method)
    if target.startswith("latent"):
        p.target_box.setCurrentIndex(p.target_box.findData("latent"))
        p.latent_spin.setValue(2)
    else:
        p.pick_region(10, 12, 18, 20)
    assert p.target_spec() == target
    with qtbot.waitSignal(p.result_ready, timeout=60000):
        p.job.run_button.click()
    expected = _run(saliency(session.model.model, _pipe(session), session.values[None], [method],
                             Target.parse(target, 40)))
    np.testing.assert_allclose(p.current_map(), expected.maps[method][0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.electrode_attribution(), expected.electrodes[method][0],
                               rtol=1e-5, atol=1e-7)
    # the overlay shows the map inside the head disc over the input's topomap
    head = session.operator.head_mask
    np.testing.assert_allclose(p.map_image.image[head], expected.maps[method][0][head], rtol=1e-5,
                               atol=1e-7)
    assert np.isnan(p.map_image.image[~head]).all()
    np.testing.assert_allclose(p.input_image.image[head], session.operator.render(session.values)[head],
                               atol=1e-6)
    assert p.elec_plot.isVisible()  # a mix of two electrodes: per-electrode view shown
    assert p.export_items()["target"] == target and p.state()["method"] == method
    from app.export import export_panel

    files = export_panel(p, tmp_path / "saliency", ("npz", "json", "png"))
    assert all(f.is_file() for f in files)
    with np.load(files[0]) as z:
        # the figure's map: the panel's map inside the head disc, blank (NaN) outside
        np.testing.assert_array_equal(z["map"][head], p.current_map()[head])
        assert np.isnan(z["map"][~head]).all()


def test_clicking_the_output_picks_a_pixel_target(qtbot, sal_panel) -> None:
    p = sal_panel
    vb = p.pick_box
    scene = vb.mapViewToScene(QtCore.QPointF(13.5, 7.5))  # (col, row) view coordinates
    qtbot.mouseClick(p.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=p.view.mapFromScene(scene))
    assert p.target_spec() == "pixel:7,13"
    assert p.target_box.currentData() == "pixel"


def test_sanity_verdicts_equal_the_cli(qtbot, sal_panel, session, files, capsys) -> None:
    """The panel runs the CLI's check: same defaults, same inputs (held-out frames of the
    loaded data: the tiny model's card names none), same verdicts and statistics."""
    import json
    import shlex

    from app.panels.saliency import METHOD_LABELS
    from eegmi.analysis.sanity_options import SanityOptions
    from eegmi.cli import main

    p = sal_panel
    box = p.sanity_box
    assert box.inputs_box.currentData() == SanityOptions().inputs == "heldout"
    assert box.count_spin.value() == SanityOptions().count
    box.count_spin.setValue(6)
    p.target_box.setCurrentIndex(p.target_box.findData("latent"))
    p.latent_spin.setValue(1)
    with qtbot.waitSignal(p.sanity_ready, timeout=180000):
        p.sanity_job_ctl.run_button.click()
    res = p.sanity
    assert res.methods == [m for m, _ in METHOD_LABELS]
    assert res.inputs["kind"] == "heldout" and res.inputs["n"] == 6
    # the command line the panel shows is what the CLI runs
    cmd = shlex.split(box.cli(session.model_name))
    _, data = files
    assert cmd[:3] == ["eegmi", "analyze", "sanity"] and cmd[cmd.index("--data") + 1] == str(data)
    assert "--target" in cmd and "--count" in cmd and "--inputs" not in cmd
    assert main(cmd[1:] + ["--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["inputs"]["description"] == res.inputs["description"]
    assert box.verdicts() == cli["verdicts"] == {m: res.label(m) for m in res.methods}
    for m in res.methods:
        stages = cli["methods"][m]["stages"]
        for s, stage in enumerate(stages):
            for k, stat in enumerate(("rank_abs", "rank_signed", "ssim")):
                assert stage["similarity"][stat] == pytest.approx(res.mean_similarity(m)[s, k],
                                                                  abs=1e-6, nan_ok=True)
    # the selected method's curves and the rule are on screen
    assert "baseline" in box.caption.text() and "held-out" in box.caption.text()
    assert box.table.rowCount() == 6
    np.testing.assert_allclose(box.curve(0), np.nan_to_num(res.mean_similarity(res.methods[0])[:, 0]))
    box.table.selectRow(4)
    assert box.method == res.methods[4]
    np.testing.assert_allclose(box.curve(2), np.nan_to_num(res.mean_similarity(res.methods[4])[:, 2]))
    assert p.export_items()["sanity"]["verdicts"] == cli["verdicts"]


def test_cancel_stops_a_run(qtbot, sal_panel, session) -> None:
    p = sal_panel
    gate = threading.Event()
    # occupy the worker so the sanity job is still queued when it is cancelled
    block = session.call(lambda: gate.wait(30), "test block")
    handle = p.run_sanity()
    assert p.sanity_job_ctl.running and p.sanity_job_ctl.cancel_button.isEnabled()
    with qtbot.waitSignal(p.sanity_job_ctl.cancelled, timeout=10000):
        p.sanity_job_ctl.cancel_button.click()
    with qtbot.waitSignal(block.finished, timeout=10000):
        gate.set()
    assert not p.sanity_job_ctl.running and p.sanity_job_ctl.run_button.isEnabled()
    assert p.sanity_job_ctl.status.text() == "cancelled"
    assert handle is not None and handle.state == "cancelled" and p.sanity is None


def test_bundled_comparisons_use_the_analysis(qtbot, session, files, tmp_path, monkeypatch) -> None:
    """Stand-in "bundled" models (checkpoint paths) for the spectra's α-against-depth
    comparison (the pick & interpolate table: tests/app/test_pick_panel.py)."""
    import app.panels.spectra as spec_mod
    from app.panels.spectra import SpectraPanel

    other = str(write_tiny_model(tmp_path / "other", seed=7, latent=4))
    names = [str(files[0]), other]
    monkeypatch.setattr(spec_mod, "bundled_names", lambda: list(names))
    s = SpectraPanel(session)
    _show(qtbot, s)
    # the current model is not offered against itself
    assert list(s.model_boxes) == [other]
    s.model_boxes[other].setChecked(True)
    s.n_inputs.setValue(40)
    s.n_proj.setValue(5)
    s.max_dim.setValue(100)
    s.null_seeds.setValue(1)
    with qtbot.waitSignal(s.result_ready, timeout=60000):
        s.job.run_button.click()
    assert set(s.result.reports) == {"tiny_vae", other}
    names = [c.name() for c in s.alpha_plot.listDataItems()]
    assert names.count(f"{other} trained") == 1 and names.count("tiny_vae trained") == 1
    assert not s.report(other).null and s.report().null  # the null is the current model's
    assert s.alphas(other)["enc.act1"] != pytest.approx(s.alphas()["enc.act1"])
