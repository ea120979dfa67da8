"""Scalp map panel: clicks, shift-clicks, wheel and the frame slider drive the real input."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import shown_scalp_panel, write_tiny_data
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.panels.scalp import ScalpPanel


@pytest.fixture
def panel(qtbot):
    p = shown_scalp_panel(qtbot)
    yield p
    p.session.shutdown()


def _peak(img: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(int(np.argmax(img)), img.shape)
    return int(r), int(c)


def _click(qtbot, p: ScalpPanel, name: str, mods=Qt.KeyboardModifier.NoModifier) -> int:
    i = p.session.operator.montage.index(name)
    qtbot.mouseClick(p.scalp, Qt.MouseButton.LeftButton, mods, p.scalp.electrode_pos(i).toPoint())
    return i


def _shown(p: ScalpPanel) -> np.ndarray:
    return p.input_plot.image.image


def test_click_electrode_makes_input_peak_there(qtbot, panel) -> None:
    op = panel.session.operator
    for name in ("C3", "Pz", "FC2"):
        i = _click(qtbot, panel, name)
        qtbot.waitUntil(lambda i=i: _shown(panel) is not None
                        and np.argmax(panel.session.values) == i
                        and np.allclose(_shown(panel), op.render(panel.session.values)), timeout=5000)
        r, c = _peak(_shown(panel))
        er, ec = op.electrode_pixels[i]
        assert abs(r - er) <= 1 and abs(c - ec) <= 1
        assert panel.session.values[i] == pytest.approx(1.0)
        assert np.count_nonzero(panel.session.values) == 1


def test_shift_click_adds_a_second_electrode(qtbot, panel) -> None:
    op = panel.session.operator
    a = _click(qtbot, panel, "FC5")
    b = _click(qtbot, panel, "CP2", Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: np.count_nonzero(panel.session.values) == 2
                    and _shown(panel) is not None
                    and np.allclose(_shown(panel), op.render(panel.session.values)), timeout=5000)
    img = _shown(panel)
    for i in (a, b):
        r, c = op.electrode_pixels[i]
        assert img[r - 1:r + 2, c - 1:c + 2].max() > 0.8  # a bump at both electrodes
    assert set(panel.mix) == {a, b}


def test_wheel_over_electrode_changes_amplitude(qtbot, panel) -> None:
    op = panel.session.operator
    i = _click(qtbot, panel, "Cz")
    pos = panel.scalp.electrode_pos(i)
    for _ in range(3):
        ev = QWheelEvent(pos, panel.scalp.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                         Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(panel.scalp, ev)
    qtbot.waitUntil(lambda: panel.session.values[i] == pytest.approx(1.3)
                    and np.allclose(_shown(panel), op.render(panel.session.values)), timeout=5000)
    r, c = op.electrode_pixels[i]
    assert _shown(panel)[r, c] == pytest.approx(1.3, abs=0.15)
    assert panel.amp.value() == pytest.approx(1.3)


def test_wheel_away_from_electrodes_does_nothing(qtbot, panel) -> None:
    before = panel.session.values.copy()
    ev = QWheelEvent(QPointF(2, 2), panel.scalp.mapToGlobal(QPointF(2, 2)), QPoint(0, 0),
                     QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(panel.scalp, ev)
    np.testing.assert_array_equal(panel.session.values, before)


def test_frame_slider_moves_through_real_frames(qtbot, panel, tmp_path) -> None:
    path = write_tiny_data(tmp_path / "tiny.npz")
    s = panel.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        s.set_data(path)
    panel.mode.setCurrentIndex(1)
    assert panel.dataset_box.isVisible()
    assert panel.slider.maximum() == s.data.n_frames - 1
    shown = []
    for frame in (5, 37):
        panel.slider.setValue(frame)
        expected = s.operator.render(s.scaler.transform(np.asarray(s.data.values[frame])))
        qtbot.waitUntil(lambda e=expected: _shown(panel) is not None
                        and np.allclose(_shown(panel), e, atol=1e-5), timeout=5000)
        assert s.frame_index == frame
        shown.append(_shown(panel).copy())
        # the strip shows the frame's trial (20 frames) with the cursor at its position
        assert len(panel.gfp_curve.yData) == 20
        assert panel.cursor.value() == pytest.approx((frame % 20) / s.data.sfreq)  # seconds
    assert not np.allclose(shown[0], shown[1])
    panel.step_frame(1)
    qtbot.waitUntil(lambda: s.frame_index == 38, timeout=5000)
