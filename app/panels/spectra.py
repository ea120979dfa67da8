"""Eigenspectra panel: per-layer PCA spectra with their power-law fit, α against
depth for several models, and random projections of a moving stimulus.

The numbers come from :func:`eegmi.analysis.activations.layer_spectra` (streamed
covariance, Huber fit over components 10–50) and
:func:`eegmi.analysis.projections.projection_analysis`, run as one job on the
model worker over frames of the session's dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.panels.base import Panel
from app.panels.propagation import bundled_names
from app.widgets.analysis_job import JobControl

#: layers whose projection trajectories are drawn (when the model has them)
TRAJECTORY_LAYERS = ("input", "enc.act1", "enc.act2", "enc.act3", "latent.mu",
                     "dec.act1", "dec.act2", "out")
#: kept dimensions per layer by default: the seed's 8000 means a 6400x6400 eigendecomposition
#: for the first conv layer, minutes on a laptop CPU; the box lets the user go up to it
DEFAULT_MAX_DIM = 2000
MODEL_PENS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
              (140, 86, 75))


def frame_indices(n_frames: int, n_inputs: int, seed: int = 0) -> np.ndarray:
    """The dataset frames analysed: ``min(n_frames, n_inputs)`` random ones, ascending.

    Same draw as ``eegmi analyze eigenspectrum --max-inputs N --seed S``.
    """
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_frames, size=min(n_frames, n_inputs), replace=False))


def short_name(layer: str) -> str:
    """Compact axis label: ``enc.act1`` -> ``enc1``, ``latent.mu`` -> ``μ``, ``input`` -> ``in``."""
    special = {"latent.mu": "μ", "latent.z": "z", "input": "in", "out": "out"}
    if layer in special:
        return special[layer]
    head, _, tail = layer.partition(".")
    digits = "".join(ch for ch in tail if ch.isdigit())
    return f"{head}{digits}" if digits else layer


class _ModelInputs:
    """Re-iterable view of ``TopomapBatches`` giving what the model takes (images or values)."""

    def __init__(self, batches: Any, field: str) -> None:
        self.batches, self.field = batches, field

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        return (getattr(b, self.field) for b in self.batches)


def depth_layers(hook_names: list[str], kind: str = "vae") -> list[str]:
    """The layers along the depth axis: activations, the latent mean (or the decoder's
    input vector) and the output; pre-activation conv outputs would only repeat them."""
    latent = "latent.z" if kind == "decoder" else "latent.mu"
    keep = [n for n in hook_names if ".act" in n or n in (latent, "out")]
    return keep or list(hook_names)


def model_batches(loaded: Any, data: Any, indices: np.ndarray, scaler: Any,
                  batch_size: int = 256) -> _ModelInputs:
    """Model inputs of dataset frames ``indices`` for one loaded model (worker thread)."""
    from eegmi.analysis.propagation import pipeline_for
    from eegmi.data.dataset import TopomapBatches
    from eegmi.devices import model_device

    pipe = pipeline_for(loaded)
    batches = TopomapBatches(data.values, indices, loaded.operator,
                             loaded.scaler if loaded.scaler is not None else scaler,
                             pipe.injection, batch_size=batch_size,
                             device=str(model_device(loaded.model)))
    return _ModelInputs(batches, "values" if loaded.config.kind == "decoder" else "images")


def _scaled(job: Any, lo: float, hi: float, label: str) -> Any:
    """Re-emit a job's progress mapped into ``[lo, hi]`` of the whole run; return its result."""
    from eegmi.jobs import Progress

    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        frac = p.fraction or 0.0
        yield Progress(lo + (hi - lo) * frac, 1.0, f"{label}: {p.message}")


