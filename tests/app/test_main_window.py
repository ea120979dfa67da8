"""Main window: model/data switching, errors, latest-wins, layout, theme, keys, drops."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QPalette
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from eegmi.errors import DataError


@pytest.fixture
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gui")
    return {
        "data": write_tiny_data(root / "a.npz", seed=0),
        "data2": write_tiny_data(root / "b.npz", seed=1),
        "plain": write_tiny_model(root / "plain", seed=0),
        "marked": write_tiny_model(root / "marked", seed=1, marks=True),
    }




def _load(qtbot, w: MainWindow, data=None, model=None) -> None:
    s = w.session
    if data is not None:
        with qtbot.waitSignal(s.data_changed, timeout=20000):
            w.open_data(data)
    if model is not None:
        with qtbot.waitSignal(s.model_changed, timeout=20000):
            w.open_model(model)
        qtbot.waitUntil(lambda: s.last_forward is not None and s.last_forward.recon is not None,
                        timeout=10000)


def test_switch_model_and_dataset(qtbot, window, files) -> None:
    s, recon = window.session, window.panels["reconstruction"]
    _load(qtbot, window, files["data"], files["plain"])
    assert "plain" in window.model_label.text() and "a.npz" in window.data_label.text()
    qtbot.waitUntil(lambda: recon.result is not None and recon.result.recon is not None)
    first = recon.result.recon.copy()
    assert "MSE" in recon.metrics.text()
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        window.open_model(files["marked"])
    qtbot.waitUntil(lambda: not np.allclose(recon.result.recon, first), timeout=10000)
    # the marked model's input shows its injection marks, outlined on the scalp panel too
    from eegmi.data.injection import Injection

    mask = Injection(s.operator, s.injection_config).mark_mask
    assert mask.any()
    np.testing.assert_allclose(s.last_forward.model_input[mask], 1.0)
    plot = window.panels["scalp"].input_plot
    assert len(plot.marks) == int(mask.sum())
    assert plot.overlay.isVisible() and plot.overlay.path().elementCount() == 5 * int(mask.sum())
    # dataset switch: frames now come from the second file
    scalp = window.panels["scalp"]
    scalp.mode.setCurrentIndex(1)
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        window.open_data(files["data2"])
    assert "b.npz" in window.data_label.text()
    expected = s.scaler.transform(np.asarray(s.data.values[0]))
    qtbot.waitUntil(lambda: np.allclose(s.last_forward.values, expected), timeout=10000)
    assert str(files["data2"]) in window.recent_files()
    # "(no model)" in the toolbar unloads it: the views fall back to the input only
    with qtbot.waitSignal(s.model_changed, timeout=5000):
        window.model_box.setCurrentIndex(0)
        window.model_box.activated.emit(0)
    qtbot.waitUntil(lambda: s.last_forward.recon is None and recon.result.recon is None,
                    timeout=10000)
    assert s.model is None and "none" in window.model_label.text()


def test_failed_job_shows_message_and_app_keeps_working(qtbot, window, files, tmp_path) -> None:
    s = window.session
    _load(qtbot, window, files["data"], files["plain"])
    missing = tmp_path / "no_such_model"
    with qtbot.waitSignal(s.error, timeout=10000):
        window.open_model(missing)
    assert window.error_box is not None and window.error_box.isVisible()
    assert "no_such_model" in window.error_box.text()
    assert "no_such_model" in window.last_error
    assert s.model_name == str(files["plain"])  # the loaded model stays
    # an interactive failure goes to the status bar only
    window.error_box.close()
    # a non-finite input never enters the workbench: refused on the spot, nothing queued
    with pytest.raises(DataError, match="finite"):
        s.set_values(np.full(32, np.nan, np.float32))
    assert not window.error_box.isVisible()
    good = np.linspace(0, 1, 32, dtype=np.float32)
    with qtbot.waitSignal(s.forward_ready, timeout=10000) as blocker:
        s.set_values(good)
    np.testing.assert_allclose(blocker.args[0].values, good)


def test_latest_wins_burst_shows_the_last_request(qtbot, window, files) -> None:
    import threading

    s = window.session
    _load(qtbot, window, files["data"], files["plain"])
    gate = threading.Event()
    block = s.call(gate.wait, "block")
    with qtbot.waitSignal(block.started, timeout=5000):
        pass
    results = []
    s.forward_ready.connect(results.append)
    executed = s.worker.executed
    bursts = [np.full(32, k / 50, np.float32) for k in range(50)]
    for v in bursts:
        s.set_values(v)
    gate.set()
    qtbot.waitUntil(lambda: bool(results) and np.allclose(results[-1].values, bursts[-1]), timeout=10000)
    assert s.worker.executed - executed <= 3  # the gate, the last forward (and maybe one more)
    assert len(results) == 1
    np.testing.assert_allclose(window.panels["reconstruction"].result.values, bursts[-1])


def test_layout_and_theme_persist(qtbot, isolated_settings) -> None:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.docks["reconstruction"].setVisible(False)
    w.set_theme("dark")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() < 100
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert not w2.docks["reconstruction"].isVisible()
    assert w2.theme == "dark"
    w2.reset_layout()
    assert w2.docks["reconstruction"].isVisible()
    w2.set_theme("light")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 150
    w2.close()


def test_arrow_keys_step_frames_and_ctrl0_resets(qtbot, window, files) -> None:
    s = window.session
    _load(qtbot, window, files["data"])
    window.activateWindow()
    window.panels["scalp"].mode.setCurrentIndex(1)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: s.frame_index == 2, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: s.frame_index == 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: s.input_source == "inject" and not np.any(s.values), timeout=5000)


def test_drop_checkpoint_folder_and_data_file(qtbot, window, files) -> None:
    s = window.session
    for path, signal in ((files["data"], s.data_changed), (files["plain"], s.model_changed)):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        with qtbot.waitSignal(signal, timeout=20000):
            window.dropEvent(ev)
    assert s.model_name == str(files["plain"]) and s.data_name == str(files["data"])


def test_figure_set_runs_on_worker_and_can_be_cancelled(qtbot, window, files, tmp_path) -> None:
    import threading

    s = window.session
    _load(qtbot, window, files["data"], files["plain"])
    out = tmp_path / "figs"
    handle = window.figure_set(out, models=[str(files["plain"])], frames=[1, 2])
    assert window.progress.isVisible() and window.cancel_btn.isVisible()
    with qtbot.waitSignal(handle.finished, timeout=60000) as done:
        pass
    assert done.args[0]["frames"] == [1, 2]
    assert (out / "plain.png").exists() and (out / "plain.pdf").exists()
    qtbot.waitUntil(lambda: not window.progress.isVisible())
    # cancel while it waits behind another request: nothing is written
    gate = threading.Event()
    block = s.call(gate.wait, "block")
    with qtbot.waitSignal(block.started, timeout=5000):
        pass
    handle = window.figure_set(tmp_path / "cancelled", models=[str(files["plain"])])
    with qtbot.waitSignal(handle.cancelled, timeout=10000):
        qtbot.mouseClick(window.cancel_btn, Qt.MouseButton.LeftButton)
    gate.set()
    with qtbot.waitSignal(s.forward_ready, timeout=10000):
        s.set_values(np.full(32, 0.25, np.float32))
    assert not (tmp_path / "cancelled").exists()
    assert not window.progress.isVisible()


def test_a_failing_panel_job_opens_no_dialog(qtbot, window) -> None:
    s = window.session
    window.error_box = None

    def job(_cancel):
        raise ValueError("panel job broke")
        yield  # pragma: no cover - makes this a generator

    with qtbot.waitSignal(s.error, timeout=10000) as blocker:
        s.submit(job, "propagation")
    assert "panel job broke" in blocker.args[0]
    assert window.error_box is None


def test_covered_tab_draws_the_newest_input_when_raised(qtbot, window, files) -> None:
    """A panel under another tab skips per-click drawing and catches up when raised."""
    _load(qtbot, window, files["data"], files["plain"])
    s, saliency = window.session, window.panels["saliency"]
    dock = window.docks["saliency"]
    window.docks["latents"].raise_()
    qtbot.waitUntil(lambda: saliency.visibleRegion().isEmpty(), timeout=5000)
    values = np.zeros(s.operator.montage.n_channels, np.float32)
    values[4] = 1.0
    with qtbot.waitSignal(s.forward_ready, timeout=10000) as blocker:
        s.set_values(values)
    recon = blocker.args[0].recon
    assert saliency.out_image.image is None or not np.allclose(saliency.out_image.image, recon)
    dock.raise_()
    qtbot.waitUntil(lambda: saliency.out_image.image is not None
                    and np.allclose(saliency.out_image.image, recon), timeout=5000)
