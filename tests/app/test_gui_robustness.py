"""What a random user found (issue 11): model switches during jobs, error and menu leaks."""

from __future__ import annotations

import gc
import json
import threading

import numpy as np
import pytest
from gui_fixtures import write_tiny_data
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from app.export import FORMATS, export_panel
from app.export_dialog import ExportDialog
from app.main_window import MainWindow
from eegmi.jobs import Progress


@pytest.fixture
def window(qtbot, isolated_settings, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    s = w.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        w.open_data(write_tiny_data(tmp_path / "d.npz"))
    yield w
    w.close()


def _choose_model(w: MainWindow, name: str) -> None:
    """What picking ``name`` in the toolbar's model box does."""
    i = w.model_box.findText(name)
    assert i >= 0, f"{name} is not bundled"
    w.model_box.setCurrentIndex(i)
    w.model_box.activated.emit(i)


def _gated(gate: threading.Event):
    """A long analysis job that runs until ``gate`` is set."""
    def factory(token):
        while not gate.wait(0.005):
            token.raise_if_cancelled()
            yield Progress(0.0, 1.0, "waiting")
        return "done"
    return factory


def _held(gate: threading.Event):
    """A job whose first step holds the worker until ``gate`` is set (nothing else can run
    meanwhile, not even a click: interactive requests wait for the step to end)."""
    def factory(_token):
        gate.wait(30)
        yield Progress(1.0, 1.0, "held")
        return "done"
    return factory


def _top_levels() -> list:
    for _ in range(2):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
        gc.collect()
    return QApplication.topLevelWidgets()


def test_switch_vae_to_decoder_only_while_jobs_run_then_export_and_scroll(qtbot, window, tmp_path):
    """E3 -> E1 lands while analysis jobs hold the worker: the new model's first forward
    result is not there yet and the layers below the fold (latent.mu, dec.act1, ...)
    were never drawn.  Exporting the activations panel and scrolling it then raised
    ``KeyError: 'latent.mu'`` / ``KeyError: 'dec.act1'``."""
    s, acts = window.session, window.panels["activations"]
    window.docks["activations"].raise_()
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        _choose_model(window, "E3")
    qtbot.waitUntil(lambda: acts.result is not None and "latent.mu" in acts.result.activations,
                    timeout=20000)
    assert acts._stale, "precondition: some layers are below the fold, not drawn yet"
    first, second = threading.Event(), threading.Event()
    try:
        running = s.submit(_gated(first), "propagation")  # the user's running analysis
        with qtbot.waitSignal(running.started, timeout=5000):
            pass
        _choose_model(window, "E1")  # queued behind it
        s.submit(_held(second), "saliency")  # and the next analysis, behind the load
        first.set()
        with qtbot.waitSignal(s.model_changed, timeout=30000):
            pass
        assert s.model_name == "E1" and acts.result is None  # E1's forward waits behind the step
        files = export_panel(acts, tmp_path / "acts", FORMATS)
        doc = json.loads(files[-1].read_text())
        assert doc["workbench"]["model"] == "E1" and doc["view"]["layers"] == [] and doc["arrays"] == []
        bar = acts.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())  # drawing what scrolls into view
        acts.on_dock_visibility(True)
        qtbot.wait(20)
    finally:
        first.set()
        second.set()
    qtbot.waitUntil(lambda: acts.result is not None and "dec.act1" in acts.result.activations,
                    timeout=20000)
    assert "latent.mu" not in acts.visible_layers() and "dec.act1" in acts.visible_layers()
    files = export_panel(acts, tmp_path / "acts_e1", ["npz"])
    with np.load(files[0]) as npz:
        np.testing.assert_allclose(npz["dec.act1"], acts.result.activations["dec.act1"])


def test_one_error_box_is_reused(qtbot, window, tmp_path) -> None:
    """Every failed load opened a new QMessageBox that lived as long as the window."""
    s = window.session
    before = sum(isinstance(w, QMessageBox) for w in _top_levels())
    for k in range(4):
        with qtbot.waitSignal(s.error, timeout=10000):
            window.open_model(tmp_path / f"missing{k}")
        if k == 1:
            window.error_box.close()  # closed by the user, then the next error comes
    boxes = [w for w in _top_levels() if isinstance(w, QMessageBox)]
    assert len(boxes) - before == 1
    assert window.error_box.isVisible() and "missing3" in window.error_box.text()
    assert not window.error_box.isModal()


def test_context_menus_and_export_dialogs_are_deleted(qtbot, window, tmp_path) -> None:
    """A right-click menu and an export dialog per use stayed alive as top-level widgets."""
    panel = window.panels["reconstruction"]
    answered = []

    def answer(how: str) -> None:
        def attempt() -> None:
            w = QApplication.activePopupWidget() or QApplication.activeModalWidget()
            if w is None:
                QTimer.singleShot(10, attempt)
                return
            answered.append(type(w).__name__)
            if isinstance(w, QMenu) and how == "export":
                answer("accept")  # the export dialog that follows
                w.setActiveAction(w.actions()[0])
                qtbot.keyClick(w, Qt.Key.Key_Return)
            elif isinstance(w, ExportDialog) and how == "accept":
                w.path.setText(str(tmp_path / "exports" / "recon"))
                w.accept()
            else:
                w.close()
        QTimer.singleShot(0, attempt)

    def right_click() -> None:
        pos = QPoint(20, 20)
        QApplication.sendEvent(panel, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                        panel.mapToGlobal(pos)))

    answer("close")  # warm-up: Qt creates some helpers on first use
    right_click()
    before = len(_top_levels())
    for _ in range(3):
        answer("close")
        right_click()
        answer("export")
        right_click()
        answer("close")
        window.export_dialog("reconstruction")
    assert answered.count("QMenu") == 7 and answered.count("ExportDialog") == 6
    assert (tmp_path / "exports" / "recon.png").exists()
    assert len(_top_levels()) == before


def test_export_with_no_format_chosen_writes_nothing(qtbot, window, tmp_path) -> None:
    """OK with every format unchecked raised IndexError (``files[0]`` of nothing)."""
    seen = []

    def answer() -> None:
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, ExportDialog):
            QTimer.singleShot(10, answer)
            return
        dlg.path.setText(str(tmp_path / "none" / "fig"))
        for c in dlg.checks.values():
            c.setChecked(False)
        ok = getattr(dlg, "ok_button", None)
        seen.append(None if ok is None else ok.isEnabled())
        dlg.accept()  # even if OK is pressed some other way (a keyboard default)

    QTimer.singleShot(0, answer)
    window.export_dialog("reconstruction")
    assert seen == [False]
    assert not (tmp_path / "none").exists()
