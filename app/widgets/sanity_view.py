"""The saliency sanity check in the GUI: input options, run strip, verdict table, the
selected method's per-stage curves against the baseline band, and the rule.

It runs the core recipe ``sanity`` (:mod:`eegmi.recipes.saliency`) on the model worker
with a :class:`eegmi.analysis.sanity_options.SanityOptions` built from the same defaults
as ``eegmi analyze sanity``, so the verdicts are the CLI's (and ``eegmi rerun``'s, from
:meth:`SanityView.state`) for the same model and options.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.jobs import JobHandle
from app.widgets.analysis_job import JobControl
from eegmi.analysis.inputs import model_data_source
from eegmi.analysis.sanity_options import SanityOptions
from eegmi.concepts import tip
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.saliency import SANITY

#: the statistics in eegmi.analysis.sanity_rule.STATISTICS order, as plot titles
STAT_TITLES = ("|ρ| of |maps|", "|ρ| of signed maps", "SSIM of rank |maps|")
#: their concepts (eegmi.concepts), whose short texts are the plots' and columns' tooltips
STAT_CONCEPTS = ("rank_abs", "rank_signed", "ssim")
_PASS, _FAIL = QtGui.QColor(30, 130, 50), QtGui.QColor(190, 30, 30)


class SanityView(QtWidgets.QWidget):
    """Run the sanity check and show every method's verdict.

    Signals
    -------
    ready()
        A result is shown (``self.result``).
    """

    ready = QtCore.Signal()

    def __init__(self, session: Any, labels: dict[str, str] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.labels = dict(labels or {})
        self.result: Any = None
        self.options_used: SanityOptions | None = None
        #: the recipe state of the shown result (``eegmi rerun`` input), or None
        self.analysis: dict[str, Any] | None = None
        self._started: dict[str, Any] | None = None
        self.method = ""
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        d = SanityOptions()
        self.inputs_box = QtWidgets.QComboBox()
        self.inputs_box.addItem("held-out frames", "heldout")
        self.inputs_box.addItem("random mixes", "random")
        self.inputs_box.setToolTip("held-out: frames of the model's validation split (or of the "
                                   "loaded data when the model card names none)")
        self.count_spin = QtWidgets.QSpinBox()
        self.count_spin.setRange(2, 4096)
        self.count_spin.setValue(d.count)
        self.count_spin.setPrefix("n = ")
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.seed_spin.setValue(d.seed)
        self.seed_spin.setPrefix("seed ")
        for w in (QtWidgets.QLabel("sanity inputs"), self.inputs_box, self.count_spin, self.seed_spin):
            row.addWidget(w)
        self.job_ctl = JobControl(session, "Sanity check")
        row.addWidget(self.job_ctl, 1)
        lay.addLayout(row)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        left = QtWidgets.QWidget()
        llay = QtWidgets.QVBoxLayout(left)
        llay.setContentsMargins(0, 0, 0, 0)
        self.curves_label = QtWidgets.QLabel("run the check; click a row to see that method's curves")
        self.curves_label.setWordWrap(True)
        llay.addWidget(self.curves_label)
        self.plots_view = pg.GraphicsLayoutWidget()
        self.plots_view.setBackground("w")
        self.plots = []
        for i, title in enumerate(STAT_TITLES):
            p = self.plots_view.addPlot(row=0, col=i, title=title)
            p.setLabel("bottom", "randomised down to")
            p.setYRange(-0.05, 1.0)
            p.setToolTip(tip(STAT_CONCEPTS[i]))
            self.plots.append(p)
        llay.addWidget(self.plots_view, 1)
        split.addWidget(left)
        right = QtWidgets.QWidget()
        rlay = QtWidgets.QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        self.table = QtWidgets.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["method", "verdict", "|ρ| |maps|", "|ρ| signed", "SSIM"])
        for j, key in enumerate(STAT_CONCEPTS):
            self.table.horizontalHeaderItem(2 + j).setToolTip(tip(key))
        self.table.horizontalHeaderItem(1).setToolTip(tip("verdict"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._row_selected)
        rlay.addWidget(self.table, 1)
        self.caption = QtWidgets.QLabel("")
        self.caption.setWordWrap(True)
        font = self.caption.font()
        font.setPointSizeF(max(font.pointSizeF() - 1.5, 6.0))
        self.caption.setFont(font)
        self.caption.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        rlay.addWidget(self.caption)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([900, 520])
        lay.addWidget(split, 1)
        self.job_ctl.done.connect(self.show_result)
        self._set_rule_text(d.rule().text(), "")

    # ---- options --------------------------------------------------------------------
    def options(self, target: str, methods: tuple[str, ...] | None = None) -> SanityOptions:
        """The options a run would use now (the CLI's defaults plus this view's choices)."""
        kind = str(self.inputs_box.currentData())
        data = None
        if kind == "heldout":
            # the rule of the spectra panel and pick & interpolate (resolve_pick): the
            # embedded set's validation split for a model trained on it, else the
            # session's dataset; a card naming a file never chooses what is read (the
            # recipe refuses that file and asks for the data explicitly)
            if model_data_source(self.session.model) != "synthetic" and self.session.data_name:
                data = str(self.session.data_name)
        base = SanityOptions() if methods is None else SanityOptions(methods=methods)
        return SanityOptions(**{**base.to_json(), "methods": base.methods, "target": target,
                                "inputs": kind, "count": int(self.count_spin.value()),
                                "seed": int(self.seed_spin.value()), "data": data})

    def run(self, target: str, methods: tuple[str, ...] | None = None) -> JobHandle | None:
        """Start the check for ``target`` (a spec string); None without a model."""
        loaded = self.session.model
        if loaded is None:
            self.job_ctl.status.setText("load a model first")
            return None
        opts = self.options(target, methods)
        self.options_used = opts
        s = self.session
        context = RecipeContext(model=str(s.model_name), loaded=loaded,
                                data=str(s.data_name) if s.data_name else None, device=s.device)
        self._started = state_of(SANITY, opts, context)
        return self.job_ctl.start(lambda tok: SANITY.run(opts, context, tok), "sanity")

    def cli(self, model: str, target: str | None = None) -> str:
        """The command line computing what is shown, or what a run for ``target``
        (default the recipe's) would compute."""
        opts = self.options_used or self.options(target or SanityOptions().target)
        return opts.cli(model)

    def state(self) -> dict[str, Any] | None:
        """The recipe state of the shown result (re-runs headless with ``eegmi rerun``)."""
        return self.analysis

    def clear(self) -> None:
        """Forget the shown result (the model changed)."""
        self.result, self.options_used, self.method = None, None, ""
        self.analysis = self._started = None
        self.table.setRowCount(0)
        for p in self.plots:
            p.clear()
        self.curves_label.setText("run the check; click a row to see that method's curves")
        self._set_rule_text(SanityOptions().rule().text(), "")

    # ---- showing ----------------------------------------------------------------------
    def _set_rule_text(self, rule: str, inputs: str) -> None:
        head = f"<b>inputs:</b> {inputs}<br>" if inputs else ""
        self.caption.setText(f"{head}<b>rule:</b> {rule}")
        self.caption.setToolTip(rule)
        self.plots_view.setToolTip("band: baseline - margin .. baseline (mean over inputs); "
                                   "dashed: floor; filled green: changed under the rule, "
                                   "hollow red: not; bars: one-sided upper bound\n\n" + rule)

    def show_result(self, result: Any) -> None:
        """Fill the table and show the first method's curves."""
        self.result = result
        self.analysis = self._started
        self._set_rule_text(result.rule.text(), str(result.inputs.get("description", "")))
        self.table.blockSignals(True)
        self.table.setRowCount(len(result.methods))
        for i, m in enumerate(result.methods):
            v = result.verdicts[m]
            last, base = result.mean_similarity(m)[-1], result.mean_baseline(m)
            cells = [self.labels.get(m, m), result.label(m)]
            cells += [f"{_fmt(last[k])} / {_fmt(base[k])}" for k in range(len(STAT_TITLES))]
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(v.reason if j < 2 else "every layer randomised / baseline")
                if j == 1 and v.passed is not None:
                    item.setForeground(_PASS if v.passed else _FAIL)
                self.table.setItem(i, j, item)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.select(result.methods[0])
        self.ready.emit()

    def verdicts(self) -> dict[str, str]:
        """method -> the verdict text in the table."""
        if self.result is None:
            return {}
        return {m: self.table.item(i, 1).text() for i, m in enumerate(self.result.methods)}

    def _row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and self.result is not None:
            self.select(self.result.methods[rows[0].row()])

    def select(self, method: str) -> None:
        """Show ``method``'s curves against its baseline band."""
        res = self.result
        self.method = method
        row = res.methods.index(method)
        if self.table.currentRow() != row:
            self.table.blockSignals(True)
            self.table.selectRow(row)
            self.table.blockSignals(False)
        x = np.arange(1, len(res.layers) + 1, dtype=float)
        sim, base = res.mean_similarity(method), res.mean_baseline(method)
        _, upper = res.bounds(method)
        changed = res.verdicts[method].changed
        ticks = [[(float(i), name) for i, name in zip(x, res.layers, strict=True)]]
        label = self.labels.get(method, method)
        for k, p in enumerate(self.plots):
            p.clear()
            if np.isfinite(base[k]):
                band = pg.LinearRegionItem((base[k] - res.rule.margin, base[k]), movable=False,
                                           orientation="horizontal",
                                           brush=pg.mkBrush(150, 150, 150, 70),
                                           pen=pg.mkPen(110, 110, 110))
                p.addItem(band)
            p.addItem(pg.InfiniteLine(res.rule.floor, angle=0, pen=pg.mkPen(
                (120, 120, 120), style=QtCore.Qt.PenStyle.DashLine)))
            y = np.nan_to_num(sim[:, k], nan=0.0)
            top = np.clip(np.nan_to_num(upper[:, k] - sim[:, k], posinf=0.0), 0, None)
            p.addItem(pg.ErrorBarItem(x=x, y=y, top=top, bottom=np.zeros_like(top), beam=0.12,
                                      pen=pg.mkPen(31, 119, 180)))
            brushes = [pg.mkBrush(44, 160, 44) if c else pg.mkBrush(255, 255, 255)
                       for c in changed[:, k]]
            pens = [pg.mkPen(44, 160, 44) if c else pg.mkPen(200, 40, 40, width=2) for c in changed[:, k]]
            p.plot(x, y, pen=pg.mkPen(31, 119, 180, width=2), symbol="o", symbolSize=8,
                   symbolBrush=brushes, symbolPen=pens, name=label)
            p.getAxis("bottom").setTicks(ticks)
            p.setTitle(STAT_TITLES[k], size="9pt")
        self.curves_label.setText(
            f"<b>{label}</b>: {res.label(method)} — mean similarity to the trained maps per stage "
            f"(bars: upper bound, worst draw); grey band: baseline − margin .. baseline; dashed: "
            f"floor; green: changed")

    def curve(self, k: int) -> np.ndarray:
        """``(n_stages,)`` the y values of the selected method's curve in plot ``k``."""
        items = [i for i in self.plots[k].listDataItems() if i.name()]
        return np.asarray(items[0].getOriginalDataset()[1])


def _fmt(v: Any) -> str:
    f = float(v)
    return f"{f:.2f}" if np.isfinite(f) else "–"
