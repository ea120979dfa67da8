"""SAE gallery panel: train/load, cards, sorting, search, click-to-show, feature vis, export,
and its exported analysis state re-run headless to the same numbers."""

from __future__ import annotations

import json

import numpy as np
import PySide6
import pytest
from gui_fixtures import train_tiny_sae, write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt

from app.panels.sae import SaeGalleryPanel
from app.session import Session
from eegmi.jobs import run_job
from eegmi.recipes.base import rerun_job
from eegmi.sae.gallery_data import driving_electrodes
from eegmi.sae.regions import query_electrodes, regions_of

# see tests/app/test_activations.py: PySide6 6.12.0 drops references to None on repaints
if PySide6.__version__ == "6.12.0":
    _PYSIDE_NONE_GUARD = [None] * 2_000_000

N_FEATURES = 12


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sae_gui")
    return {"data": write_tiny_data(root / "tiny.npz"), "model": write_tiny_model(root / "tiny_model")}


@pytest.fixture
def panel(qtbot, files):
    session = Session()
    with qtbot.waitSignal(session.model_changed, timeout=30000):
        session.set_model(files["model"])
    with qtbot.waitSignal(session.data_changed, timeout=30000):
        session.set_data(files["data"])
    p = SaeGalleryPanel(session)
    qtbot.addWidget(p)
    p.resize(1000, 600)
    p.show()
    yield p
    session.shutdown()


def _train(qtbot, p: SaeGalleryPanel, mode: str = "spatial") -> None:
    """Train through the panel's own widgets and Train button; the gallery follows."""
    train_tiny_sae(qtbot, p, N_FEATURES, mode)
    assert p.last_error == ""


def _summary_numbers(summary: dict) -> dict:
    """The summary with every number as float, for comparisons to 1e-9."""
    return json.loads(json.dumps(summary))


def _assert_same_summary(got: dict, want: dict) -> None:
    got, want = _summary_numbers(got), _summary_numbers(want)
    assert got.keys() == want.keys()
    for key in want:
        if isinstance(want[key], float):
            assert got[key] == pytest.approx(want[key], abs=1e-9), key
        else:
            assert got[key] == want[key], key


def test_regions_and_query() -> None:
    assert regions_of("Fz") == {"frontal", "midline"}
    assert regions_of("PO3") == {"parietal", "occipital", "left"}
    assert regions_of("T8") == {"temporal", "right"}
    names = ("Fp1", "Fz", "O2", "C3")
    assert query_electrodes("fz", names) == {1}
    assert query_electrodes("left", names) == {0, 3}
    assert query_electrodes("frontal left", names) == {0}
    assert query_electrodes("nowhere", names) == set()
    assert query_electrodes("  ", names) is None
    drive = np.array([[0.1, 1.0, 0.6, -2.0], [-1.0, -1.0, 0.0, 0.0]])
    assert driving_electrodes(drive, 2) == [[1, 2], []]


def test_widgets_start_at_the_recipe_defaults(panel) -> None:
    from eegmi.recipes.sae import SaeGalleryOptions, SaeTrainOptions

    assert panel.layer.currentText() == SaeTrainOptions().layer
    assert panel.controls.train_options() == SaeTrainOptions()
    assert panel.controls.gallery_options(None, None) == SaeGalleryOptions()