def spectra_job(current: tuple[str, Any], others: list[str], data: Any, scaler: Any,
                n_inputs: int, n_projections: int, device: str, cancel: Any, seed: int = 0,
                max_dim: int = DEFAULT_MAX_DIM) -> Any:
    """Spectra of the current model (+ other bundled ones) and projections of the current one.

    Returns (as the job's result)
    -----------------------------
    dict: ``spectra`` label -> LayerSpectra, ``projections`` ProjectionAnalysis of the
    current model, ``current`` its label, ``n_inputs`` frames used.
    """
    from eegmi.analysis.activations import layer_spectra
    from eegmi.analysis.projections import projection_analysis
    from eegmi.analysis.propagation import pipeline_for
    from eegmi.analysis.stimuli import make_stimulus
    from eegmi.errors import DataError
    from eegmi.training.checkpoint import load_checkpoint

    if data is None:
        raise DataError("no dataset loaded: the spectra need input frames")
    idx = frame_indices(data.n_frames, n_inputs, seed)
    if idx.size < 2:
        raise DataError("the spectra need at least 2 frames")
    label, loaded = current
    steps = len(others) + 2
    spectra: dict[str, Any] = {}
    models = [(label, loaded)] + [(name, None) for name in others]
    for i, (lab, ld) in enumerate(models):
        if ld is None:
            ld = load_checkpoint(lab, device=device)
        names = depth_layers(list(ld.model.hook_names()), ld.config.kind)
        job = layer_spectra(ld.model, model_batches(ld, data, idx, scaler), names, max_dim=max_dim,
                            label=lab, cancel=cancel)
        spectra[lab] = yield from _scaled(job, i / steps, (i + 1) / steps, lab)
    stim = make_stimulus("dipole", loaded.operator, n_frames=100)
    pipe = pipeline_for(loaded)
    if loaded.config.kind == "decoder":
        inputs = stim.values
    else:
        inputs = stim.images if pipe.injection is None else np.asarray(
            pipe.injection.apply_np(stim.images), dtype=np.float32)
    names = depth_layers(list(loaded.model.hook_names()), loaded.config.kind)
    proj = yield from _scaled(projection_analysis(loaded.model, inputs, names, n_projections=n_projections,
                                                  seed=seed, stimulus="dipole", cancel=cancel),
                              (steps - 1) / steps, 1.0, "projections")
    return {"spectra": spectra, "projections": proj, "current": label, "n_inputs": int(idx.size)}


