"""One source of truth: an input chosen anywhere shows the same in every panel.

Each test clicks through a desync users met (issue 12) in the real window and then
asserts what every panel displays: the scalp map's rings and footer, its mode and
baseline boxes, the model input image, the reconstruction, the activations panel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.export import export_panel


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync")
    return {"data": write_tiny_data(root / "a.npz", seed=0),
            "data2": write_tiny_data(root / "b.npz", seed=1),
            "model": write_tiny_model(root / "vae", seed=0),
            "model2": write_tiny_model(root / "vae2", seed=3)}


def _load(qtbot, w, data=None, model=None) -> None:
    s = w.session
    if data is not None:
        with qtbot.waitSignal(s.data_changed, timeout=20000):
            w.open_data(data)
    if model is not None:
        with qtbot.waitSignal(s.model_changed, timeout=20000):
            w.open_model(model)
    qtbot.waitUntil(lambda: s.last_forward is not None and (
        model is None or s.last_forward.recon is not None), timeout=20000)


def _click(qtbot, window, name: str, shift: bool = False) -> None:
    scalp = window.panels["scalp"].scalp
    i = window.session.operator.montage.index(name)
    mods = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(scalp, Qt.MouseButton.LeftButton, mods, scalp.electrode_pos(i).toPoint())


def _settle(qtbot, window, expected: np.ndarray) -> None:
    """Wait until the newest forward result (what every view paints) is of ``expected``."""
    s = window.session
    qtbot.waitUntil(lambda: s.last_forward is not None
                    and np.allclose(s.last_forward.values, expected, atol=1e-6), timeout=20000)


def _assert_views_show(window, expected: np.ndarray, rings: set[str], mode: str,
                       footer: str) -> None:
    """Every panel shows the input ``expected`` (n,) with ``rings`` marked on the map."""
    s = window.session
    scalp = window.panels["scalp"]
    names = list(s.operator.montage.ch_names)
    np.testing.assert_allclose(s.workbench.input_values(), expected, atol=1e-6)
    assert {names[i] for i in scalp.scalp.selected} == rings
    assert scalp.mode.currentText() == mode
    assert footer in scalp.selection_label.text()
    for other in set(names) - rings:
        assert f"{other}=" not in scalp.selection_label.text()
    image = s.last_forward.model_input
    np.testing.assert_allclose(scalp.input_plot.image.image, image, atol=1e-6)
    recon = window.panels["reconstruction"]
    np.testing.assert_allclose(recon.result.values, expected, atol=1e-6)
    np.testing.assert_allclose(window.panels["activations"].result.values, expected, atol=1e-6)


def test_propagation_row_replaces_a_scalp_mix_everywhere(qtbot, window, files) -> None:
    """Inject Fp1, shift-click O2 and T7, run Propagation, click the O1 row: the model input
    showed O1 only while the scalp map still ringed Fp1/O2/T7 and its footer listed them."""
    from eegmi.data.injection import mix

    s = window.session
    _load(qtbot, window, files["data"], files["model"])
    montage = s.operator.montage
    _click(qtbot, window, "Fp1")
    _click(qtbot, window, "O2", shift=True)
    _click(qtbot, window, "T7", shift=True)
    three = mix({"Fp1": 1.0, "O2": 1.0, "T7": 1.0}, montage)
    _settle(qtbot, window, three)
    _assert_views_show(window, three, {"Fp1", "O2", "T7"}, "Inject electrodes", "Fp1=+1.00")
    prop = window.panels["propagation"]
    window.docks["propagation"].raise_()
    prop.n_inputs.setValue(66)
    with qtbot.waitSignal(prop.result_ready, timeout=60000):
        prop.job.run_button.click()
    view = prop.heatmap
    pos = view.mapFromScene(view.row_scene_pos(montage.index("O1")))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    o1 = mix({"O1": 1.0}, montage)
    _settle(qtbot, window, o1)
    _assert_views_show(window, o1, {"O1"}, "Inject electrodes", "O1=+1.00")


def test_loading_data_shows_a_frame_and_the_mode_box_says_so(qtbot, window, files) -> None:
    """After loading a recording the input was a frame but the box said "Inject electrodes";
    a mix on screen stays on screen (and the box keeps saying so)."""
    s = window.session
    _load(qtbot, window, files["data"], files["model"])
    frame0 = s.workbench.frame_values(0)
    _settle(qtbot, window, frame0)
    _assert_views_show(window, frame0, set(), "Dataset frames", "dataset frame 0")
    assert window.panels["scalp"].dataset_box.isVisible()
    _click(qtbot, window, "Cz")
    cz = s.workbench.values_for(s.input)
    _settle(qtbot, window, cz)
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        window.open_data(files["data2"])
    _settle(qtbot, window, cz)
    _assert_views_show(window, cz, {"Cz"}, "Inject electrodes", "Cz=+1.00")
    # the mode box itself switches to the new recording's frames
    scalp = window.panels["scalp"]
    scalp.mode.setCurrentIndex(1)
    scalp.mode.activated.emit(1)
    first = s.workbench.frame_values(0)
    _settle(qtbot, window, first)
    _assert_views_show(window, first, set(), "Dataset frames", "dataset frame 0")


def test_one_baseline_for_the_scalp_and_activations_panels(qtbot, window, files) -> None:
    """Picking "mean" in one panel left the other on "zero", and the next click injected
    on the mean baseline anyway (32 of 32 electrodes non-zero)."""
    s = window.session
    _load(qtbot, window, files["data"], files["model"])
    scalp, acts = window.panels["scalp"], window.panels["activations"]
    acts.baseline_box.setCurrentText("mean")
    acts.baseline_box.activated.emit(acts.baseline_box.currentIndex())
    assert scalp.baseline.currentText() == "mean" and s.input.baseline == "mean"
    _click(qtbot, window, "Pz")
    mean = s.workbench.baseline_values()
    assert np.count_nonzero(mean) == 32
    expected = mean.copy()
    expected[s.operator.montage.index("Pz")] += 1.0
    _settle(qtbot, window, expected)
    _assert_views_show(window, expected, {"Pz"}, "Inject electrodes", "mean baseline")
    qtbot.waitUntil(lambda: acts.baseline_label.text() == "baseline: mean", timeout=20000)
    # and back from the scalp panel: the activations panel follows
    scalp.baseline.setCurrentText("zero")
    scalp.baseline.activated.emit(scalp.baseline.currentIndex())
    assert acts.baseline_box.currentText() == "zero"
    pz = np.zeros(32, np.float32)
    pz[s.operator.montage.index("Pz")] = 1.0
    _settle(qtbot, window, pz)
    assert np.count_nonzero(s.last_forward.values) == 1


def test_enlarged_channel_is_not_the_previous_models(qtbot, window, files, tmp_path) -> None:
    """The enlarged view kept the previous model's channel after a model switch, and
    exported it."""
    s = window.session
    _load(qtbot, window, files["data"], files["model"])
    acts = window.panels["activations"]
    qtbot.waitUntil(lambda: acts.result is not None, timeout=20000)
    acts.enlarge("input", 0)
    assert acts.zoom == ("input", 0) and acts.zoom_image.image is not None
    old = acts.result
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        window.open_model(files["model2"])
    assert acts.zoom is None and acts.zoom_image.image is None
    # neither the numbers behind the view nor its screenshot export carry the old channel
    assert acts.state()["zoom"] is None and "zoom" not in acts.export_items()
    doc = json.loads(export_panel(acts, tmp_path / "a", ["json"], screenshot=True)[0].read_text())
    assert doc["state"]["zoom"] is None and "zoom" not in doc["arrays"]
    qtbot.waitUntil(lambda: acts.result is not None and acts.result is not old, timeout=20000)
    acts.enlarge("enc.act1", 1)
    np.testing.assert_allclose(acts.zoom_image.image, acts.result.activations["enc.act1"][1])


def test_sae_card_shows_its_frame_in_every_panel(qtbot, window, files) -> None:
    """Clicking an SAE card loads that feature's top frame; the scalp panel kept saying
    "Inject electrodes" and ringing the electrodes injected before."""
    s = window.session
    _load(qtbot, window, files["data"], files["model"])
    _click(qtbot, window, "Fp1")
    _click(qtbot, window, "O2", shift=True)
    sae = window.panels["sae"]
    window.docks["sae"].raise_()
    sae.layer.setCurrentText("enc.act3")
    sae.dict_size.setValue(8)
    sae.kind.setCurrentText("TopK")
    sae.k.setValue(2)
    sae.steps.setValue(10)
    sae.train_frames.setValue(30)
    sae.inputs.setValue(30)
    sae.top_k.setValue(3)
    with qtbot.waitSignal(sae.gallery_ready, timeout=60000):
        qtbot.mouseClick(sae.train_button, Qt.MouseButton.LeftButton)
    row = 0
    feat = sae.model.feature_at(row)
    frame = int(sae.data.gallery.top_frames[feat, 0])
    rect = sae.view.visualRect(sae.model.index(row))
    qtbot.mouseClick(sae.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    expected = s.workbench.frame_values(frame)
    _settle(qtbot, window, expected)
    _assert_views_show(window, expected, set(), "Dataset frames", f"dataset frame {frame}")
    assert window.panels["scalp"].slider.value() == frame