def test_train_gallery_sort_search_click_vis_export(qtbot, panel, tmp_path) -> None:
    p, s = panel, panel.session
    _train(qtbot, p)
    g = p.data.gallery
    # lazy painting: only the cards in the viewport have been drawn
    p.view.viewport().grab()
    vp = p.view.viewport().rect()
    visible = {p.model.feature_at(r) for r in range(p.model.rowCount())
               if p.view.visualRect(p.model.index(r)).intersects(vp)}
    assert 0 < len(visible) < N_FEATURES
    assert p.model.painted_features() == visible
    # one card per feature, ordered by the gallery's frequencies
    assert p.model.rowCount() == N_FEATURES == g.frequency.size
    p.sort.setCurrentText("frequency")
    rows = [p.model.feature_at(r) for r in range(p.model.rowCount())]
    assert sorted(rows) == list(range(N_FEATURES))
    np.testing.assert_array_equal(g.frequency[rows], np.sort(g.frequency)[::-1])
    p.sort.setCurrentText("selectivity")
    rows = [p.model.feature_at(r) for r in range(p.model.rowCount())]
    assert np.all(np.diff(g.selectivity[rows]) <= 0)
    # search "Fz" keeps exactly the features Fz drives
    fz = list(p.data.ch_names).index("Fz")
    p.search.setText("Fz")
    shown = {p.model.feature_at(r) for r in range(p.model.rowCount())}
    assert shown == {i for i, drv in enumerate(p.data.drivers) if fz in drv}
    # an electrode that drives some feature keeps that feature and drops the others it does not drive
    f0 = next(i for i, drv in enumerate(p.data.drivers) if drv)
    name = p.data.ch_names[p.data.drivers[f0][0]]
    p.search.setText(name.lower())
    shown = {p.model.feature_at(r) for r in range(p.model.rowCount())}
    assert f0 in shown
    assert shown == {i for i, drv in enumerate(p.data.drivers) if p.data.drivers[f0][0] in drv}
    # a region: every electrode named F*, AF*, Fp* or FC* is frontal
    frontal = {j for j, n in enumerate(p.data.ch_names) if n.upper().startswith(("F", "AF"))}
    p.search.setText("frontal")
    shown = {p.model.feature_at(r) for r in range(p.model.rowCount())}
    assert shown == {i for i, drv in enumerate(p.data.drivers) if frontal & set(drv)}
    p.search.setText("")
    assert p.model.rowCount() == N_FEATURES
    # clicking a card sends that feature's top frame to the main view
    p.sort.setCurrentText("frequency")
    row = 0
    feat = p.model.feature_at(row)
    frame = int(g.top_frames[feat, 0])
    assert frame >= 0
    rect = p.view.visualRect(p.model.index(row))
    with qtbot.waitSignal(s.forward_ready, timeout=20000):
        qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert s.workbench.input.frame == frame and s.workbench.input.mode == "dataset"
    np.testing.assert_allclose(s.values, s.frame_values(frame))
    np.testing.assert_allclose(s.values, p.data.top_inputs[feat, 0], atol=1e-6)
    # feature visualisation of the selected card finishes and the card shows it
    assert p.selected_feature() == feat
    p.vis_steps.setValue(8)
    with qtbot.waitSignal(p.vis_ready, timeout=60000) as blocker:
        p.visualise_selected()
    assert blocker.args == [feat] and feat in p.model.vis
    vis = p.model.vis[feat]
    assert vis.image.shape == (40, 40) and np.isfinite(vis.activation)
    assert p.model.image("vis", feat) is not None
    # export writes the numbers behind the cards
    from app.export import export_panel

    written = export_panel(p, tmp_path / "gallery", ["npz", "json"])
    with np.load(written[0]) as z:
        np.testing.assert_allclose(z["gallery_frequency"], g.frequency)
        np.testing.assert_array_equal(z["gallery_top_frames"], g.top_frames)
        np.testing.assert_array_equal(z["featurevis_features"], [feat])
        np.testing.assert_allclose(z["featurevis_images"][0], vis.image)
    doc = json.loads(written[1].read_text())
    assert doc["panel"] == "sae" and doc["figure_version"] == 1
    sae = doc["panel_state"]["sae"]
    assert sae["hook"] == "enc.act3" and sae["sort"] == "frequency"


