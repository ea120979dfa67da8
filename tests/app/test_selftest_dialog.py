"""Help › Check the tools: the self-test runs on the model worker and fills a table."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt

from app.main_window import MainWindow


def _menu_action(w: MainWindow, menu_title: str, text: str):
    for top in w.menuBar().actions():
        if top.text().replace("&", "") == menu_title:
            for action in top.menu().actions():
                if action.text() == text:
                    return action
    raise AssertionError(f"no {menu_title} › {text} action")


def _only(dlg, *families: str) -> None:
    for name, box in dlg.family_boxes.items():
        box.setChecked(name in families)


def test_check_the_tools_shows_a_pass_fail_table(qtbot, window, monkeypatch):
    _menu_action(window, "Help", "Check the tools…").trigger()
    dlg = window.selftest_dialog
    assert dlg is not None and dlg.isVisible()
    assert dlg.table.rowCount() == 0
    _only(dlg, "sae")
    dlg.quick_box.setChecked(True)
    with qtbot.waitSignal(dlg.job.done, timeout=120000):
        qtbot.mouseClick(dlg.job.run_button, Qt.MouseButton.LeftButton)
        assert not dlg.job.run_button.isEnabled() and dlg.job.cancel_button.isEnabled()
    rows = dlg.rows()
    assert len(rows) >= 4
    assert {r[0] for r in rows} == {"sae"}
    assert {r[4] for r in rows} <= {"pass", "FAIL"} and all(r[4] == "pass" for r in rows)
    assert any("control" in r[1] for r in rows) and all(r[3] for r in rows)
    assert dlg.summary.text().startswith("self-test PASSED")
    assert dlg.result is not None and dlg.result.quick
    # a family that is not installed shows as a failed row, not an empty table
    monkeypatch.setitem(sys.modules, "eegmi.selftest.pick", None)
    _only(dlg, "pick")
    with qtbot.waitSignal(dlg.job.done, timeout=30000):
        qtbot.mouseClick(dlg.job.run_button, Qt.MouseButton.LeftButton)
    assert dlg.rows() == [("pick", "not installed", "-", "family runs and reports checks", "FAIL")]
    assert dlg.summary.text().startswith("self-test FAILED")
    # the same action brings the same dialog back
    dlg.hide()
    assert window.check_tools() is dlg and dlg.isVisible()


def test_check_the_tools_can_be_cancelled(qtbot, window):
    dlg = window.check_tools()
    _only(dlg, "sae")
    dlg.quick_box.setChecked(False)
    with qtbot.waitSignal(dlg.job.progressed, timeout=60000):
        qtbot.mouseClick(dlg.job.run_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dlg.job.cancelled, timeout=30000):
        qtbot.mouseClick(dlg.job.cancel_button, Qt.MouseButton.LeftButton)
    assert dlg.result is None and dlg.table.rowCount() == 0
    assert dlg.job.run_button.isEnabled()
    # unticking every family leaves nothing to run
    _only(dlg)
    assert not dlg.job.run_button.isEnabled() and dlg.run() is None
