"""Eigenspectra panel: per-layer PCA spectra with their power-law fit, α against
depth for several models, and random projections of a moving stimulus.

The panel runs the core recipe ``spectra`` (:mod:`eegmi.recipes.spectra`: each
layer's α next to untrained networks of the same architecture and to the input,
effective rank and fit warnings, projections) on the model worker; its boxes start
from :class:`SpectraOptions` (the defaults ``eegmi analyze eigenspectrum`` uses) and
its ``state()["analysis"]`` re-runs headless with ``eegmi rerun``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.jobs import JobHandle
from app.panels.base import Panel
from app.widgets.analysis_job import JobControl
from app.widgets.curves import outside_legend
from eegmi.analysis.powerlaw import SEED_FIT_RANGE
from eegmi.analysis.spectra_options import SpectraOptions
from eegmi.concepts import tip
from eegmi.errors import ConfigError, EegmiError
from eegmi.figures.panel import figure_state
from eegmi.figures.panels import spectra as spectra_figure
from eegmi.figures.style import short_layer
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.spectra import SPECTRA, SpectraRun
from eegmi.training.catalog import bundled_names

#: layers whose projection trajectories are drawn (when the model has them)
TRAJECTORY_LAYERS = ("input", "enc.act1", "enc.act2", "enc.act3", "latent.mu",
                     "dec.act1", "dec.act2", "out")
MODEL_PENS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
              (140, 86, 75))
#: the recipe's defaults (inputs, layers, the seed's 8000-dim cap, seed, null, projections):
#: the boxes start from them, the CLI's arguments default to them
DEFAULTS = SpectraOptions()
FIT_CHOICES = {"10–50 (seed)": SEED_FIT_RANGE, "auto (below effective rank)": "auto"}
ALPHA_AXIS = "α   (λ_k ∝ k^-α; seed 001 plots -α)"


def panel_data(loaded: Any, session_data: str) -> str | None:
    """The dataset of the held-out frames: the embedded set's validation split (None) for
    a model trained on it, else the session's dataset (a card naming a file never
    chooses what is read: the recipe refuses to, and asks for the data explicitly).
    The rule of :func:`eegmi.recipes.propagation.resolve_pick`."""
    from eegmi.analysis.inputs import model_data_source

    return None if model_data_source(loaded) == "synthetic" else (session_data or None)


def _labelled_spin(row: QtWidgets.QHBoxLayout, label: str, bounds: tuple[int, int],
                   value: int, tip: str) -> QtWidgets.QSpinBox:
    """A labelled spin box added to ``row``, starting at the options' default ``value``."""
    row.addWidget(QtWidgets.QLabel(label))
    box = QtWidgets.QSpinBox()
    box.setRange(*bounds)
    box.setValue(value)
    if tip:
        box.setToolTip(tip)
    row.addWidget(box)
    return box


