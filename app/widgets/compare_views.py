"""Views of a two-model comparison: matched layers, latents, α per layer.

Each view shows what it is given (an :class:`eegmi.analysis.compare.ForwardComparison`
or an :class:`eegmi.analysis.compare_spectra.SpectraComparison`); none of them
reads the session or calls a model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.widgets.curves import outside_legend
from app.widgets.image_view import TopoImagePlot, make_layout
from eegmi.figures.style import short_layer
from eegmi.mosaic import as_maps, finite_range, layout_for, tile

PEN_A, PEN_B, PEN_DIFF = (31, 119, 180), (214, 39, 40), (90, 90, 90)
UNITS_NOTE = ("Element-wise differences assume unit k of A is unit k of B: true for "
              "checkpoints of one training run, not for independently trained models "
              "(their units may be permuted); the RMS columns compare sizes whatever the basis.")
LAYER_COLUMNS = ("layer A", "layer B", "shape A", "shape B", "RMS A", "RMS B", "‖A−B‖ / ‖A‖")


def _shape(s: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in s) or "–"


def _fmt(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.4g}"


class LayerCompareView(QtWidgets.QWidget):
    """The matched layers as a table, and the selected pair's feature maps: A, B, A − B.

    Differences are drawn only for pairs of the same shape; for other pairs the
    table says why there is none (no counterpart, or shapes that differ).
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rule = QtWidgets.QLabel("")
        self.rule.setWordWrap(True)
        lay.addWidget(self.rule)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.table = QtWidgets.QTableWidget(0, len(LAYER_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(LAYER_COLUMNS))
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumWidth(300)
        self.table.itemSelectionChanged.connect(self._draw_selected)
        split.addWidget(self.table)
        self.maps = make_layout()
        self.maps.setBackground("w")
        self.maps.setMinimumHeight(240)
        # stacked: a mosaic is wider than tall, and the column beside the table is too
        self.plot_a = TopoImagePlot(self.maps, "A", row=0, col=0)
        self.plot_b = TopoImagePlot(self.maps, "B", row=1, col=0)
        self.plot_d = TopoImagePlot(self.maps, "A − B", row=2, col=0, cmap="CET-D1")
        split.addWidget(self.maps)
        split.setSizes([600, 440])
        lay.addWidget(split, 1)
        self.comparison: Any = None
        #: (A name, B name) of the pair whose maps are drawn
        self.shown: tuple[str | None, str | None] = (None, None)

    def set_comparison(self, cmp: Any) -> None:
        """Fill the table from ``cmp`` (a ForwardComparison), keeping the selected pair."""
        keep = self.selected_row()
        self.comparison = cmp
        self.rule.setText(f"Layer matching: {cmp.matching.rule}. {UNITS_NOTE}")
        self.table.blockSignals(True)
        self.table.setRowCount(len(cmp.layers))
        for r, p in enumerate(cmp.layers):
            cells = (p.a or "–", p.b or "–", _shape(p.shape_a), _shape(p.shape_b),
                     _fmt(p.rms_a), _fmt(p.rms_b), p.describe())
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
        self.table.resizeColumnsToContents()
        row = keep if 0 <= keep < len(cmp.layers) else self._first_comparable()
        self.table.selectRow(row)
        self.table.blockSignals(False)
        self._draw_selected()

    def _first_comparable(self) -> int:
        layers = self.comparison.layers
        spatial = [i for i, p in enumerate(layers) if p.comparable and len(p.shape_a) == 3]
        comparable = [i for i, p in enumerate(layers) if p.comparable]
        return (spatial or comparable or [0])[0]

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def select_pair(self, name_a: str | None) -> None:
        """Show the pair whose A layer is ``name_a``."""
        if self.comparison is None:
            return
        for r, p in enumerate(self.comparison.layers):
            if p.a == name_a:
                self.table.selectRow(r)
                return

    def pair_arrays(self) -> dict[str, np.ndarray]:
        """The shown pair's activations ``a``, ``b`` and, for equal shapes, ``difference``."""
        cmp = self.comparison
        na, nb = self.shown
        out: dict[str, np.ndarray] = {}
        if cmp is None:
            return out
        if na is not None and na in cmp.a.activations:
            out["a"] = np.asarray(cmp.a.activations[na])
        if nb is not None and nb in cmp.b.activations:
            out["b"] = np.asarray(cmp.b.activations[nb])
        if "a" in out and "b" in out and out["a"].shape == out["b"].shape:
            out["difference"] = out["a"] - out["b"]
        return out

    def _draw_selected(self) -> None:
        cmp, row = self.comparison, self.selected_row()
        if cmp is None or not 0 <= row < len(cmp.layers):
            return
        pair = cmp.layers[row]
        self.shown = (pair.a, pair.b)
        arrays = self.pair_arrays()
        shared = finite_range([arrays[k] for k in ("a", "b") if k in arrays])
        for key, plot, title in (("a", self.plot_a, f"A {pair.a or '(none)'}"),
                                 ("b", self.plot_b, f"B {pair.b or '(none)'}")):
            plot.plot.setTitle(title, size="9pt")
            self._show(plot, arrays.get(key), shared)
        d = arrays.get("difference")
        if d is None:
            self.plot_d.plot.setTitle(f"A − B: {pair.describe()}", size="9pt")
            self._show(self.plot_d, None, (0.0, 1.0))
        else:
            lim = max(float(np.max(np.abs(d))), 1e-6)
            self.plot_d.plot.setTitle(f"A − B (range ±{lim:.3g})", size="9pt")
            self._show(self.plot_d, d, (-lim, lim))

    @staticmethod
    def _show(plot: TopoImagePlot, act: np.ndarray | None, levels: tuple[float, float]) -> None:
        if act is None:
            plot.set_image(None)
            return
        img = tile(as_maps(act), layout_for(tuple(act.shape)))
        first = plot.data is None or plot.data.shape != img.shape
        plot.set_image(img, levels)
        if first:
            h, w = img.shape
            plot.plot.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)


