"""Live line plots for training curves (one PlotWidget, several named series)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def outside_legend(layout: pg.GraphicsLayoutWidget | pg.GraphicsLayout, row: int, col: int,
                   columns: int = 2) -> pg.LegendItem:
    """A legend in its own cell of ``layout``, beside the plots rather than over their data.

    Entries are added by the caller (``legend.addItem(item, name)``).
    """
    legend = pg.LegendItem(colCount=columns)
    layout.addItem(legend, row=row, col=col)
    return legend


class CurvePlot(pg.PlotWidget):
    """A plot of named series that grow one point at a time.

    Points are kept in Python lists and the curve items are updated in place
    with ``setData`` (no item re-creation per point).

    Parameters
    ----------
    names
        Series names, in legend order.
    title, y_label
        Plot title and y axis label.
    log_y
        Show the y axis on a log scale (losses); non-positive values are dropped
        from the drawn curve because a log axis cannot show them.
    """

    def __init__(
        self,
        names: Sequence[str],
        title: str = "",
        y_label: str = "",
        log_y: bool = False,
        parent=None,
    ) -> None:
        super().__init__(parent=parent, background="w")
        self.log_y = log_y
        item = self.getPlotItem()
        item.setTitle(title, color="k")
        item.setLabel("bottom", "epoch")
        if y_label:
            item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.3)
        # the legend goes under the x axis, in the plot item's own grid (row 4 follows the
        # title, top axis, view box and bottom axis): inside the view it covered the curves
        self.legend = pg.LegendItem(colCount=max(len(names), 1))
        item.layout.addItem(self.legend, 4, 1)
        item.setLogMode(x=False, y=log_y)
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        for i, name in enumerate(names):
            pen = pg.mkPen(_COLOURS[i % len(_COLOURS)], width=2)
            self._curves[name] = item.plot(
                [], [], pen=pen, name=name, symbol="o", symbolSize=4,
                symbolBrush=_COLOURS[i % len(_COLOURS)],
            )
            self.legend.addItem(self._curves[name], name)
            self._x[name] = []
            self._y[name] = []

    @property
    def names(self) -> list[str]:
        return list(self._curves)

    def add_point(self, name: str, x: float, y: float | None) -> None:
        """Append ``(x, y)`` to series ``name`` (None or non-finite y is skipped)."""
        if name not in self._curves or y is None:
            return
        y = float(y)
        if not np.isfinite(y) or (self.log_y and y <= 0):
            return
        self._x[name].append(float(x))
        self._y[name].append(y)
        self._curves[name].setData(self._x[name], self._y[name])

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The points of ``name`` as ``(x (k,), y (k,))`` arrays."""
        return np.asarray(self._x[name], dtype=float), np.asarray(self._y[name], dtype=float)

    def clear_points(self) -> None:
        """Forget every point (a new run)."""
        for name, curve in self._curves.items():
            self._x[name].clear()
            self._y[name].clear()
            curve.setData([], [])
