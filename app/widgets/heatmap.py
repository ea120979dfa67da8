"""A labelled heat map (rows x columns) whose rows can be clicked.

Used for the propagation matrix: electrodes on the rows, labelled by name on
the left axis, units on the columns.  Row 0 is drawn at the top.

Row labels never overlap: the widget asks for a minimum height of one text line
per row (the dock's scroll area scrolls when it is smaller), and should it still
be squeezed, only every ``label_step``-th row is labelled (the tooltip names
every row).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.widgets.colour_bar import ColourBar
from eegmi.mosaic import finite_range


class HeatmapWidget(pg.GraphicsLayoutWidget):
    """Image of a ``(rows, cols)`` matrix with row names and a colour bar.

    Signals
    -------
    rowClicked(int row)
        A left click anywhere on a row of the matrix.
    hovered(int row, int col, float value)
    """

    rowClicked = QtCore.Signal(int)
    hovered = QtCore.Signal(int, int, float)

    def __init__(self, cmap: str = "viridis", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.plot = self.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)  # first row on top
        self._font = _label_font()
        self._line_px = QtGui.QFontMetricsF(self._font).height()
        self.plot.getAxis("left").setStyle(tickFont=self._font)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bar = ColourBar(values=(0.0, 1.0), width=10, colorMap=cmap)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.matrix: np.ndarray | None = None
        self.row_names: list[str] = []
        self.selected_row = -1
        #: every how many rows a label is drawn (1: all of them)
        self.label_step = 1
        self.plot.getViewBox().sigResized.connect(self._label_rows)
        self._sel = pg.PlotCurveItem(pen=pg.mkPen((255, 80, 0), width=2))
        self.plot.addItem(self._sel)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.show_empty("")

    def show_empty(self, message: str) -> None:
        """No matrix: axes and colour bar hidden (no bare -0.5..0.5 axes), ``message`` as
        the title saying what to do."""
        self.matrix = None
        self.row_names = []
        self.image.clear()
        self._sel.setData([], [])
        for side in ("left", "bottom"):
            self.plot.hideAxis(side)
        self.bar.setVisible(False)
        self.plot.setTitle(message, size="9pt")

    def set_matrix(self, matrix: np.ndarray, row_names: list[str], x_label: str = "",
                   title: str = "") -> None:
        """Show ``matrix (rows, cols)`` with ``row_names (rows,)`` on the left axis."""
        m = np.asarray(matrix, dtype=np.float32)
        if m.ndim != 2 or m.shape[0] != len(row_names):
            raise ValueError(f"matrix {m.shape} does not match {len(row_names)} row names")
        self.matrix = m
        self.row_names = list(row_names)
        for side in ("left", "bottom"):
            self.plot.showAxis(side)
        self.bar.setVisible(True)
        levels = finite_range([m])
        self.image.setImage(m, autoLevels=False, levels=levels)
        self.bar.setLevels(values=levels, update_items=False)
        # title, bottom axis and its label take about five lines; one line per row
        self.setMinimumHeight(int(math.ceil((m.shape[0] + 5) * self._line_px)) + 12)
        self._label_rows()
        # columns are whole units: label cell centres with integers, thinned for wide layers
        step = max(1, int(np.ceil(m.shape[1] / 16)))
        self.plot.getAxis("bottom").setTicks([[(c + 0.5, str(c)) for c in range(0, m.shape[1], step)]])
        self.plot.setLabel("bottom", x_label)
        self.plot.setTitle(title, size="9pt")
        self.plot.setRange(xRange=(0, m.shape[1]), yRange=(0, m.shape[0]), padding=0.0)
        self.select_row(self.selected_row if 0 <= self.selected_row < m.shape[0] else -1)

    def _label_rows(self, *_args: Any) -> None:
        """Label as many rows as fit one text line each: every row when there is room."""
        if not self.row_names:
            return
        row_px = self.plot.getViewBox().height() / len(self.row_names)
        step = max(1, math.ceil(self._line_px / row_px)) if row_px > 0 else 1
        self.label_step = step
        self.plot.getAxis("left").setTicks(
            [[(i + 0.5, self.row_names[i]) for i in range(0, len(self.row_names), step)]])

    def select_row(self, row: int) -> None:
        """Outline ``row`` (-1 clears the outline)."""
        self.selected_row = int(row)
        if self.matrix is None or row < 0:
            self._sel.setData([], [])
            return
        w = self.matrix.shape[1]
        self._sel.setData([0, w, w, 0, 0], [row, row, row + 1, row + 1, row])

    def cell_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(row, col) of the matrix cell under a scene position, or None."""
        if self.matrix is None:
            return None
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        r, c = math.floor(p.y()), math.floor(p.x())
        if 0 <= r < self.matrix.shape[0] and 0 <= c < self.matrix.shape[1]:
            return r, c
        return None

    def row_scene_pos(self, row: int) -> QtCore.QPointF:
        """Scene position of the middle of ``row`` (for tests and keyboard navigation)."""
        w = 0 if self.matrix is None else self.matrix.shape[1]
        return self.plot.getViewBox().mapViewToScene(QtCore.QPointF(w / 2.0, row + 0.5))

    def _on_click(self, event: Any) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        hit = self.cell_at(event.scenePos())
        if hit is not None:
            self.select_row(hit[0])
            self.rowClicked.emit(hit[0])

    def _on_move(self, scene_pos: QtCore.QPointF) -> None:
        hit = self.cell_at(scene_pos)
        if hit is None or self.matrix is None:
            return
        r, c = hit
        value = float(self.matrix[r, c])
        self.setToolTip(f"{self.row_names[r]}  unit {c}  {value:.4g}")
        self.hovered.emit(r, c, value)


def _label_font() -> QtGui.QFont:
    # one point under the application font: 32 names fit a normal window, still legible
    f = QtGui.QFont(QtWidgets.QApplication.font())
    size = f.pointSizeF()
    f.setPointSizeF(max(7.5, size - 1) if size > 0 else 8.0)
    return f
