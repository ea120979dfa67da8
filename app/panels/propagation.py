"""Propagation panel: electrode x unit response matrices, selectivity, linearity, pick & interpolate.

Everything numeric comes from :mod:`eegmi.analysis.propagation`,
:mod:`eegmi.analysis.linearity` and :mod:`eegmi.analysis.pick_interpolate`, run
as one job on the model worker.  Clicking a row (an electrode) of the matrix
makes that electrode's one-hot the session input, so the scalp map and every
activation grid show how the signal travels.

The pick & interpolate test runs with :class:`PickInterpolateOptions` (held-out
frames by default), the same for the single model, the across-models table and
``eegmi analyze pick-interpolate``; its views live in :mod:`app.widgets.pick_view`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.panels.base import Panel
from app.widgets.analysis_job import JobControl
from app.widgets.heatmap import HeatmapWidget
from app.widgets.pick_view import PickComparisonTable, PickOptionsBar, PickResultTable
from eegmi.training.catalog import bundled_names

SUMMARY_COLUMNS = ("layer", "units", "mono", "poly", "dead", "selectivity", "linearity R²")


def _scaled_frames(data: Any, scaler: Any, count: int, seed: int = 0) -> np.ndarray | None:
    """Up to ``count`` scaled dataset frames ``(m, n)`` (random, sorted for memmap reads)."""
    if data is None or scaler is None or data.n_frames == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(data.n_frames, size=min(count, data.n_frames), replace=False))
    raw = np.asarray(data.values[idx], dtype=np.float32)
    return np.asarray(scaler.transform(raw), dtype=np.float32)


def propagation_job(loaded: Any, data: Any, scaler: Any, n_inputs: int, pick_options: Any,
                    cancel: Any) -> Any:
    """Propagation sweep, linearity and pick & interpolate of one model (a job generator).

    Returns (as the job's result)
    -----------------------------
    dict with ``propagation`` (PropagationResult), ``linearity`` (LinearityResult),
    ``pick`` (PickInterpolateResult or None when the model has no latent/out hooks).
    """
    from eegmi.analysis.linearity import linearity
    from eegmi.analysis.pick_interpolate import pick_interpolate
    from eegmi.analysis.propagation import pipeline_for, propagation

    pipe = pipeline_for(loaded)
    model = loaded.model
    prop = yield from propagation(model, pipe, (1.0,), cancel=cancel)
    frames = _scaled_frames(data, scaler, n_inputs)
    n = pipe.n_electrodes
    # linearity needs 2(n+1) inputs; small recordings fall back to random mixes
    lin_frames = frames if frames is not None and frames.shape[0] >= max(n_inputs, 2 * (n + 1)) else None
    lin = yield from linearity(model, pipe, frames=lin_frames, n_inputs=n_inputs, cancel=cancel)
    hooks = set(model.hook_names())
    pick = None
    if "out" in hooks and ({"latent.mu", "latent.z"} & hooks):
        pick = yield from pick_interpolate(loaded, pick_options, latent_matrix=prop.latent_matrix,
                                           cancel=cancel)
    return {"propagation": prop, "linearity": lin, "pick": pick}


def compare_bundled_job(names: list[str], device: str, options: Any, cancel: Any) -> Any:
    """Pick & interpolate across bundled models (E1..E5), same options for all."""
    from eegmi.analysis.pick_interpolate import compare_models
    from eegmi.training.checkpoint import load_checkpoint

    models = []
    for name in names:
        if cancel is not None:
            cancel.raise_if_cancelled()
        models.append((name, load_checkpoint(name, device=device)))
    results = yield from compare_models(models, options, cancel=cancel)
    return results


class PropagationPanel(Panel):
    """Electrode x unit matrix per layer, per-layer summary and pick & interpolate score."""

    title = "Propagation"
    result_ready = QtCore.Signal()
    comparison_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: dict[str, Any] | None = None
        self.comparison: list[Any] = []
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
        self.n_inputs.setValue(256)
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
        split.addWidget(self.heatmap)
        right = QtWidgets.QTabWidget()
        self.table = QtWidgets.QTableWidget(0, len(SUMMARY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(SUMMARY_COLUMNS))
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
    def run(self) -> int | None:
        """Start the propagation + linearity + pick & interpolate job for the current model."""
        loaded = self.session.model
        if loaded is None:
            self.job.status.setText("load a model first")
            return None
        data, scaler, n = self.session.data, self.session.scaler, int(self.n_inputs.value())
        options = self.current_pick_options()
        self.pick_view.clear("pick & interpolate: running…")
        return self.job.start(lambda tok: propagation_job(loaded, data, scaler, n, options, tok),
                              "propagation")

    def current_pick_options(self) -> Any:
        """Pick & interpolate options for the current model: held-out frames come from the
        embedded set when the model was trained on it; otherwise from the loaded dataset
        (a card naming a file never chooses what is read: the user's loaded data does, and
        when it is the card's file, its validation split is used)."""
        from eegmi.analysis.inputs import model_data_source

        loaded = self.session.model
        own = model_data_source(loaded) if loaded is not None else None
        data = None if own == "synthetic" else (self.session.data_name or None)
        return self.pick_options.options(data)

    def run_comparison(self) -> int | None:
        """Pick & interpolate of every bundled model, each on its own held-out frames."""
        names = bundled_names()
        if not names:
            self.compare.status.setText("no bundled models")
            return None
        device, options = self.session.device, self.pick_options.options(None)
        return self.compare.start(lambda tok: compare_bundled_job(names, device, options, tok),
                                  "pick_interpolate")

    def cancel(self) -> None:
        self.job.cancel()
        self.compare.cancel()

    def _update_compare_button(self) -> None:
        has = bool(bundled_names())
        self.compare.run_button.setEnabled(has and not self.compare.running)
        self.compare.run_button.setToolTip("" if has else "no bundled models (resources/models)")

    def _on_model_changed(self) -> None:
        self.result = None
        self.layer_box.clear()
        self.table.setRowCount(0)
        self.pick_view.clear()
        self._update_compare_button()

    # ---- showing -------------------------------------------------------------
    def _on_done(self, result: dict[str, Any]) -> None:
        self.result = result
        prop = result["propagation"]
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
        pick = result.get("pick")
        if pick is None:
            self.pick_view.clear("pick & interpolate: model has no latent/out hook points")
        else:
            self.pick_view.show_result(pick)
        self.result_ready.emit()

    def summary_rows(self) -> list[dict[str, Any]]:
        """Per layer: the propagation summary plus the linearity R²."""
        if self.result is None:
            return []
        lin = self.result["linearity"]
        rows = self.result["propagation"].layer_summary()
        for r in rows:
            r["linearity_r2"] = lin.r2.get(r["layer"])
        return rows

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
        prop = self.result["propagation"]
        name = layer or self.layer_box.currentText()
        return prop.unit_response.get(name)

    def _show_layer(self, name: str) -> None:
        if self.result is None or not name:
            return
        prop = self.result["propagation"]
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
    def _on_comparison(self, results: list[Any]) -> None:
        self.comparison = list(results)
        self.compare_table.show_results(self.comparison)
        self.comparison_ready.emit()

    # ---- export contract -------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        items: dict[str, object] = {}
        if self.result is None:
            return items
        prop = self.result["propagation"]
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
        pick = self.result.get("pick")
        if pick is not None:
            items["pick_interpolate"] = pick.to_json()
        if self.comparison:
            items["comparison"] = [r.row() for r in self.comparison]
            items["comparison_inputs"] = {r.label: r.inputs for r in self.comparison}
        return items

    def state(self) -> dict:
        s = dict(self.session.state())
        s.update({"panel": "propagation", "layer": self.layer_box.currentText(),
                  "n_inputs": int(self.n_inputs.value()), "amplitudes": [1.0],
                  "threshold": 0.5, "unit": "channel",
                  "cli": f"eegmi analyze propagation {self.session.model_name}",
                  "pick_interpolate": self.current_pick_options().to_json(),
                  "pick_cli": f"eegmi analyze pick-interpolate {self.session.model_name} "
                              f"{self.current_pick_options().cli_args()}"})
        return s


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.3f}" if np.isfinite(f) else "–"