class SpectraPanel(Panel):
    """Log-log spectra with fits, α against depth, projection trajectories and actions."""

    title = "Eigenspectra"
    result_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: SpectraRun | None = None
        #: the recipe state of the run shown (or started last): what ``state()`` exports
        self.analysis: dict[str, Any] | None = None
        self._started: dict[str, Any] | None = None
        self.model_boxes: dict[str, QtWidgets.QCheckBox] = {}
        self._build_ui()
        session.model_changed.connect(self._refresh_models)
        self._refresh_models()

    def _build_ui(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        top = QtWidgets.QHBoxLayout()
        self.job = JobControl(self.session, "Compute spectra")
        self.job.run_clicked.connect(self.run)
        self.job.done.connect(self._on_done)
        top.addWidget(self.job, 1)
        self.n_inputs = _labelled_spin(
            top, "inputs", (2, 10_000_000), DEFAULTS.count,
            "Held-out frames (the model's validation split) whose activations are analysed; "
            "the CLI's --max-inputs")
        self.n_proj = _labelled_spin(top, "projections", (0, 10000), DEFAULTS.projections, "")
        self.max_dim = _labelled_spin(
            top, "max dims", (16, 100000), int(DEFAULTS.max_dim or 0),
            "Keep every s-th dimension of a layer so at most this many remain (seed paper: 8000)")
        top.addWidget(QtWidgets.QLabel("fit"))
        self.fit_box = QtWidgets.QComboBox()
        self.fit_box.addItems(list(FIT_CHOICES))
        self.fit_box.setCurrentIndex(list(FIT_CHOICES.values()).index(DEFAULTS.fit.fit_range))
        self.fit_box.setToolTip("Components of the power-law fit: the seed's 10–50, or the "
                                "seed's window ended below each layer's effective rank")
        top.addWidget(self.fit_box)
        self.null_seeds = _labelled_spin(
            top, "untrained", (0, 20), DEFAULTS.null_seeds,
            "Untrained networks of the same architecture on the same inputs: the null each α "
            "is read against")
        top.addWidget(QtWidgets.QLabel("layer"))
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setMinimumContentsLength(12)
        self.layer_box.currentTextChanged.connect(self._draw_spectrum)
        top.addWidget(self.layer_box)
        outer.addLayout(top)
        self.models_row = QtWidgets.QHBoxLayout()
        self.models_row.addWidget(QtWidgets.QLabel("compare with:"))
        self.no_models = QtWidgets.QLabel("no bundled models")
        self.models_row.addWidget(self.no_models)
        self.models_row.addStretch(1)
        outer.addLayout(self.models_row)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.spec_plot = self.plots.addPlot(row=0, col=0, title="eigenspectrum")
        self.spec_plot.setLogMode(x=True, y=True)
        self.spec_plot.setLabel("bottom", "component")
        self.spec_plot.setLabel("left", "explained variance")
        self.alpha_plot = self.plots.addPlot(row=0, col=1, title="α against depth")
        self.alpha_plot.setLabel("left", ALPHA_AXIS)
        self.alpha_plot.setToolTip(tip("alpha"))
        # the legend sits in its own row under the α plot: inside, it covered points
        self.alpha_legend = outside_legend(self.plots, row=1, col=1)
        self.action_plot = self.plots.addPlot(row=0, col=2, title="average action per layer")
        self.action_plot.setLabel("left", "action")
        self.action_plot.setLogMode(x=False, y=True)  # actions span orders of magnitude
        self.action_plot.setToolTip(tip("action"))
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.plots.setMinimumHeight(170)
        split.addWidget(self.plots)
        self.traj = pg.GraphicsLayoutWidget()
        self.traj.setBackground("w")
        self.traj.setMinimumHeight(110)
        self.traj.setToolTip(tip("action"))  # each plot's title gives its S (the action)
        split.addWidget(self.traj)
        split.setSizes([300, 200])
        outer.addWidget(split, 1)
        self.alpha_label = QtWidgets.QLabel("α: run the analysis")
        self.alpha_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.alpha_label.setToolTip(tip("alpha"))
        self.rank_label = QtWidgets.QLabel("")
        self.rank_label.setToolTip(tip("effective_rank"))
        labels = QtWidgets.QHBoxLayout()
        labels.addWidget(self.alpha_label, 1)
        labels.addWidget(self.rank_label)
        outer.addLayout(labels)
        self.warning_label = QtWidgets.QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35900")
        self.warning_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.warning_label)

    def _refresh_models(self) -> None:
        current = self.session.model_name
        names = [n for n in bundled_names() if n != current]
        for box in self.model_boxes.values():
            self.models_row.removeWidget(box)
            box.deleteLater()
        self.model_boxes = {}
        for name in names:
            box = QtWidgets.QCheckBox(name)
            self.model_boxes[name] = box
            self.models_row.insertWidget(self.models_row.count() - 1, box)
        self.no_models.setVisible(not names)

    def checked_models(self) -> list[str]:
        return [n for n, b in self.model_boxes.items() if b.isChecked()]

    # ---- running -----------------------------------------------------------
    def run(self) -> JobHandle | None:
        """Start the recipe with the boxes' options (progress and Cancel in the strip)."""
        s = self.session
        if s.model is None:
            self.job.status.setText("load a model first")
            return None
        try:
            opts = self.options()
        except EegmiError as exc:
            self.job.status.setText(exc.line())
            return None
        context = RecipeContext(model=str(s.model_name), loaded=s.model,
                                data=str(s.data_name) if s.data_name else None, device=s.device)
        self._started = state_of(SPECTRA, opts, context)
        return self.job.start(lambda tok: SPECTRA.run(opts, context, tok), "eigenspectra")

    def options(self) -> SpectraOptions:
        """The recipe's options the boxes say (its defaults otherwise)."""
        fit = FIT_CHOICES[self.fit_box.currentText()]
        return replace(DEFAULTS, count=int(self.n_inputs.value()),
                       max_dim=int(self.max_dim.value()),
                       data=panel_data(self.session.model, self.session.data_name),
                       fit=replace(DEFAULTS.fit, fit_range=fit),
                       null_seeds=int(self.null_seeds.value()),
                       projections=int(self.n_proj.value()),
                       compare=tuple(self.checked_models()))

    def cancel(self) -> None:
        self.job.cancel()

    # ---- showing -----------------------------------------------------------
    def _on_done(self, result: SpectraRun) -> None:
        self.result = result
        self.analysis = self._started
        layers = list(result.report.spectra)
        keep = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(layers)
        self.layer_box.blockSignals(False)
        self.layer_box.setCurrentText(keep if keep in layers else (
            "enc.act1" if "enc.act1" in layers else layers[0]))
        self._draw_spectrum(self.layer_box.currentText())
        self._draw_alphas()
        self._draw_projections()
        self.result_ready.emit()

    def alphas(self, label: str | None = None) -> dict[str, float | None]:
        """α per layer of model ``label`` (default the current model), as fitted by the analysis."""
        if self.result is None:
            return {}
        return self.result.reports[label or self.result.current].alphas()

    def report(self, label: str | None = None) -> Any:
        """The :class:`~eegmi.analysis.spectra.SpectraReport` of model ``label`` (default current)."""
        if self.result is None:
            return None
        return self.result.reports[label or self.result.current]

    def _draw_spectrum(self, layer: str) -> None:
        if self.result is None or not layer:
            return
        rep = self.report()
        es = rep.spectra.get(layer)
        if es is None:
            return
        self.spec_plot.clear()
        ev = np.asarray(es.explained_variance, dtype=np.float64)
        k = np.arange(1, ev.size + 1)
        # beyond the data's rank the eigenvalues are rounding noise (the fit drops them too)
        pos = ev > max(float(ev.max(initial=0.0)), 0.0) * 1e-12
        self.spec_plot.plot(k[pos], ev[pos], pen=pg.mkPen(MODEL_PENS[0], width=2), name=layer)
        self.spec_plot.setTitle(f"eigenspectrum of {layer}", size="9pt")
        rank = f"{es.effective_rank}{'+' if es.rank_lower_bound else ''}"
        self.rank_label.setText(f"effective rank: {rank}")
        self.warning_label.setText("\n".join(f"⚠ {layer}: {w}" for w in es.warnings))
        self.warning_label.setToolTip(self.warning_label.text())
        if es.fit is None:
            self.alpha_label.setText(f"{layer}: no power-law fit ({es.fit_error}); "
                                     f"effective rank {rank}")
            self.spec_plot.setTitle(f"eigenspectrum of {layer} (no fit)", size="9pt")
            return
        lo, hi = es.fit.fit_range
        kk = np.arange(lo, min(hi, ev.size) + 1, dtype=np.float64)
        self.spec_plot.plot(kk, es.fit.predict(kk), pen=pg.mkPen((214, 39, 40), width=2,
                                                                 style=QtCore.Qt.PenStyle.DashLine),
                            name=f"fit {lo}–{hi}: α = {es.fit.alpha:.3f}")
        self.spec_plot.setTitle(f"{layer}: α = {es.fit.alpha:.3f} (dashed: fit over {lo}–{hi})"
                                + ("  ⚠" if es.warnings else ""), size="9pt")
        null = rep.null.get(layer)
        null_txt = "" if null is None or null.mean is None else (
            f", untrained {null.mean:.3f}" + ("" if null.sd is None else f" ± {null.sd:.3f}"))
        inp = "" if rep.input.alpha is None else f", input {rep.input.alpha:.3f}"
        self.alpha_label.setText(
            f"{layer}: α = {es.fit.alpha:.4f}{null_txt}{inp}  (λ_k ∝ k^-α; R² {es.fit.r2:.3f}, "
            f"{es.fit.n_used} components {lo}–{hi}, effective rank {rank}; "
            f"{self.result.inputs})")

    def _draw_alphas(self) -> None:
        assert self.result is not None
        self.alpha_plot.clear()
        self.alpha_legend.clear()
        current = self.result.current
        depth = list(self.report().spectra)
        xs = np.arange(1, len(depth) + 1, dtype=float)
        for i, (lab, rep) in enumerate(self.result.reports.items()):
            colour = MODEL_PENS[i % len(MODEL_PENS)]
            al = rep.alphas()
            # layers without a fit (too few components) leave a gap instead of a bridge
            ys = np.array([np.nan if al.get(n) is None else al[n] for n in depth], dtype=float)
            pen = pg.mkPen(colour, width=2 if lab == current else 1)
            self.alpha_plot.plot(xs, ys, pen=pen, symbol="o", symbolSize=5, symbolBrush=colour,
                                 name=f"{lab} trained", connect="finite")
            warned = [j for j, n in enumerate(depth)
                      if n in rep.spectra and rep.spectra[n].warnings and np.isfinite(ys[j])]
            if warned:
                self.alpha_plot.plot(xs[warned], ys[warned], pen=None, symbol="o", symbolSize=13,
                                     symbolPen=pg.mkPen((230, 120, 0), width=2), symbolBrush=None,
                                     name="fit warning" if lab == current else None)
            if rep.null:
                mean = np.array([np.nan if (v := rep.null.get(n)) is None or v.mean is None
                                 else v.mean for n in depth], dtype=float)
                sd = np.array([0.0 if (v := rep.null.get(n)) is None or v.sd is None else v.sd
                               for n in depth], dtype=float)
                self.alpha_plot.plot(xs + 0.1, mean, pen=pg.mkPen(colour, width=1,
                                                                  style=QtCore.Qt.PenStyle.DashLine),
                                     symbol="s", symbolSize=5, symbolBrush=(255, 255, 255),
                                     symbolPen=pg.mkPen(colour),
                                     name=f"untrained ({len(rep.null_spectra)} seeds, mean ± sd)",
                                     connect="finite")
                ok = np.isfinite(mean)
                self.alpha_plot.addItem(pg.ErrorBarItem(x=xs[ok] + 0.1, y=mean[ok],
                                                        height=2 * sd[ok], beam=0.15,
                                                        pen=pg.mkPen(colour)))
            if rep.input.alpha is not None and lab == current:
                self.alpha_plot.plot([0.0], [rep.input.alpha], pen=None, symbol="d",
                                     symbolSize=10, symbolBrush=(60, 60, 60), name="input")
        line = pg.InfiniteLine(pos=1.0, angle=0, pen=pg.mkPen((150, 150, 150),
                                                              style=QtCore.Qt.PenStyle.DotLine))
        self.alpha_plot.addItem(line)
        self.alpha_plot.getAxis("bottom").setTicks(
            [[(0, "in")] + [(j + 1, short_layer(n)) for j, n in enumerate(depth)]])
        self.alpha_plot.setXRange(-0.5, len(depth) + 0.5, padding=0.0)
        for item in self.alpha_plot.listDataItems():
            if item.name():
                self.alpha_legend.addItem(item, item.name())

    def _draw_projections(self) -> None:
        assert self.result is not None
        proj = self.result.projections
        self.action_plot.clear()
        self.traj.clear()
        if proj is None:  # 0 projections asked for
            return
        names = list(proj.layers)
        actions = [proj.layers[n].action_mean for n in names]
        acts = np.asarray(actions, dtype=float)
        acts = np.where(acts > 0, acts, np.nan)  # a dead layer has no place on a log axis
        self.action_plot.plot(np.arange(len(names)), acts, pen=pg.mkPen((31, 119, 180), width=2),
                              symbol="o", symbolSize=6, symbolBrush=(31, 119, 180), connect="finite")
        self.action_plot.getAxis("bottom").setTicks([[(j, short_layer(n)) for j, n in enumerate(names)]])
        self.action_plot.setXRange(-0.5, len(names) - 0.5, padding=0.0)
        shown = [n for n in TRAJECTORY_LAYERS if n in proj.layers]
        cmap = pg.colormap.get("viridis")
        for col, name in enumerate(shown):
            res = proj.layers[name]
            z = np.asarray(res.examples[0], dtype=np.float64)  # (T, 3)
            plot = self.traj.addPlot(row=0, col=col)
            plot.setTitle(f"{name}<br>S = {res.action_mean:.3g}", size="8pt")
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setMenuEnabled(False)
            plot.plot(z[:, 0], z[:, 1], pen=pg.mkPen((170, 170, 170), width=1))
            t = np.linspace(0.0, 1.0, z.shape[0])
            brushes = [pg.mkBrush(c) for c in cmap.map(t, mode="qcolor")]
            plot.addItem(pg.ScatterPlotItem(z[:, 0], z[:, 1], size=5, pen=None, brush=brushes))

    # ---- export contract ---------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        items: dict[str, object] = {}
        if self.result is None:
            return items
        for lab, rep in self.result.reports.items():
            items[f"alpha/{lab}"] = {n: a for n, a in rep.alphas().items()}
            items[f"eigenspectrum/{lab}"] = rep.to_json()
            for n, es in rep.spectra.items():
                items[f"spectrum/{lab}/{n}"] = np.asarray(es.explained_variance)
            items[f"spectrum/{lab}/input"] = np.asarray(rep.input.explained_variance)
        proj = self.result.projections
        if proj is not None:
            items["projections"] = proj.to_json()
            for n, res in proj.layers.items():
                items[f"trajectory/{n}"] = np.asarray(res.examples)
        items["n_inputs"] = self.result.n_inputs
        return items

    def figure_view(self) -> dict[str, Any]:
        """The panel settings that change the figure: the layer whose spectrum is drawn."""
        return {"layer": self.layer_box.currentText()}

    def figure_data(self) -> dict[str, Any]:
        """The figure's numbers from the result shown (:mod:`eegmi.figures.panels.spectra`)."""
        if self.result is None:
            raise ConfigError(spectra_figure.NOT_RUN)
        return spectra_figure.data_from_result(self.result, self.figure_view())

    def figure_state(self) -> dict[str, Any]:
        """The figure state: the workbench, the recipe state of the run shown, the layer."""
        if self.result is None or self.analysis is None:
            raise ConfigError(spectra_figure.NOT_RUN)
        return figure_state("spectra", self.title, self.session.state(), analysis=self.analysis,
                            view=self.figure_view())

    def state(self) -> dict:
        s = dict(self.session.state())
        s.update({"panel": "spectra", "layer": self.layer_box.currentText(),
                  "n_inputs": int(self.n_inputs.value()), "n_projections": int(self.n_proj.value()),
                  "max_dim": int(self.max_dim.value()),
                  "compare": self.checked_models(), "stimulus": "dipole",
                  "fit_range": FIT_CHOICES[self.fit_box.currentText()],
                  "null_seeds": int(self.null_seeds.value()), "seed": DEFAULTS.seed})
        if self.analysis is not None:
            s["analysis"] = self.analysis
        return s
