"""The Compare panel's publication figure: exported from the GUI with a pinned model,
re-rendered headless from its state (``eegmi figures --from``), identical; the control of
a model pinned beside itself; ``gui --export-panels --pin``."""

from __future__ import annotations

import json

import numpy as np
import PySide6
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt

from app.export import export_panel
from app.main_window import MainWindow
from eegmi.errors import ConfigError
from eegmi.figures.export import figure_from_state_job, read_state, render_figure
from eegmi.figures.panel import PANELS, panel_figure
from eegmi.jobs import run_job

if PySide6.__version__ == "6.12.0":  # see tests/app/test_activations.py
    _PYSIDE_NONE_GUARD = [None] * 2_000_000


def _png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"))


@pytest.fixture
def files(tmp_path):
    return (write_tiny_data(tmp_path / "d.npz"), write_tiny_model(tmp_path / "tiny_a", seed=0),
            write_tiny_model(tmp_path / "tiny_b", seed=5, latent=3, scale=40.0))


@pytest.fixture
def window(qtbot, isolated_settings, files):
    """The window on tiny model A and a recording (nothing pinned yet)."""
    data, model_a, _ = files
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    s = w.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        w.open_data(data)
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        w.open_model(model_a)
    yield w
    w.close()


def _pin_and_click(qtbot, w, model) -> None:
    """Pin ``model`` through the session, then click Cz on the scalp map (real mouse)."""
    s = w.session
    with qtbot.waitSignal(s.pinned_changed, timeout=20000):
        s.pin_model(model)
    scalp = w.panels["scalp"]
    i = s.operator.montage.index("Cz")
    with qtbot.waitSignal(s.compare_ready, timeout=20000):
        qtbot.mouseClick(scalp.scalp, Qt.MouseButton.LeftButton,
                         pos=scalp.scalp.electrode_pos(i).toPoint())
    assert s.input.mix == {"Cz": 1.0}
    panel = w.panels["compare"]
    qtbot.waitUntil(lambda: not panel.figure_pending(), timeout=30000)


def test_compare_is_a_figure_panel(window) -> None:
    assert "compare" in PANELS and panel_figure("compare").name == "compare"
    panel = window.panels["compare"]
    assert panel.has_figure()
    with pytest.raises(ConfigError, match="pin a second model first"):
        panel.figure_data()
    with pytest.raises(ConfigError, match="pin a second model first"):
        panel.figure_state()


def test_compare_figure_rerenders_identically_from_its_state(qtbot, window, files, tmp_path) -> None:
    data, model_a, model_b = files
    _pin_and_click(qtbot, window, model_b)
    panel = window.panels["compare"]
    # the eigenspectra of both models (the panel's Run button), on few inputs
    panel.n_inputs.setValue(40)
    with qtbot.waitSignal(panel.result_ready, timeout=120000):
        panel.job.run_button.click()
    png, npz_path, state_path = export_panel(panel, tmp_path / "compare", ["png", "npz", "json"],
                                             dpi=80)
    state = read_state(state_path)
    assert state["workbench"]["model"] == str(model_a) and state["workbench"]["pinned"] == str(model_b)
    assert state["view"]["tabs"] == ["layers", "latents", "alpha"]
    assert state["view"]["spectra_options"]["count"] == 40
    # the state alone re-renders it: pixel for pixel, from recomputed data
    out = tmp_path / "again.png"
    run_job(figure_from_state_job(state_path, out))
    np.testing.assert_array_equal(_png(out), _png(png))
    recomputed = run_job(panel_figure("compare").compute(state, "cpu"))
    shown = panel.figure_data()
    with np.load(npz_path) as npz:
        # the .npz holds every array the figure draws (beside the panel's other numbers)
        figure_keys = sorted(k for k, v in recomputed.items() if isinstance(v, np.ndarray))
        assert set(figure_keys) <= set(npz.files)
        for key in figure_keys:
            np.testing.assert_array_equal(recomputed[key], npz[key], err_msg=key)
            np.testing.assert_array_equal(shown[key], npz[key], err_msg=key)
    cmp = window.session.last_compare
    np.testing.assert_array_equal(recomputed["difference"], cmp.difference)
    assert recomputed["latent_a"].size == 4 and recomputed["latent_b"].size == 3
    assert recomputed["layers"] == json.loads(state_path.read_text())["data"]["layers"]
    assert recomputed["diff_range"] > 0 and recomputed["cca"].size == 3
    # the figure names both models and states the matching rule and the basis caveat
    fig = render_figure(recomputed, state)
    texts = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "tiny_a" in texts and "pinned model B tiny_b" in texts and "Cz=+1.00" in texts
    assert cmp.matching.rule in texts and "not comparable" in texts
    assert "A − B (head disc)" in titles and "‖z‖" in titles and "CCA" in titles
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("A − B (scaled units)" in lab for lab in labels)
    assert any(lab.startswith("input (scaled units)") for lab in labels)


def test_a_model_pinned_beside_itself_differs_by_nothing(qtbot, window, files) -> None:
    """The control: A against itself gives a zero difference image and zero ‖A−B‖/‖A‖."""
    _pin_and_click(qtbot, window, files[1])
    data = window.panels["compare"].figure_data()
    assert data["same_input"] and data["diff_range"] == 0.0
    assert not np.any(data["difference"]) and data["difference"].shape == data["input"].shape
    assert all(p["rel_l2"] == 0.0 for p in data["layers"])
    np.testing.assert_array_equal(data["recon_a"], data["recon_b"])
    np.testing.assert_array_equal(data["latent_a"], data["latent_b"])


def test_export_panels_with_a_pin_exports_the_comparison(qtbot, isolated_settings, files,
                                                         tmp_path) -> None:
    from app.export_panels import ExportRequest, expects_figure, run_export

    data, model_a, model_b = files
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    try:
        # without a pinned model the compare panel is not expected to export
        assert not expects_figure("compare", w.panels["compare"], True)
        out = tmp_path / "figs"
        request = ExportRequest(out, {"Cz": None}, 1.5, None, ("png", "json"), False, 60,
                                pin=str(model_b))
        assert run_export(w, str(model_a), str(data), request) == 0
        assert expects_figure("compare", w.panels["compare"], False)
        index = json.loads((out / "panels.json").read_text())
        assert index["pinned"] == str(model_b)
        assert index["panels"]["compare"] == ["compare.png", "compare.json"]
        state = read_state(out / "compare.json")
        assert state["workbench"]["input"]["mix"] == {"Cz": 1.5}
        assert state["view"]["tabs"] == ["layers", "latents"]  # α was not run
    finally:
        w.close()
