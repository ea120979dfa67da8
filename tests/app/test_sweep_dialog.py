"""File › Open sweep…: a finished sweep's trials become models to choose and compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from tiny_sweep import train_in_process, write_tiny_sweep

from app import sources
from app.main_window import MainWindow


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    """A finished two-trial sweep with both analyses: the folder ``eegmi sweep`` writes
    (trials trained and analysed here, by the library calls its child processes make)."""
    from eegmi.sweep.analyse import run_analyses
    from eegmi.sweep.layout import trial_dir
    from eegmi.sweep.spec import load_spec

    root = tmp_path_factory.mktemp("gui_sweep")
    spec = load_spec(write_tiny_sweep(root, seeds=(0, 1),
                                      analyses=("alpha", "pick_interpolate")))
    out = root / "out"
    for t in spec.trials:
        train_in_process(spec, out, t.id)
        run_analyses(trial_dir(out, t.id), spec.analysis_options, str(root / "tiny.npz"), "cpu")
    return out


def _menu_action(w: MainWindow, menu_title: str, text: str):
    for top in w.menuBar().actions():
        if top.text().replace("&", "") == menu_title:
            for action in top.menu().actions():
                if action.text() == text:
                    return action
    raise AssertionError(f"no {menu_title} › {text} action")


def test_open_sweep_lists_trials_and_opens_one_as_the_model(qtbot, window, sweep_folder,
                                                             monkeypatch) -> None:
    from eegmi.sweep.table import read_sweep

    monkeypatch.setattr(sources.QFileDialog, "getExistingDirectory",
                        lambda *a, **k: str(sweep_folder))
    _menu_action(window, "File", "Open sweep…").trigger()
    dlg = window._sweep_dialogs[str(sweep_folder.resolve())]
    assert dlg.isVisible() and dlg.windowTitle() == "Sweep tiny"
    rows = dlg.rows()
    assert [r[0] for r in rows] == ["tiny-seed0", "tiny-seed1"]
    assert all(r[1] == "done" for r in rows)
    headers = [dlg.table.horizontalHeaderItem(j).text() for j in range(dlg.table.columnCount())]
    assert {"val loss", "test MSE", "α out", "pick R²"} <= set(headers)
    # the figures shown are the sweep's table (the CLI's), trial by trial
    table = read_sweep(sweep_folder)
    for r, row in zip(rows, table["trials"], strict=True):
        assert r[headers.index("test MSE")] == f"{row['test']['mse']:.3e}"
        assert r[headers.index("α out")] == f"{row['analyses']['alpha']['out']:.4f}"
        assert r[headers.index("pick R²")] == f"{row['analyses']['pick_interpolate']['pick_r2']:.4f}"
    titles = [window.model_box.itemText(i) for i in range(window.model_box.count())]
    assert {"(sweep tiny) tiny-seed0", "(sweep tiny) tiny-seed1"} <= set(titles)
    # Open loads the selected trial as the model
    assert not dlg.open_button.isEnabled()
    dlg.select("tiny-seed1")
    assert dlg.open_button.isEnabled()
    s = window.session
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        qtbot.mouseClick(dlg.open_button, Qt.MouseButton.LeftButton)
    seed1 = str(sweep_folder.resolve() / "trials" / "tiny-seed1")
    assert s.model_name == seed1 and s.model is not None
    assert window.model_box.currentText() == "(sweep tiny) tiny-seed1"
    assert window.model_label.text() == "model: (sweep tiny) tiny-seed1"
    # the model box switches to the other trial, to compare
    i = window.model_box.findText("(sweep tiny) tiny-seed0")
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        window.model_box.setCurrentIndex(i)
        window.model_box.activated.emit(i)
    assert s.model_name == str(sweep_folder.resolve() / "trials" / "tiny-seed0")
    # opening the same sweep again reuses its dialog and adds no entry twice
    n = window.model_box.count()
    assert window.open_sweep(sweep_folder) is dlg and window.model_box.count() == n


def test_a_folder_that_is_no_sweep_is_one_error(window, tmp_path) -> None:
    assert window.open_sweep(tmp_path) is None
    assert window.error_box is not None and "not a sweep folder" in window.error_box.text()
    assert str(tmp_path) in window.error_box.text()