def test_save_load_roundtrip_and_cancel(qtbot, panel, tmp_path) -> None:
    p = panel
    _train(qtbot, p, mode="flat")
    # flat SAE on a spatial layer: the decoder direction is drawn as a map
    assert p.data.gallery.decoder_map is not None and p.data.feature_map(0)[1] == "decoder"
    before = p.data.gallery.frequency.copy()
    with qtbot.waitSignal(p.job_done, timeout=20000) as blocker:
        p.save_sae(tmp_path / "sae")
    assert blocker.args == ["save", "done"] and (tmp_path / "sae" / "sae.json").is_file()
    with qtbot.waitSignal(p.gallery_ready, timeout=60000):
        p.load_sae(tmp_path / "sae")
    assert p.sae_path == str(tmp_path / "sae") and p.loaded.mode == "flat"
    np.testing.assert_allclose(p.data.gallery.frequency, before)
    # the loaded SAE's gallery state names its folder and re-runs to the same numbers
    analysis = p.state()["analysis"]
    assert analysis["recipe"] == "sae_gallery" and analysis["options"]["sae"] == str(tmp_path / "sae")
    recipe, result = run_job(rerun_job(analysis))
    _assert_same_summary(recipe.summary(result), p.summary)
    # a long optimisation can be cancelled; the panel is free again afterwards
    p.vis_steps.setValue(100_000)
    handle = p.visualise(0)
    assert handle is not None
    with qtbot.waitSignal(handle.progress, timeout=30000):
        pass
    assert p.busy and not p.gallery_button.isEnabled()
    with qtbot.waitSignal(p.job_done, timeout=30000) as blocker:
        p.cancel()
    assert blocker.args == ["vis", "cancelled"] and 0 not in p.model.vis
    assert p.gallery_button.isEnabled()
    # another model: the SAE and its gallery are dropped
    with qtbot.waitSignal(p.session.model_changed, timeout=30000):
        p.session.set_model(p.session.model.path)
    assert p.loaded is None and p.data is None and p.model.rowCount() == 0
    assert not p.gallery_button.isEnabled() and p.train_button.isEnabled()


def test_bad_sae_folder_is_one_line_error(qtbot, panel, tmp_path) -> None:
    p = panel
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(p.job_done, timeout=20000) as blocker:
        p.load_sae(tmp_path / "empty")
    assert blocker.args == ["load", "failed"]
    assert "not an SAE directory" in p.last_error and "\n" not in p.last_error
    assert p.loaded is None and p.model.rowCount() == 0


def test_state_reruns_headless_to_the_same_numbers(qtbot, panel, tmp_path, capsys) -> None:
    """Train and compute the gallery through the buttons; the panel's state re-runs
    (recipe and CLI) to the numbers the panel shows."""
    from eegmi.cli import main

    p = panel
    _train(qtbot, p)
    state = p.state()
    analysis = state["analysis"]
    assert analysis["recipe"] == "sae_gallery" and analysis["options"]["sae"] is None
    assert analysis["options"]["train"]["dict_size"] == N_FEATURES
    assert analysis["options"]["train"]["steps"] == 20 and analysis["options"]["max_frames"] == 40
    g = p.data.gallery
    shown = p.summary
    # the summary is what the cards and the status line show
    assert shown["n_features"] == N_FEATURES and shown["n_frames"] == g.n_frames
    assert shown["never_active"] == int((g.frequency == 0).sum())
    assert f"{g.n_frames} frames, {g.n_inputs} inputs" in p.status.text()
    assert shown["mean_frequency"] == pytest.approx(float(g.frequency.mean()), abs=1e-12)
    recipe, result = run_job(rerun_job(analysis))
    assert recipe.name == "sae_gallery"
    _assert_same_summary(recipe.summary(result), shown)
    np.testing.assert_array_equal(result.data.gallery.top_frames, g.top_frames)
    # the CLI re-runs the panel's state file
    path = tmp_path / "sae_state.json"
    path.write_text(json.dumps(state))
    capsys.readouterr()
    assert main(["rerun", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["recipe"] == "sae_gallery"
    _assert_same_summary(out["summary"], shown)
