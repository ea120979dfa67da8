"""Workspaces: at 1600x1000 the analysis panels are readable, at 1280x800 every dock is reachable."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QAbstractButton, QApplication, QScrollArea, QTabBar

from app.main_window import MainWindow
from app.workspaces import WORKSPACES

ANALYSIS_PANELS = ("propagation", "spectra", "saliency", "latents", "sae", "training")


def _window(qtbot, w: int, h: int) -> MainWindow:
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(w, h)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win._sized and win.width() == w, timeout=5000)
    QApplication.processEvents()
    return win


def _settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def _drawn_row_labels(heatmap) -> list:
    """The left axis' tick labels as pyqtgraph draws them: (rect, text) in axis coordinates."""
    img = QImage(8, 8, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        specs = heatmap.plot.getAxis("left").generateDrawSpecs(p)
    finally:
        p.end()
    return [(rect, text) for rect, _flags, text in specs[2]]


def _fill_propagation(win: MainWindow) -> list[str]:
    names = list(win.session.operator.montage.ch_names)
    win.panels["propagation"].heatmap.set_matrix(
        np.random.default_rng(0).random((len(names), 24)), names, "unit", "enc.act1")
    return names


def _assert_no_overlap(labels) -> None:
    for i, (a, ta) in enumerate(labels):
        for b, tb in labels[i + 1:]:
            assert not a.intersects(b), f"labels {ta} and {tb} overlap: {a} {b}"


def _on_screen(widget, dock) -> bool:
    """``widget`` lies wholly inside the visible part of its dock's scroll area."""
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea)
    vp = scroll.viewport()
    top_left = widget.mapTo(vp, QPoint(0, 0))
    return vp.rect().contains(QRect(top_left, widget.size())) and not widget.visibleRegion().isEmpty()


def test_analyse_workspace_at_1600x1000_labels_and_buttons_readable(qtbot, isolated_settings) -> None:
    win = _window(qtbot, 1600, 1000)
    names = _fill_propagation(win)
    win.set_workspace("analyse")
    _settle()
    assert win.workspace == "analyse"
    dock = win.docks["propagation"]
    assert not dock.isFloating() and not dock.visibleRegion().isEmpty()  # raised
    heat = win.panels["propagation"].heatmap
    labels = _drawn_row_labels(heat)
    assert [t for _r, t in labels] == names  # every one of the 32 rows labelled
    _assert_no_overlap(labels)
    # every analysis panel, raised in turn, shows its buttons whole, with their full text
    for name in ANALYSIS_PANELS:
        win.docks[name].raise_()
        _settle()
        panel = win.panels[name]
        assert not win.docks[name].visibleRegion().isEmpty(), name
        buttons = [b for b in panel.findChildren(QAbstractButton)
                   if b.isVisibleTo(panel) and b.text() and type(b).__name__ == "QPushButton"]
        assert buttons, name
        for b in buttons:
            assert b.isVisible() and _on_screen(b, win.docks[name]), f"{name}: {b.text()!r} off screen"
            text_px = b.fontMetrics().horizontalAdvance(b.text().replace("&", ""))
            assert b.width() >= text_px, f"{name}: {b.text()!r} cut ({b.width()} < {text_px})"
    win.close()


def test_heatmap_thins_labels_when_squeezed(qtbot) -> None:
    from app.widgets.heatmap import HeatmapWidget

    heat = HeatmapWidget()
    qtbot.addWidget(heat)
    names = [f"E{i}" for i in range(32)]
    heat.set_matrix(np.random.default_rng(1).random((32, 8)), names)
    assert heat.minimumHeight() >= 32 * heat._line_px  # a text line per row when laid out
    heat.setMinimumHeight(0)  # squeezed anyway (a floating dock made tiny, say)
    heat.resize(400, 180)
    heat.show()
    qtbot.waitExposed(heat)
    qtbot.waitUntil(lambda: heat.label_step > 1, timeout=3000)
    labels = _drawn_row_labels(heat)
    assert 1 < len(labels) < 32
    assert [t for _r, t in labels] == names[::heat.label_step]
    _assert_no_overlap(labels)


def _tab_for(win: MainWindow, dock) -> tuple[QTabBar, int] | None:
    for bar in win.findChildren(QTabBar):
        for i in range(bar.count()):
            # the tab a click there reaches: Qt keeps unused tab bars, hidden, off screen
            # or under the docks
            hit = win.childAt(bar.mapTo(win, bar.tabRect(i).center()))
            if bar.tabText(i) == dock.windowTitle() and hit is bar:
                return bar, i
    return None


@pytest.mark.parametrize("workspace", list(WORKSPACES))
def test_every_dock_reachable_at_1280x800(qtbot, isolated_settings, workspace) -> None:
    win = _window(qtbot, 1280, 800)
    win.set_workspace(workspace)
    _settle()
    for name, dock in win.docks.items():
        assert dock.isVisibleTo(win) and not dock.isFloating(), name
        if not dock.visibleRegion().isEmpty():
            continue
        tab = _tab_for(win, dock)
        assert tab is not None, f"{name} neither shown nor a tab in {workspace}"
        bar, i = tab
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())
        _settle()
        assert not dock.visibleRegion().isEmpty(), (
            f"{name}: its tab does not show it", bar.geometry(), [bar.tabText(j) for j in range(bar.count())],
            i, bar.currentIndex(), dock.geometry())
        assert dock.width() >= 300 and dock.height() >= 100, (name, dock.size())  # usable
    win.close()


def test_workspace_shortcut_and_memory(qtbot, isolated_settings) -> None:
    win = _window(qtbot, 1600, 1000)
    assert win.workspace == "inspect" and win.workspace_actions["inspect"].isChecked()
    win.workspace_actions["train"].trigger()
    _settle()
    assert win.workspace == "train"
    assert not win.docks["training"].visibleRegion().isEmpty()
    # the shortcut of each workspace is on its action, with the window as context
    assert win.workspace_actions["analyse"].shortcut().toString() == WORKSPACES["analyse"].shortcut
    win.close()
    again = _window(qtbot, 1600, 1000)
    assert again.workspace == "train" and again.workspace_actions["train"].isChecked()
    # floated docks come back docked with reset layout (the current workspace)
    again.docks["propagation"].setFloating(True)
    again.reset_layout()
    _settle()
    assert not again.docks["propagation"].isFloating()
    assert not again.docks["training"].visibleRegion().isEmpty()
    again.close()


def test_heatmap_empty_state_says_what_to_do_and_hides_bare_axes(qtbot) -> None:
    """Before a run the matrix area shows a line saying what to do, not empty -0.5..0.5
    axes; a matrix brings the axes and colour bar back, and a new empty state hides them."""
    from app.panels.propagation import EMPTY_MATRIX
    from app.widgets.heatmap import HeatmapWidget

    heat = HeatmapWidget()
    qtbot.addWidget(heat)
    heat.show_empty(EMPTY_MATRIX)
    heat.show()
    qtbot.waitExposed(heat)
    axes = [heat.plot.getAxis(s) for s in ("left", "bottom")]
    assert not any(a.isVisible() for a in axes) and not heat.bar.isVisible()
    assert heat.plot.titleLabel.text == EMPTY_MATRIX
    heat.set_matrix(np.ones((3, 4)), ["a", "b", "c"], title="enc.act1")
    assert all(a.isVisible() for a in axes) and heat.bar.isVisible()
    assert heat.plot.titleLabel.text == "enc.act1"
    heat.show_empty("again")
    assert heat.matrix is None and not heat.bar.isVisible()
