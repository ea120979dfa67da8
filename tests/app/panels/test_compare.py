"""Compare panel: a second model pinned from the Model menu, shown beside the first for
the input the scalp map shows (reconstructions, difference, layers, latents, α)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.panels.compare import EMPTY
from eegmi.inference import Inference
from eegmi.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    bad = root / "broken"
    bad.mkdir()
    (bad / "model.json").write_text("{not json")
    return {"data": write_tiny_data(root / "a.npz"),
            "a": write_tiny_model(root / "model_a", seed=0),
            "b": write_tiny_model(root / "model_b", seed=1, scale=30.0),
            "c": write_tiny_model(root / "model_c", seed=2),
            "wide": _wide_model(root / "wide"), "bad": bad}


def _wide_model(folder):
    """A tiny VAE on the 16 electrodes of biosemi16: it cannot see a biosemi32 input."""
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    torch.manual_seed(3)
    model = build_model(ModelConfig(kind="vae", latent_dim=4, filters=(4, 4, 4), n_electrodes=16))
    return save_checkpoint(folder, model, {
        "name": folder.name, "scaler": {"lo": -20.0, "hi": 20.0, "q_low": 5.0, "q_high": 95.0},
        "injection": {"marks": False, "occlusion": False, "mark_value": 1.0},
        "montage": {"name": "biosemi16"}, "operator": {"size": 40, "method": "cubic"}})


def _load(qtbot, w, data, model) -> None:
    s = w.session
    with qtbot.waitSignal(s.data_changed, timeout=30000):
        w.open_data(data)
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        w.open_model(model)


def _pin_from_menu(qtbot, w, monkeypatch, folder) -> None:
    """Model › Pin model for comparison › Checkpoint folder…, the dialog answering ``folder``."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    assert w.pin_folder_action in w.pin_menu.actions()
    with qtbot.waitSignal(w.session.pinned_changed, timeout=30000):
        w.pin_folder_action.trigger()


def _click(qtbot, w, name: str) -> None:
    scalp = w.panels["scalp"]
    i = w.session.operator.montage.index(name)
    qtbot.mouseClick(scalp.scalp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     scalp.scalp.electrode_pos(i).toPoint())


def _wait_current(qtbot, panel) -> None:
    """Until the panel shows the comparison of the input the workbench holds now."""
    wb = panel.session.workbench
    qtbot.waitUntil(lambda: panel.comparison is not None and np.array_equal(
        panel.comparison.a.values, wb.input_values()), timeout=20000)