class LatentCompareView(QtWidgets.QWidget):
    """Both latent vectors as bars, with their norms and why coordinates are not compared."""

    NOTE = ("Latent coordinates of two models are not comparable (any rotation of a latent "
            "space gives an equally good model): compare the norms, the reconstructions, "
            "and the canonical correlations over many inputs (Eigenspectra α tab). A "
            "decoder-only model (E1) has no encoder: its latent is the electrode vector itself.")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.setMinimumHeight(140)
        self.plot_a = self.plots.addPlot(row=0, col=0, title="A latent")
        self.plot_b = self.plots.addPlot(row=0, col=1, title="B latent")
        for p in (self.plot_a, self.plot_b):
            p.setLabel("bottom", "unit")
            p.setMenuEnabled(False)
        lay.addWidget(self.plots, 1)
        self.norms = QtWidgets.QLabel("")
        self.note = QtWidgets.QLabel(self.NOTE)
        self.note.setWordWrap(True)
        lay.addWidget(self.norms)
        lay.addWidget(self.note)

    def set_latents(self, za: np.ndarray | None, zb: np.ndarray | None, names: tuple[str, str],
                    hooks: tuple[str, str]) -> None:
        for plot, z, pen, name, hook in ((self.plot_a, za, PEN_A, names[0], hooks[0]),
                                         (self.plot_b, zb, PEN_B, names[1], hooks[1])):
            plot.clear()
            plot.setTitle(f"{name} {hook}", size="9pt")
            if z is not None:
                z = np.asarray(z, dtype=float).reshape(-1)
                plot.addItem(pg.BarGraphItem(x=np.arange(z.size), height=z, width=0.8, brush=pen))
        na = math.nan if za is None else float(np.linalg.norm(za))
        nb = math.nan if zb is None else float(np.linalg.norm(zb))
        da = "–" if za is None else str(np.asarray(za).size)
        db = "–" if zb is None else str(np.asarray(zb).size)
        self.norms.setText(f"‖z_A‖ = {_fmt(na)} ({da} units, {hooks[0]})    "
                           f"‖z_B‖ = {_fmt(nb)} ({db} units, {hooks[1]})")


class AlphaCompareView(QtWidgets.QWidget):
    """α per matched layer of both models (same inputs), their difference, and the CCA."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.setMinimumHeight(170)
        self.alpha_plot = self.plots.addPlot(row=0, col=0, title="α per layer (λ_k ∝ k^-α)")
        self.alpha_plot.setLabel("left", "α")
        self.legend = outside_legend(self.plots, row=1, col=0)
        self.diff_plot = self.plots.addPlot(row=0, col=1, title="α_A − α_B")
        self.cca_plot = self.plots.addPlot(row=0, col=2, title="latent canonical correlations")
        self.cca_plot.setLabel("bottom", "canonical pair")
        self.cca_plot.setYRange(0.0, 1.05, padding=0.0)
        for p in (self.alpha_plot, self.diff_plot, self.cca_plot):
            p.setMenuEnabled(False)
        lay.addWidget(self.plots, 1)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        self.result: Any = None

    def clear(self) -> None:
        self.result = None
        for p in (self.alpha_plot, self.diff_plot, self.cca_plot):
            p.clear()
        self.legend.clear()
        self.summary.setText("")

    def set_result(self, res: Any) -> None:
        """Draw a :class:`~eegmi.analysis.compare_spectra.SpectraComparison`."""
        self.clear()
        self.result = res
        rows = [r for r in res.alpha_rows() if r[2] is not None or r[3] is not None]
        xs = np.arange(len(rows), dtype=float)
        ya = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
        yb = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float)
        for ys, pen, lab in ((ya, PEN_A, f"A {res.label_a}"), (yb, PEN_B, f"B {res.label_b}")):
            item = self.alpha_plot.plot(xs, ys, pen=pg.mkPen(pen, width=2), symbol="o",
                                        symbolSize=6, symbolBrush=pen, connect="finite")
            self.legend.addItem(item, lab)
        ticks = [[(i, short_layer(r[0]) if r[0] == r[1] else
                   f"{short_layer(r[0])}/{short_layer(r[1])}") for i, r in enumerate(rows)]]
        for p in (self.alpha_plot, self.diff_plot):
            p.getAxis("bottom").setTicks(ticks)
            p.setXRange(-0.5, max(len(rows), 1) - 0.5, padding=0.0)
        diff = ya - yb
        ok = np.isfinite(diff)
        if ok.any():
            self.diff_plot.addItem(pg.BarGraphItem(x=xs[ok], height=diff[ok], width=0.6,
                                                   brush=PEN_DIFF))
        self.diff_plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen((150, 150, 150))))
        cca = np.asarray(res.cca, dtype=float)
        if cca.size:
            self.cca_plot.plot(np.arange(1, cca.size + 1), cca, pen=pg.mkPen(PEN_DIFF, width=2),
                               symbol="o", symbolSize=4, symbolBrush=PEN_DIFF)
        pairs = "; ".join(f"{r[0] or '–'}/{r[1] or '–'} {_fmt(r[2])} vs {_fmt(r[3])}"
                          for r in rows)
        mean = "–" if not cca.size else f"{float(np.mean(cca)):.3f}"
        self.summary.setText(
            f"Both models on the same {res.inputs}. α (A vs B): {pairs}. Latent canonical "
            f"correlations: {cca.size} pairs, mean {mean} (a model against itself gives 1; "
            f"invariant to any linear change of either latent basis).")
