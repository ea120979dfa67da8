"""Legibility of the workbench (issue 13): concept tooltips and Help › Concepts, the dark
theme and back, Quit asking before results are lost, reset layout after floating, legends
beside the data, and the SAE panel's empty state."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox

from eegmi.concepts import CONCEPTS, concept, tip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("legibility")
    return {"model": write_tiny_model(root / "tiny_vae", seed=3, latent=4),
            "data": write_tiny_data(root / "tiny.npz", seed=1)}


def _load(qtbot, session, files, data: bool = True) -> None:
    with qtbot.waitSignal(session.model_changed, timeout=30000):
        session.set_model(files["model"])
    if data:
        with qtbot.waitSignal(session.data_changed, timeout=30000):
            session.set_data(files["data"])


# ---- concepts: one source for tooltips, the dialog and the CLI ------------------------------
def test_every_concept_is_complete_and_alpha_states_its_sign() -> None:
    keys = [c.key for c in CONCEPTS]
    assert len(keys) == len(set(keys))
    for c in CONCEPTS:
        assert c.name and c.short and len(c.long) > len(c.short), c.key
        assert "Seed" in c.long or "seed" in c.long, c.key
    a = concept("alpha")
    assert "k^-α" in a.short and "α > 0" in a.long and "−α" in a.long
    assert "\"α = −1\" is α = 1" in a.long


def test_panels_show_the_concepts_short_text_as_tooltips(qtbot, window) -> None:
    from app.panels.propagation import SUMMARY_COLUMNS, SUMMARY_CONCEPTS
    from app.widgets.pick_view import ROLE_TIPS
    from app.widgets.sanity_view import STAT_CONCEPTS
    from eegmi.analysis.pick_report import COLUMNS

    spectra = window.panels["spectra"]
    assert spectra.alpha_label.toolTip() == tip("alpha")
    assert spectra.rank_label.toolTip() == tip("effective_rank")
    assert spectra.alpha_plot.toolTip() == tip("alpha")
    assert spectra.action_plot.toolTip() == tip("action")
    assert spectra.traj.toolTip() == tip("action")
    prop = window.panels["propagation"]
    heads = {prop.table.horizontalHeaderItem(j).text(): prop.table.horizontalHeaderItem(j).toolTip()
             for j in range(prop.table.columnCount())}
    assert set(SUMMARY_CONCEPTS) < set(SUMMARY_COLUMNS)
    for head, key in SUMMARY_CONCEPTS.items():
        assert heads[head] == tip(key)
    pick = prop.pick_view.table
    pick_heads = {pick.horizontalHeaderItem(j).text(): pick.horizontalHeaderItem(j).toolTip()
                  for j in range(pick.columnCount())}
    for key, head, _ in COLUMNS:
        if key in {c.key for c in CONCEPTS}:
            assert pick_heads[head] == tip(key)
    assert ROLE_TIPS["rotated"] == tip("control_rotated")
    assert ROLE_TIPS["untrained"] == tip("control_untrained")
    sanity = window.panels["saliency"].sanity_box
    for j, key in enumerate(STAT_CONCEPTS):
        assert sanity.table.horizontalHeaderItem(2 + j).toolTip() == tip(key)
        assert sanity.plots[j].toolTip() == tip(key)
    assert sanity.table.horizontalHeaderItem(1).toolTip() == tip("verdict")
    sae = window.panels["sae"]
    i = sae.sort.findText("selectivity")
    assert sae.sort.itemData(i, Qt.ItemDataRole.ToolTipRole) == tip("sae_selectivity")


def test_help_concepts_lists_and_filters(qtbot, window) -> None:
    window.concepts_action.trigger()
    dlg = window.concepts_dialog
    qtbot.waitExposed(dlg)
    assert dlg.keys() == [c.key for c in CONCEPTS]
    qtbot.keyClicks(dlg.filter, "basis")  # pick columns and controls speak of the latent basis
    shown = dlg.keys()
    assert 0 < len(shown) < len(CONCEPTS) and "axis_alignment" in shown and "fve" not in shown
    assert concept(dlg.shown_key()).name in dlg.text.toPlainText()
    dlg.filter.clear()
    qtbot.keyClicks(dlg.filter, "FVE")
    assert dlg.keys()[0] == "fve" or "fve" in dlg.keys()
    dlg.list.setCurrentRow(dlg.keys().index("fve"))
    assert "1 − Σ‖x − x̂‖²" in dlg.text.toPlainText()
    dlg.filter.clear()
    qtbot.keyClicks(dlg.filter, "no such words here")
    assert dlg.keys() == [] and "No concept matches" in dlg.text.toPlainText()
    dlg.show_concept("alpha")  # clears a filter that hides it
    assert dlg.shown_key() == "alpha" and "seed 001 plots" in dlg.text.toPlainText().lower()


def test_cli_prints_one_concept(capsys) -> None:
    import json

    from eegmi.cli import main

    assert main(["concepts", "S", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["key"] == "action" and got["short"] == tip("action")
    assert main(["concepts", "alpha"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("α (power-law exponent) [alpha]") and "Huber regression" in out
    assert main(["concepts"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == len(CONCEPTS)
    assert main(["concepts", "nonsense"]) == 2
    assert "no concept 'nonsense'" in capsys.readouterr().err


# ---- legends beside the data ---------------------------------------------------------------
def _overlaps(legend: pg.LegendItem, plot: pg.PlotItem) -> bool:
    return legend.sceneBoundingRect().intersects(plot.getViewBox().sceneBoundingRect())


def test_training_legend_does_not_cover_the_curves(qtbot) -> None:
    from app.widgets.curves import CurvePlot

    w = CurvePlot(["train", "validation"], "loss", "loss", log_y=True)
    qtbot.addWidget(w)
    w.resize(500, 320)
    w.show()
    qtbot.waitExposed(w)
    for e in range(1, 6):
        w.add_point("train", e, 1.0 / e)
        w.add_point("validation", e, 1.2 / e)
    assert len(w.legend.items) == 2
    assert w.legend.isVisible() and not _overlaps(w.legend, w.getPlotItem())


def test_spectra_legend_sits_outside_the_alpha_plot(qtbot, window) -> None:
    p = window.panels["spectra"]
    window.docks["spectra"].raise_()
    p.alpha_plot.plot([1, 2, 3], [0.5, 1.0, 1.5], name="E0 trained")
    p.alpha_legend.addItem(p.alpha_plot.listDataItems()[0], "E0 trained")
    qtbot.waitUntil(lambda: p.alpha_legend.sceneBoundingRect().height() > 0)
    assert not _overlaps(p.alpha_legend, p.alpha_plot)
    assert p.alpha_plot.legend is None  # nothing drawn inside the view


# ---- dark theme and back -----------------------------------------------------------------------
def _colours(w) -> dict:
    """Every colour the theme sets: palette, plot backgrounds, axes, titles, text items."""
    app = QApplication.instance()
    pal = app.palette()
    out: dict = {"palette": [pal.color(g, r).name() for g in (QPalette.ColorGroup.Active,
                                                             QPalette.ColorGroup.Disabled,
                                                             QPalette.ColorGroup.Inactive)
                             for r in QPalette.ColorRole if r != QPalette.ColorRole.NColorRoles]}
    views = w.findChildren(pg.GraphicsView)
    out["backgrounds"] = [v.backgroundBrush().color().name() for v in views]
    axes, labels, texts = [], [], []
    for v in views:
        for item in v.scene().items():
            if isinstance(item, pg.AxisItem):
                axes.append((item.pen().color().name(), item.textPen().color().name()))
            elif isinstance(item, pg.LabelItem):
                labels.append(pg.mkColor(item.opts.get("color") or pg.getConfigOption("foreground"))
                              .name())
            elif isinstance(item, pg.TextItem):
                texts.append(item.textItem.defaultTextColor().name())
    out.update(axes=axes, labels=labels, texts=texts,
               dark=[getattr(p, "dark", None) for p in w.panels.values()],
               scalp=w.panels["scalp"].scalp.dark)
    return out


def _saliency_label_colours(w) -> list[str]:
    return [t.textItem.defaultTextColor().name() for t in w.panels["saliency"]._label_items]


def test_dark_theme_keeps_names_visible_and_light_restores_every_colour(qtbot, window, files) -> None:
    from app.main_window import MainWindow

    _load(qtbot, window.session, files, data=False)
    qtbot.waitUntil(lambda: len(window.panels["saliency"]._label_items) == 32, timeout=30000)
    light = _saliency_label_colours(window)
    window.set_theme("dark")
    dark = _saliency_label_colours(window)
    bg = window.panels["saliency"].elec_plot.getViewBox().scene().views()[0].backgroundBrush().color()
    # names stand out from the dark background (they were dark grey on it)
    assert all(pg.mkColor(c).lightness() - bg.lightness() > 120 for c in dark)
    in_dark = _colours(window)
    window.set_theme("light")
    assert _saliency_label_colours(window) == light
    switched = _colours(window)
    fresh = MainWindow(settings=window.settings)
    qtbot.addWidget(fresh)
    _load(qtbot, fresh.session, files, data=False)
    qtbot.waitUntil(lambda: len(fresh.panels["saliency"]._label_items) == 32, timeout=30000)
    try:
        assert _saliency_label_colours(fresh) == light
        want = _colours(fresh)
        assert switched["palette"] == want["palette"]
        # which colours, not how many items: views made lazily (a model's layer mosaics)
        # may exist in one window and not yet in the other
        for key in ("backgrounds", "axes", "labels", "texts"):
            assert set(switched[key]) == set(want[key]), key
        assert switched["dark"] == want["dark"] and switched["scalp"] == want["scalp"]
        # the comparison sees the theme: dark differs from light in each of these
        for key in ("palette", "dark", "scalp"):
            assert in_dark[key] != want[key], key
        for key in ("backgrounds", "axes"):
            assert set(in_dark[key]) != set(want[key]), key
    finally:
        fresh.close()


# ---- Quit and reset layout --------------------------------------------------------------------
def test_quit_without_results_closes_at_once(qtbot, window) -> None:
    assert window.unsaved_work() == []
    assert window.request_quit() is True
    assert not window.isVisible() and window.quit_box is None


def test_quit_with_a_result_asks_first(qtbot, window, files) -> None:
    _load(qtbot, window.session, files)
    prop = window.panels["propagation"]
    prop.n_inputs.setValue(66)
    with qtbot.waitSignal(prop.result_ready, timeout=60000):
        prop.job.run_button.click()
    assert window.unsaved_work() == [window.docks["propagation"].windowTitle()]
    assert window.request_quit() is False  # non-blocking: the box is open, the window too
    box = window.quit_box
    qtbot.waitExposed(box)
    assert window.isVisible() and "discard" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.isVisible()
    window.quit_action.trigger()
    qtbot.waitExposed(window.quit_box)
    window.quit_button.click()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_reset_layout_shortcut_docks_floated_docks(qtbot, window) -> None:
    floated = [window.docks["scalp"], window.docks["spectra"]]
    for dock in floated:
        dock.setFloating(True)
    window.docks["spectra"].hide()
    assert all(d.isFloating() for d in floated)
    qtbot.keyClick(window, Qt.Key.Key_R,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    for dock in floated:
        assert not dock.isFloating() and dock.isVisible()
        assert window.dockWidgetArea(dock) != Qt.DockWidgetArea.NoDockWidgetArea
    assert all(isinstance(d, QDockWidget) and d.isVisible() for d in window.docks.values())


# ---- SAE empty state -------------------------------------------------------------------------------
def test_sae_empty_state_names_what_is_missing(qtbot, files, tmp_path) -> None:
    import torch

    from app.panels.sae.panel import SaeGalleryPanel
    from app.session import Session
    from eegmi.sae.io import save_sae
    from eegmi.sae.model import SAEConfig, SparseAutoencoder

    s = Session()
    p = SaeGalleryPanel(s)
    qtbot.addWidget(p)
    try:
        assert p.status.text().startswith("No model")
        with qtbot.waitSignal(s.model_changed, timeout=30000):
            s.set_model(files["model"])
        assert p.status.text().startswith("No data")
        with qtbot.waitSignal(s.data_changed, timeout=30000):
            s.set_data(files["data"])
        assert p.status.text().startswith("No SAE trained or loaded")
        torch.manual_seed(0)
        folder = save_sae(tmp_path / "other_layer", SparseAutoencoder(SAEConfig(d_in=4, n_features=8)),
                          {"hook": "enc.act9", "mode": "spatial", "layer_shape": [4, 5, 5]})
        with qtbot.waitSignal(p.job_done, timeout=20000):
            p.load_sae(folder)
        text = p.status.text()
        assert text.startswith("Layer not in this model") and "'enc.act9'" in text
        assert p.loaded is None and p.model.rowCount() == 0
        assert p.fve_label.text() == "" and p.l0_label.text() == ""
        # a trained SAE: its held-out FVE and L0 are shown, with the concepts' tooltips
        p.layer.setCurrentText("enc.act3")
        p.dict_size.setValue(8)
        p.kind.setCurrentText("TopK")
        p.k.setValue(2)
        p.steps.setValue(10)
        p.train_frames.setValue(30)
        p.inputs.setValue(30)
        with qtbot.waitSignal(p.gallery_ready, timeout=60000):
            p.train_button.click()
        m = p.loaded.meta["metrics"]
        assert p.fve_label.text() == f"FVE {m['fve']:.3f}" and p.l0_label.text() == f"L0 {m['l0']:.2f}"
        assert p.fve_label.toolTip() == tip("fve") and p.l0_label.toolTip() == tip("l0")
        assert p.empty_state() == ""
    finally:
        s.shutdown()
