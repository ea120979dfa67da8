"""Propagation panel: electrode x unit response matrices, selectivity, linearity, pick & interpolate.

Everything numeric comes from the recipes of :mod:`eegmi.recipes.propagation`
(``propagation`` for the model, ``pick_compare`` for the across-models table), the
same jobs ``eegmi analyze propagation | pick-interpolate`` and ``eegmi rerun`` run,
on the model worker.  Clicking a row (an electrode) of the matrix makes that
electrode's one-hot the session input, so the scalp map and every activation grid
show how the signal travels.

The pick & interpolate test runs with :class:`PickInterpolateOptions` (held-out
frames by default), and a model's inputs are chosen by one rule
(:func:`eegmi.recipes.propagation.resolve_pick`) for the single model and the
across-models table; its views live in :mod:`app.widgets.pick_view`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.panels.base import Panel
from app.widgets.analysis_job import JobControl
from app.widgets.heatmap import HeatmapWidget
from app.widgets.pick_view import PickComparisonTable, PickOptionsBar, PickResultTable
from eegmi.concepts import tip
from eegmi.errors import ConfigError
from eegmi.figures.panel import figure_state
from eegmi.figures.panels import propagation as propagation_figure
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.propagation import (
    PICK_COMPARE,
    PROPAGATION,
    PickCompareOptions,
    PropagationOptions,
    compare_summary,
    layer_rows,
    propagation_summary,
    resolve_pick,
)
from eegmi.training.catalog import bundled_names

SUMMARY_COLUMNS = ("layer", "units", "mono", "poly", "dead", "selectivity", "linearity R²")
#: the concept (eegmi.concepts) whose tooltip each summary column header shows
SUMMARY_CONCEPTS = {"mono": "monosemantic", "poly": "polysemantic", "dead": "dead",
                    "selectivity": "selectivity", "linearity R²": "linearity_r2"}

__all__ = ["PropagationPanel", "bundled_names"]


#: what the matrix area says before a run
EMPTY_MATRIX = "press Run: one-hot electrode signals through every layer (rows: electrodes)"

class PropagationPanel(Panel):
    """Electrode x unit matrix per layer, per-layer summary and pick & interpolate score."""

    title = "Propagation"
    result_ready = QtCore.Signal()
    comparison_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: Any = None
        #: the recipe summary of the last run (what the views show) and its exported state
        self.summary: dict[str, Any] | None = None
        self.analysis: dict[str, Any] | None = None
        self.comparison: list[Any] = []
        self.comparison_summary: dict[str, Any] | None = None
        self.comparison_analysis: dict[str, Any] | None = None
        self._build_ui()
        session.model_changed.connect(self._on_model_changed)

    def _build_ui(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        top = QtWidgets.QHBoxLayout()
        self.job = JobControl(self.session, "Run propagation")
        self.job.run_clicked.connect(self.run)
        self.job.done.connect(self._on_done)
        top.addWidget(self.job, 1)
        top.addWidget(QtWidgets.QLabel("inputs"))
        self.n_inputs = QtWidgets.QSpinBox()
        self.n_inputs.setRange(66, 100000)
        self.n_inputs.setValue(PropagationOptions().linearity_inputs)
        self.n_inputs.setToolTip("Inputs for the linearity fit (pick & interpolate has its own "
                                 "settings in its tab)")
        top.addWidget(self.n_inputs)
        top.addWidget(QtWidgets.QLabel("layer"))
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setMinimumContentsLength(12)
        self.layer_box.currentTextChanged.connect(self._show_layer)
        top.addWidget(self.layer_box)
        outer.addLayout(top)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.heatmap = HeatmapWidget("viridis")
        self.heatmap.rowClicked.connect(self.inject_electrode)
        self.heatmap.show_empty(EMPTY_MATRIX)
        split.addWidget(self.heatmap)
        right = QtWidgets.QTabWidget()
        self.table = QtWidgets.QTableWidget(0, len(SUMMARY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(SUMMARY_COLUMNS))
        for j, head in enumerate(SUMMARY_COLUMNS):
            if head in SUMMARY_CONCEPTS:
                self.table.horizontalHeaderItem(j).setToolTip(tip(SUMMARY_CONCEPTS[head]))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(lambda r, _c: self.layer_box.setCurrentIndex(r))
        right.addTab(self.table, "layers")
        pick_tab = QtWidgets.QWidget()
        rl = QtWidgets.QVBoxLayout(pick_tab)
        rl.setContentsMargins(2, 2, 2, 2)
        self.pick_options = PickOptionsBar()
        rl.addWidget(self.pick_options)
        self.pick_view = PickResultTable()
        rl.addWidget(self.pick_view)
        self.compare = JobControl(self.session, "Run across E1–E5")
        self.compare.run_clicked.connect(self.run_comparison)
        self.compare.done.connect(self._on_comparison)
        rl.addWidget(self.compare)
        self.compare_table = PickComparisonTable()
        rl.addWidget(self.compare_table, 1)
        right.addTab(pick_tab, "pick && interpolate")
        self.tabs = right
        split.addWidget(right)
        split.setSizes([520, 420])
        outer.addWidget(split, 1)
        self.hint = QtWidgets.QLabel("click a row (electrode) to inject its one-hot signal")
        outer.addWidget(self.hint)
        self._update_compare_button()

    # ---- running -----------------------------------------------------------
    def options(self) -> PropagationOptions:
        """The ``propagation`` recipe options the widgets stand for."""
        return PropagationOptions(linearity_inputs=int(self.n_inputs.value()),
                                  pick=self.current_pick_options())

    def context(self, with_model: bool = True) -> RecipeContext:
        """What the recipes run on: the session's model and its loaded dataset."""
        s = self.session
        return RecipeContext(model=s.model_name if with_model else "",
                             loaded=s.model if with_model else None,
                             data=s.data_name or None, device=s.device,
                             extra={"eegdata": s.data} if s.data is not None else {})

    def run(self) -> Any:
        """Start the ``propagation`` recipe (sweep, linearity, pick & interpolate)."""
        if self.session.model is None:
            self.job.status.setText("load a model first")
            return None
        options, context = self.options(), self.context()
        self.pick_view.clear("pick & interpolate: running…")
        return self.job.start(lambda tok: _with_state(PROPAGATION, options, context, tok),
                              "propagation")

    def current_pick_options(self) -> Any:
        """Pick & interpolate options for the current model, with the inputs
        :func:`resolve_pick` chooses (the across-models table uses the same rule)."""
        options = self.pick_options.options(None)
        loaded = self.session.model
        return options if loaded is None else resolve_pick(loaded, options,
                                                           self.session.data_name or None)

    def run_comparison(self) -> Any:
        """Pick & interpolate of every bundled model (``pick_compare`` recipe)."""
        names = bundled_names()
        if not names:
            self.compare.status.setText("no bundled models")
            return None
        options = PickCompareOptions(models=tuple(names), pick=self.pick_options.options(None))
        context = self.context(with_model=False)
        return self.compare.start(lambda tok: _with_state(PICK_COMPARE, options, context, tok),
                                  "pick_interpolate")

    def cancel(self) -> None:
        self.job.cancel()
        self.compare.cancel()

    def _update_compare_button(self) -> None:
        has = bool(bundled_names())
        self.compare.run_button.setEnabled(has and not self.compare.running)
        self.compare.run_button.setToolTip("" if has else "no bundled models (resources/models)")

    def _on_model_changed(self) -> None:
        self.result = self.summary = self.analysis = None
        self.layer_box.clear()
        self.table.setRowCount(0)
        self.heatmap.show_empty(EMPTY_MATRIX)  # the old model's matrix is not this one's
        self.pick_view.clear()
        self._update_compare_button()

    # ---- showing -------------------------------------------------------------
    def _on_done(self, done: tuple[dict[str, Any], Any]) -> None:
        self.analysis, result = done
        self.result = result
        self.summary = propagation_summary(result)
        prop = result.propagation
        current = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(list(prop.hook_names))
        self.layer_box.blockSignals(False)
        default = current if current in prop.hook_names else (
            "enc.act1" if "enc.act1" in prop.hook_names else prop.hook_names[0])
        self.layer_box.setCurrentText(default)
        self._show_layer(default)
        self._fill_summary()
        if result.pick is None:
            self.pick_view.clear(result.pick_note)
        else:
            self.pick_view.show_result(result.pick)
        self.result_ready.emit()

    def summary_rows(self) -> list[dict[str, Any]]:
        """Per layer: the propagation summary plus the linearity R²."""
        return [] if self.result is None else layer_rows(self.result)

    def _fill_summary(self) -> None:
        rows = self.summary_rows()
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = (r["layer"], r["units"], r["monosemantic"], r["polysemantic"], r["dead"],
                     f"{r['mean_selectivity']:.3f}", _fmt(r["linearity_r2"]))
            for j, v in enumerate(cells):
                self.table.setItem(i, j, QtWidgets.QTableWidgetItem(str(v)))

    def matrix(self, layer: str | None = None) -> np.ndarray | None:
        """The shown ``(n, U)`` electrode x unit response matrix of ``layer``."""
        if self.result is None:
            return None
        prop = self.result.propagation
        name = layer or self.layer_box.currentText()
        return prop.unit_response.get(name)

    def _show_layer(self, name: str) -> None:
        if self.result is None or not name:
            return
        prop = self.result.propagation
        if name not in prop.unit_response:
            return
        m = prop.unit_response[name]
        unit = "channel" if prop.responses[name].ndim >= 5 and prop.unit == "channel" else "unit"
        self.heatmap.set_matrix(m, list(prop.ch_names), x_label=f"{unit} of {name}",
                                title=f"|response| to one-hot electrodes, {name}")

    # ---- linking -----------------------------------------------------------
    def inject_electrode(self, row: int) -> None:
        """Inject electrode ``row`` alone (amplitude 1, on the current baseline): the
        workbench input, so the scalp map and every view show it."""
        montage = self.session.operator.montage
        if not 0 <= row < montage.n_channels:
            return
        self.session.workbench.inject({montage.ch_names[int(row)]: 1.0})
        self.hint.setText(f"input: one-hot {montage.ch_names[row]}")

    # ---- comparison ----------------------------------------------------------
    def _on_comparison(self, done: tuple[dict[str, Any], list[Any]]) -> None:
        self.comparison_analysis, results = done
        self.comparison = list(results)
        self.comparison_summary = compare_summary(self.comparison)
        self.compare_table.show_results(self.comparison)
        self.comparison_ready.emit()

    # ---- export contract -------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        items: dict[str, object] = {}
        if self.result is None:
            return items
        prop = self.result.propagation
        layer = self.layer_box.currentText()
        items["electrodes"] = list(prop.ch_names)
        items["layer"] = layer
        m = self.matrix(layer)
        if m is not None:
            items["matrix"] = np.asarray(m)
        items["layers"] = self.summary_rows()
        for name in prop.hook_names:
            items[f"selectivity/{name}"] = np.asarray(prop.selectivity[name])
            items[f"n_responsive/{name}"] = np.asarray(prop.n_responsive[name])
        if prop.latent_matrix is not None:
            items["latent_matrix"] = np.asarray(prop.latent_matrix)
        if self.result.pick is not None:
            items["pick_interpolate"] = self.result.pick.to_json()
        if self.comparison:
            items["comparison"] = [r.row() for r in self.comparison]
            items["comparison_inputs"] = {r.label: r.inputs for r in self.comparison}
        return items

    def figure_view(self) -> dict[str, Any]:
        """Panel settings that change the figure: the layer of the matrix."""
        return {"layer": self.layer_box.currentText()}

    def figure_data(self) -> dict[str, Any]:
        """The figure's numbers from the run shown
        (:func:`eegmi.figures.panels.propagation.data_from_result`)."""
        if self.result is None:
            raise ConfigError(propagation_figure.NOT_RUN)
        return propagation_figure.data_from_result(self.result, self.figure_view())

    def figure_state(self) -> dict[str, Any]:
        """The figure state: the workbench, the run's recipe state, the layer shown."""
        if self.result is None or self.analysis is None:
            raise ConfigError(propagation_figure.NOT_RUN)
        return figure_state("propagation", self.title, self.session.state(),
                            analysis=self.analysis, view=self.figure_view())

    def state(self) -> dict:
        s = dict(self.session.state())
        s.update({"panel": "propagation", "layer": self.layer_box.currentText(),
                  "n_inputs": int(self.n_inputs.value()),
                  "cli": f"eegmi analyze propagation {self.session.model_name}",
                  "pick_interpolate": self.current_pick_options().to_json(),
                  "pick_cli": f"eegmi analyze pick-interpolate {self.session.model_name} "
                              f"{self.current_pick_options().cli_args()}"})
        if self.analysis is not None:
            s["analysis"] = self.analysis
        if self.comparison_analysis is not None:
            s["comparison_analysis"] = self.comparison_analysis
        return s


def _with_state(recipe: Any, options: Any, context: RecipeContext, cancel: Any) -> Any:
    """Run ``recipe`` (a job) and return ``(its exported state, its result)``: the state
    travels with the result, so a panel never pairs a result with a later run's options."""
    result = yield from recipe.run(options, context, cancel)
    return state_of(recipe, options, context), result


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.3f}" if np.isfinite(f) else "–"