def test_pin_click_and_see_both_models(qtbot, window, files, monkeypatch) -> None:
    s, panel = window.session, window.panels["compare"]
    _load(qtbot, window, files["data"], files["a"])
    assert panel.status.text() == EMPTY and not panel.content.isVisibleTo(panel)
    assert not window.unpin_action.isEnabled()
    _pin_from_menu(qtbot, window, monkeypatch, files["b"])
    assert panel.empty_state() == "" and panel.content.isVisibleTo(panel)
    assert "(your model)" in panel.status.text() and "model_b" in window.pinned_label.text()
    _click(qtbot, window, "O1")
    qtbot.waitUntil(lambda: dict(s.input.mix) == {"O1": 1.0}, timeout=5000)
    _wait_current(qtbot, panel)
    assert panel.comparison.matching.same_names
    va, vb = s.workbench.input_values(), s.workbench.pinned_values()
    ra = Inference(load_checkpoint(files["a"])).forward_values(va)
    rb = Inference(load_checkpoint(files["b"])).forward_values(vb)
    np.testing.assert_allclose(panel.recon_a.data, ra.recon, atol=1e-6)
    np.testing.assert_allclose(panel.recon_b.data, rb.recon, atol=1e-6)
    np.testing.assert_allclose(panel.input_plot.data, ra.model_input, atol=1e-6)
    mask = np.asarray(s.operator.head_mask, bool)
    expected = np.where(mask, ra.recon - rb.recon, 0.0)
    np.testing.assert_allclose(panel.diff_plot.data, expected, atol=1e-6)
    lim = float(np.abs(expected).max())
    assert panel.diff_plot.levels == pytest.approx((-lim, lim), rel=1e-5)
    assert f"SSIM {ra.ssim:.4f}" in panel.metrics.text() and f"SSIM {rb.ssim:.4f}" in panel.metrics.text()
    # the same architecture: every hook point matched by name, each with its difference
    table = panel.layers.table
    names = list(ra.activations)
    assert table.rowCount() == len(names) and "matched by name" in panel.layers.rule.text()
    for r, n in enumerate(names):
        assert table.item(r, 0).text() == n == table.item(r, 1).text()
        rel = np.linalg.norm(ra.activations[n] - rb.activations[n]) / np.linalg.norm(ra.activations[n])
        assert float(table.item(r, 6).text()) == pytest.approx(rel, rel=1e-3)
    # the selected pair's maps: A, B and A − B of the same layer
    row = names.index("enc.act2")
    table.selectRow(row)
    arrays = panel.layers.pair_arrays()
    np.testing.assert_allclose(arrays["difference"], ra.activations["enc.act2"] - rb.activations["enc.act2"],
                               atol=1e-6)
    norms = panel.latents.norms.text()
    assert f"‖z_A‖ = {np.linalg.norm(ra.mu):.4g}" in norms and f"‖z_B‖ = {np.linalg.norm(rb.mu):.4g}" in norms
    items = panel.export_items()
    np.testing.assert_allclose(items["recon/B"], rb.recon, atol=1e-6)
    np.testing.assert_allclose(items["latent/A"], ra.mu, atol=1e-6)
    state = panel.state()
    assert state["model_b"].endswith("model_b") and state["pinned"] == str(files["b"])
    assert state["layer_pair"] == ["enc.act2", "enc.act2"]
    # a dock covered by another tab draws nothing per click; raised, it shows the newest
    window.docks["latents"].raise_()
    qtbot.waitUntil(lambda: panel._covered, timeout=5000)
    before = panel.comparison
    _click(qtbot, window, "Fp1")
    qtbot.waitUntil(lambda: s.last_compare is not None and np.array_equal(
        s.last_compare.a.values, s.workbench.input_values()), timeout=20000)
    assert dict(s.input.mix) == {"Fp1": 1.0} and panel.comparison is before
    window.docks["compare"].raise_()
    _wait_current(qtbot, panel)
    assert panel.comparison is s.last_compare
    # switching the current model while pinned: A is the new model, B stays
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        window.open_model(files["c"])
    rc = Inference(load_checkpoint(files["c"])).forward_values(s.workbench.input_values())
    qtbot.waitUntil(lambda: panel.comparison is not None
                    and np.allclose(panel.comparison.a.recon, rc.recon, atol=1e-6), timeout=20000)
    rb_now = Inference(load_checkpoint(files["b"])).forward_values(s.workbench.pinned_values())
    np.testing.assert_allclose(panel.recon_b.data, rb_now.recon, atol=1e-6)
    assert "model_c" in panel.status.text()
    # a dataset frame: each model's own scaler (B was trained on a louder scale)
    s.workbench.set_frame(5)
    _wait_current(qtbot, panel)
    assert s.input.mode == "dataset"
    raw = np.asarray(s.data.values[s.input.frame], np.float32)
    np.testing.assert_allclose(panel.comparison.b.values, s.pinned.scaler.transform(raw), rtol=1e-6)
    # Model › Unpin: back to the empty state
    assert window.unpin_action.isEnabled()
    with qtbot.waitSignal(s.pinned_changed, timeout=5000):
        window.unpin_action.trigger()
    assert panel.status.text() == EMPTY and panel.export_items() == {}
    assert not panel.content.isVisibleTo(panel) and window.pinned_label.text() == ""


