"""Workspaces: dock arrangements that give the panels of one activity the room they need.

A workspace places every dock (none is hidden, so each stays visible or one tab
click away): a *side* column of tab groups stacked top to bottom, and a *main*
tab group taking the rest of the window, with one of its panels raised.
``inspect`` is the classic arrangement (scalp | reconstruction over activations,
analysis tabs along the bottom); ``analyse``, ``sae`` and ``train`` give one
analysis panel most of the window and keep the scalp map beside it, so a click
on an electrode and its effect on the analysis stay in view together; ``compare``
does the same for the Compare panel (a pinned second model beside the current one).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow


@dataclass(frozen=True)
class Workspace:
    """One dock arrangement.

    Attributes
    ----------
    name, title, shortcut
        Settings key, menu text, key sequence.
    side
        Tab groups of the side column (left), top to bottom, with their height
        fractions; each group is a tuple of panel names, the first raised.
    main
        Panel names of the main tab group, the first raised; panels named
        nowhere join this group, so every dock has a place.
    side_width
        Fraction of the window width given to the side column.
    """

    name: str
    title: str
    shortcut: str
    side: tuple[tuple[tuple[str, ...], float], ...]
    main: tuple[str, ...]
    side_width: float


ANALYSIS = ("propagation", "spectra", "saliency", "latents", "sae", "training")

WORKSPACES: dict[str, Workspace] = {w.name: w for w in (
    Workspace("inspect", "Inspect", "Ctrl+1", (), (), 0.42),  # the classic layout, see below
    Workspace("analyse", "Analyse", "Ctrl+2",
              ((("scalp",), 0.58), (("reconstruction", "activations"), 0.42)),
              ANALYSIS, 0.34),
    Workspace("sae", "SAE", "Ctrl+3",
              ((("scalp",), 0.56), (("activations", "reconstruction"), 0.44)),
              ("sae", *ANALYSIS), 0.34),
    Workspace("train", "Train", "Ctrl+4",
              ((("scalp",), 0.56), (("reconstruction", "activations"), 0.44)),
              ("training", *ANALYSIS), 0.34),
    Workspace("compare", "Compare", "Ctrl+5",
              ((("scalp",), 0.56), (("reconstruction", "activations"), 0.44)),
              ("compare", *ANALYSIS), 0.30),
)}
DEFAULT_WORKSPACE = "inspect"


def _group(win: QMainWindow, docks: dict[str, QDockWidget], area: Qt.DockWidgetArea,
           names: list[str]) -> None:
    """Dock ``names`` as one tab group in ``area``, the first raised.

    Each further dock is tabified straight onto the first: stacking them first and
    tabifying afterwards leaves Qt's tab bars of the steps in between on screen,
    over the docks.
    """
    first = docks[names[0]]
    win.addDockWidget(area, first)
    for name in names[1:]:
        win.tabifyDockWidget(first, docks[name])
    for name in names:
        docks[name].setVisible(True)
    first.raise_()


def apply_workspace(win: QMainWindow, docks: dict[str, QDockWidget], name: str) -> Workspace:
    """Arrange ``docks`` (panel name -> dock of ``win``) as workspace ``name``.

    Every dock ends up docked and visible (raised or in a tab group). Returns the
    workspace; an unknown name raises ``KeyError``.
    """
    return _arrange(win, docks, name)


def _arrange(win: QMainWindow, docks: dict[str, QDockWidget], name: str) -> Workspace:
    ws = WORKSPACES[name]
    for dock in docks.values():
        # out of the layout first: tab groups of the previous arrangement are dissolved
        dock.setFloating(False)
        win.removeDockWidget(dock)
    w, h = max(win.width(), 1), max(win.height(), 1)
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    if name == "inspect":
        top_right = [n for n in ("reconstruction", "activations") if n in docks]
        rest = [n for n in docks if n not in ("scalp", *top_right)]
        if "scalp" in docks:
            _group(win, docks, left, ["scalp"])
        for n in top_right:  # stacked, not tabbed
            _group(win, docks, right, [n])
        if rest:
            _group(win, docks, bottom, rest)
        if "scalp" in docks and top_right:
            win.resizeDocks([docks["scalp"], docks[top_right[0]]], [int(w * 0.42), int(w * 0.58)],
                            Qt.Orientation.Horizontal)
        if len(top_right) == 2:
            win.resizeDocks([docks[n] for n in top_right], [int(h * 0.24), int(h * 0.4)],
                            Qt.Orientation.Vertical)
        if rest:
            win.resizeDocks([docks[rest[0]]], [int(h * 0.28)], Qt.Orientation.Vertical)
        return ws
    groups = [([n for n in group if n in docks], frac) for group, frac in ws.side]
    groups = [(g, f) for g, f in groups if g]
    placed = {n for g, _ in groups for n in g}
    main = [n for n in dict.fromkeys(ws.main) if n in docks and n not in placed]
    main += [n for n in docks if n not in placed and n not in main]
    for group, _frac in groups:
        _group(win, docks, left, group)
    if main:
        _group(win, docks, right, main)
    heads = [docks[g[0]] for g, _ in groups]
    if len(heads) > 1:
        win.resizeDocks(heads, [int(h * f) for _, f in groups], Qt.Orientation.Vertical)
    if heads and main:
        win.resizeDocks([heads[0], docks[main[0]]], [int(w * ws.side_width), int(w * (1 - ws.side_width))],
                        Qt.Orientation.Horizontal)
    return ws