class SpectraPanel(Panel):
    """Log-log spectra with fits, α against depth, projection trajectories and actions."""

    title = "Eigenspectra"
    result_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.result: dict[str, Any] | None = None
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
        top.addWidget(QtWidgets.QLabel("inputs"))
        self.n_inputs = QtWidgets.QSpinBox()
        self.n_inputs.setRange(2, 10_000_000)
        self.n_inputs.setValue(4000)
        self.n_inputs.setToolTip("Dataset frames whose activations are analysed")
        top.addWidget(self.n_inputs)
        top.addWidget(QtWidgets.QLabel("projections"))
        self.n_proj = QtWidgets.QSpinBox()
        self.n_proj.setRange(1, 10000)
        self.n_proj.setValue(200)
        top.addWidget(self.n_proj)
        top.addWidget(QtWidgets.QLabel("max dims"))
        self.max_dim = QtWidgets.QSpinBox()
        self.max_dim.setRange(16, 100000)
        self.max_dim.setValue(DEFAULT_MAX_DIM)
        self.max_dim.setToolTip("Keep every s-th dimension of a layer so at most this many remain "
                                "(seed paper: 8000, slow for the first conv layers)")
        top.addWidget(self.max_dim)
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
        self.alpha_plot.setLabel("left", "α")
        self.alpha_plot.addLegend(offset=(-5, -5))
        self.action_plot = self.plots.addPlot(row=0, col=2, title="average action per layer")
        self.action_plot.setLabel("left", "action")
        self.action_plot.setLogMode(x=False, y=True)  # actions span orders of magnitude
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.plots.setMinimumHeight(170)
        split.addWidget(self.plots)
        self.traj = pg.GraphicsLayoutWidget()
        self.traj.setBackground("w")
        self.traj.setMinimumHeight(110)
        split.addWidget(self.traj)
        split.setSizes([300, 200])
        outer.addWidget(split, 1)
        self.alpha_label = QtWidgets.QLabel("α: run the analysis")
        self.alpha_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.alpha_label)

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
    def run(self) -> int | None:
        """Start the spectra + projections job."""
        s = self.session
        if s.model is None:
            self.job.status.setText("load a model first")
            return None
        if s.data is None:
            self.job.status.setText("load a dataset first")
            return None
        current = (Path(s.model_name).name or "current", s.model)
        others, data, scaler = self.checked_models(), s.data, s.scaler
        n, n_proj, device = int(self.n_inputs.value()), int(self.n_proj.value()), s.device
        max_dim = int(self.max_dim.value())
        return self.job.start(
            lambda tok: spectra_job(current, others, data, scaler, n, n_proj, device, tok,
                                    max_dim=max_dim),
            "eigenspectra")

    def cancel(self) -> None:
        self.job.cancel()

    # ---- showing -----------------------------------------------------------
    def _on_done(self, result: dict[str, Any]) -> None:
        self.result = result
        layers = list(result["spectra"][result["current"]].spectra)
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
        return self.result["spectra"][label or self.result["current"]].alphas()

    def _draw_spectrum(self, layer: str) -> None:
        if self.result is None or not layer:
            return
        es = self.result["spectra"][self.result["current"]].spectra.get(layer)
        if es is None:
            return
        self.spec_plot.clear()
        ev = np.asarray(es.explained_variance, dtype=np.float64)
        k = np.arange(1, ev.size + 1)
        # beyond the data's rank the eigenvalues are rounding noise (the fit drops them too)
        pos = ev > max(float(ev.max(initial=0.0)), 0.0) * 1e-12
        self.spec_plot.plot(k[pos], ev[pos], pen=pg.mkPen(MODEL_PENS[0], width=2), name=layer)
        self.spec_plot.setTitle(f"eigenspectrum of {layer}", size="9pt")
        if es.fit is None:
            self.alpha_label.setText(f"{layer}: no power-law fit ({es.fit_error})")
            self.spec_plot.setTitle(f"eigenspectrum of {layer} (no fit)", size="9pt")
            return
        lo, hi = es.fit.fit_range
        kk = np.arange(lo, min(hi, ev.size) + 1, dtype=np.float64)
        self.spec_plot.plot(kk, es.fit.predict(kk), pen=pg.mkPen((214, 39, 40), width=2,
                                                                 style=QtCore.Qt.PenStyle.DashLine),
                            name=f"fit {lo}–{hi}: α = {es.fit.alpha:.3f}")
        self.spec_plot.setTitle(f"{layer}: α = {es.fit.alpha:.3f} (dashed: fit over {lo}–{hi})",
                                size="9pt")
        self.alpha_label.setText(f"{layer}: α = {es.fit.alpha:.4f}  (R² {es.fit.r2:.3f}, "
                                 f"{es.fit.n_used} components, {es.n_samples} inputs)")

    def _draw_alphas(self) -> None:
        assert self.result is not None
        self.alpha_plot.clear()
        current = self.result["current"]
        depth = list(self.result["spectra"][current].spectra)
        for i, (lab, ls) in enumerate(self.result["spectra"].items()):
            al = ls.alphas()
            # layers without a fit (too few components) leave a gap instead of a bridge
            ys = np.array([np.nan if al.get(n) is None else al[n] for n in depth], dtype=float)
            pen = pg.mkPen(MODEL_PENS[i % len(MODEL_PENS)], width=2 if lab == current else 1)
            self.alpha_plot.plot(np.arange(len(depth)), ys, pen=pen, symbol="o", symbolSize=5,
                                 symbolBrush=MODEL_PENS[i % len(MODEL_PENS)], name=lab,
                                 connect="finite")
        self.alpha_plot.getAxis("bottom").setTicks([[(j, short_name(n)) for j, n in enumerate(depth)]])
        self.alpha_plot.setXRange(-0.5, len(depth) - 0.5, padding=0.0)

    def _draw_projections(self) -> None:
        assert self.result is not None
        proj = self.result["projections"]
        names = list(proj.layers)
        actions = [proj.layers[n].action_mean for n in names]
        self.action_plot.clear()
        acts = np.asarray(actions, dtype=float)
        acts = np.where(acts > 0, acts, np.nan)  # a dead layer has no place on a log axis
        self.action_plot.plot(np.arange(len(names)), acts, pen=pg.mkPen((31, 119, 180), width=2),
                              symbol="o", symbolSize=6, symbolBrush=(31, 119, 180), connect="finite")
        self.action_plot.getAxis("bottom").setTicks([[(j, short_name(n)) for j, n in enumerate(names)]])
        self.action_plot.setXRange(-0.5, len(names) - 0.5, padding=0.0)
        self.traj.clear()
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
        for lab, ls in self.result["spectra"].items():
            items[f"alpha/{lab}"] = {n: a for n, a in ls.alphas().items()}
            for n, es in ls.spectra.items():
                items[f"spectrum/{lab}/{n}"] = np.asarray(es.explained_variance)
        proj = self.result["projections"]
        items["projections"] = proj.to_json()
        for n, res in proj.layers.items():
            items[f"trajectory/{n}"] = np.asarray(res.examples)
        items["n_inputs"] = self.result["n_inputs"]
        return items

    def state(self) -> dict:
        s = dict(self.session.state())
        s.update({"panel": "spectra", "layer": self.layer_box.currentText(),
                  "n_inputs": int(self.n_inputs.value()), "n_projections": int(self.n_proj.value()),
                  "max_dim": int(self.max_dim.value()),
                  "compare": self.checked_models(), "fit_range": [10, 50], "stimulus": "dipole",
                  "seed": 0})
        return s
