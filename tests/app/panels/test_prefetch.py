"""Hover prefetch: a pointer resting on an electrode lets the click only paint."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import shown_scalp_panel, write_tiny_model
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.panels.scalp import ScalpPanel


@pytest.fixture
def panel(qtbot, tmp_path):
    p = shown_scalp_panel(qtbot)
    session = p.session
    with qtbot.waitSignal(session.model_changed, timeout=20000):
        session.set_model(write_tiny_model(tmp_path / "m"))
    qtbot.waitUntil(lambda: session.last_forward is not None, timeout=10000)
    yield p
    p.session.shutdown()


def _hover(p: ScalpPanel, i: int) -> None:
    pos = p.scalp.electrode_pos(i)
    QApplication.sendEvent(p.scalp, QMouseEvent(
        QEvent.Type.MouseMove, pos, p.scalp.mapToGlobal(pos), Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def test_click_after_hover_uses_the_prefetched_forward_pass(qtbot, panel) -> None:
    s = panel.session
    i = s.operator.montage.index("Pz")
    _hover(panel, i)
    expected = s.baseline_values().copy()
    expected[i] += panel.amp.value()
    qtbot.waitUntil(lambda: s._prefetched is not None
                    and np.array_equal(s._prefetched[2].values, expected), timeout=10000)
    executed = s.worker.executed
    with qtbot.waitSignal(s.forward_ready, timeout=5000) as blocker:
        qtbot.mouseClick(panel.scalp, Qt.MouseButton.LeftButton, pos=panel.scalp.electrode_pos(i).toPoint())
    result = blocker.args[0]
    assert s.worker.executed == executed  # the worker had nothing more to do
    np.testing.assert_array_equal(result.values, expected)
    fresh = s.inference.forward_values(expected)
    np.testing.assert_allclose(result.recon, fresh.recon, atol=1e-6)
    assert s.last_forward is result


def test_prefetch_for_another_input_or_model_is_not_used(qtbot, panel, tmp_path) -> None:
    s = panel.session
    a, b = s.operator.montage.index("Fz"), s.operator.montage.index("O1")
    _hover(panel, a)
    qtbot.waitUntil(lambda: s._prefetched is not None and np.argmax(s._prefetched[2].values) == a,
                    timeout=10000)
    with qtbot.waitSignal(s.forward_ready, timeout=10000) as blocker:
        panel.click_electrode(b)  # not the hovered electrode: computed on the worker
    assert int(np.argmax(blocker.args[0].values)) == b
    # a new model makes every prefetched result stale
    _hover(panel, a)
    qtbot.waitUntil(lambda: s._prefetched is not None and np.argmax(s._prefetched[2].values) == a,
                    timeout=10000)
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        s.set_model(write_tiny_model(tmp_path / "other", seed=5))
    qtbot.waitUntil(lambda: s.last_forward is not None and np.argmax(s.last_forward.values) == b,
                    timeout=10000)  # the new model's forward pass of the input on screen
    executed = s.worker.executed
    with qtbot.waitSignal(s.forward_ready, timeout=10000,
                          check_params_cb=lambda r: int(np.argmax(r.values)) == a) as blocker:
        panel.click_electrode(a)
    assert s.worker.executed > executed
    np.testing.assert_allclose(blocker.args[0].recon,
                               s.inference.forward_values(blocker.args[0].values).recon, atol=1e-6)


def test_a_result_overtaken_by_a_prefetched_one_is_not_shown_after_it(qtbot, panel) -> None:
    """Hovered B is prefetched; a click on A then B at once: A is never shown after B."""
    s = panel.session
    a, b = s.operator.montage.index("C3"), s.operator.montage.index("C4")
    _hover(panel, b)
    qtbot.waitUntil(lambda: s._prefetched is not None and np.argmax(s._prefetched[2].values) == b,
                    timeout=10000)
    shown: list[int] = []
    s.forward_ready.connect(lambda r: shown.append(int(np.argmax(r.values))))
    panel.click_electrode(a)  # goes to the worker
    panel.click_electrode(b)  # served from the prefetch, before A's result is back
    qtbot.waitUntil(lambda: b in shown, timeout=10000)
    qtbot.wait(200)  # A's forward pass finishes in the meantime
    assert shown[-1] == b and a not in shown[shown.index(b):]
    assert int(np.argmax(s.last_forward.values)) == b