def test_a_model_pinned_beside_itself_differs_nowhere_and_alpha_runs_for_both(
        qtbot, window, files, tmp_path) -> None:
    s, panel = window.session, window.panels["compare"]
    _load(qtbot, window, files["data"], files["a"])
    with qtbot.waitSignal(s.pinned_changed, timeout=30000):
        window.pin_model(files["a"])
    _click(qtbot, window, "Cz")
    qtbot.waitUntil(lambda: "Cz" in s.input.mix, timeout=5000)
    _wait_current(qtbot, panel)
    cmp = panel.comparison
    assert cmp.diff_range == 0.0 and not np.any(panel.diff_plot.data)
    assert all(p.rel_l2 == 0.0 for p in cmp.layers)
    np.testing.assert_array_equal(cmp.latent_a, cmp.latent_b)
    # the eigenspectra of both on the same inputs: the Run button, progress, a result
    panel.n_inputs.setValue(48)
    assert window.unsaved_work() == []
    with qtbot.waitSignal(panel.result_ready, timeout=120000):
        panel.job.run_button.click()
    # quitting now would lose the α comparison: File › Quit asks first
    assert window.unsaved_work() == [window.docks["compare"].windowTitle()]
    res = panel.spectra
    assert res.n_inputs == 48 and "a.npz" in res.inputs
    assert all(x == y for _a, _b, x, y in res.alpha_rows())
    np.testing.assert_allclose(res.cca, 1.0, atol=1e-5)
    assert "mean 1.000" in panel.alphas.summary.text()
    assert panel.export_items()["eigenspectra"]["n_inputs"] == 48
    assert panel.state()["spectra_options"]["count"] == 48
    # File › Export writes the figure, its numbers and the state of both models
    import json

    from app.export import export_panel

    written = export_panel(panel, tmp_path / "compare", ["png", "npz", "json"])
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["workbench"]["model"] == doc["workbench"]["pinned"] and len(written) == 3
    assert doc["view"]["spectra_options"]["count"] == 48 and doc["data"]["spectra_n"] == 48
    with np.load(tmp_path / "compare.npz") as npz:
        assert not np.any(npz["difference"]) and npz["recon_a"].shape == (40, 40)
        np.testing.assert_allclose(npz["cca"], 1.0, atol=1e-5)
    # the screenshot export keeps the panel's items
    export_panel(panel, tmp_path / "shot", ["npz", "json"], screenshot=True)
    doc = json.loads((tmp_path / "shot.json").read_text())
    assert doc["state"]["model_a"] == doc["state"]["model_b"]
    assert doc["items"]["eigenspectra"]["n_inputs"] == 48
    with np.load(tmp_path / "shot.npz") as npz:
        assert not np.any(npz["difference"]) and npz["recon/A"].shape == (40, 40)


def test_a_bad_or_incomparable_model_gives_a_message_not_a_traceback(
        qtbot, window, files, monkeypatch) -> None:
    s, panel = window.session, window.panels["compare"]
    _load(qtbot, window, files["data"], files["a"])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(files["bad"]))
    window.pin_folder_action.trigger()
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(),
                    timeout=30000)
    text = window.error_box.text()
    assert "broken" in text and "Traceback" not in text and "\n" not in text
    assert s.pinned is None and panel.status.text() == EMPTY
    # another montage: pinned, but said plainly that no input is the same for both
    with qtbot.waitSignal(s.pinned_changed, timeout=30000):
        window.pin_model(files["wide"])
    assert "Cannot compare" in panel.status.text() and "other electrodes (16" in panel.status.text()
    _click(qtbot, window, "Pz")
    qtbot.waitUntil(lambda: s.last_forward is not None and s.last_forward.values is not None
                    and np.array_equal(s.last_forward.values, s.workbench.input_values()),
                    timeout=20000)
    assert s.last_compare is None and panel.comparison is None and panel.export_items() == {}
    assert panel.run_spectra() is None and "Cannot compare" in panel.job.status.text()
