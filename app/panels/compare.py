"""Compare panel: the current model (A) beside a pinned one (B) on the same input.

Model › Pin model for comparison loads B (:meth:`app.session.Session.pin_model`);
from then on every input change runs both models in one worker call and the
session delivers an :class:`eegmi.analysis.compare.ForwardComparison`
(``compare_ready``). The panel shows the model input, both reconstructions and
their difference A − B (diverging colours, symmetric range), the matched layers
(:func:`eegmi.analysis.compare.match_layers`, rule stated on screen), both
latents, and on demand the eigenspectrum analysis of both models on the same
inputs (:func:`eegmi.analysis.compare_spectra.compare_spectra`, a job with
progress and Cancel). It never calls a model itself.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.jobs import JobHandle
from app.panels.base import Panel
from app.widgets.analysis_job import JobControl
from app.widgets.compare_views import AlphaCompareView, LatentCompareView, LayerCompareView
from app.widgets.image_view import TopoImagePlot, make_layout
from app.widgets.scalp_map import head_geometry
from eegmi.analysis.compare import COMPARE_SPECTRA

if TYPE_CHECKING:  # the job's module imports torch: the GUI thread never does
    from eegmi.analysis.compare_spectra import SpectraComparison

EMPTY = "Pin a second model to compare (Model › Pin model for comparison…)"
NO_MODEL = "Load a model first: the pinned model is compared with the current one"
RECON_LEVELS = (0.0, 1.0)


def _metric(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.4f}"


class ComparePanel(Panel):
    """Model input | A's reconstruction | B's | A − B, then layers, latents and α."""

    title = "Compare models"
    result_ready = QtCore.Signal()

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.comparison: Any = None
        self.spectra: SpectraComparison | None = None
        #: (A name, B name) of the spectra shown, and of the run started last
        self._spectra_models: tuple[str, str] | None = None
        self._started: tuple[str, str] | None = None
        #: the dock is covered by another tab: comparisons wait in ``_pending`` until
        #: it is raised (or its numbers are read), so a click pays for no hidden drawing
        self._covered = False
        self._pending: Any = None
        self._build_ui()
        session.compare_ready.connect(self.show_comparison)
        session.pinned_changed.connect(self._on_models)
        session.model_changed.connect(self._on_models)
        self._on_models()

    # ---- construction ---------------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self.status = QtWidgets.QLabel(EMPTY)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("font-weight: bold")
        outer.addWidget(self.status)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        top = QtWidgets.QWidget()
        top_lay = QtWidgets.QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        self.view = make_layout()
        self.view.setMinimumHeight(160)
        # the four images need no more: the rest of the height goes to the layer views
        self.view.setMaximumHeight(250)
        self.input_plot = TopoImagePlot(self.view, "Model input", col=0, colorbar=False)
        self.recon_a = TopoImagePlot(self.view, "A", col=1, colorbar=False)
        self.recon_b = TopoImagePlot(self.view, "B", col=2)
        self.diff_plot = TopoImagePlot(self.view, "A − B", col=4, levels=(-0.5, 0.5),
                                       cmap="CET-D1")
        for plot in (self.input_plot, self.recon_a, self.recon_b, self.diff_plot):
            plot.plot.setTitle(plot.plot.titleLabel.text, size="9pt")
        top_lay.addWidget(self.view, 1)
        self.metrics = QtWidgets.QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        top_lay.addWidget(self.metrics)
        split.addWidget(top)
        self.tabs = QtWidgets.QTabWidget()
        self.layers = LayerCompareView()
        self.latents = LatentCompareView()
        spectra = QtWidgets.QWidget()
        sp_lay = QtWidgets.QVBoxLayout(spectra)
        sp_lay.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.job = JobControl(self.session, "Compare eigenspectra")
        self.job.run_clicked.connect(self.run_spectra)
        self.job.done.connect(self._on_spectra)
        row.addWidget(self.job, 1)
        row.addWidget(QtWidgets.QLabel("inputs"))
        self.n_inputs = QtWidgets.QSpinBox()
        self.n_inputs.setRange(2, 100_000)
        self.n_inputs.setValue(COMPARE_SPECTRA.count)
        self.n_inputs.setToolTip("Held-out frames of A's data (random mixes when A's card names "
                                 "no data and none is loaded); both models see the same ones")
        row.addWidget(self.n_inputs)
        sp_lay.addLayout(row)
        self.alphas = AlphaCompareView()
        sp_lay.addWidget(self.alphas, 1)
        self.tabs.addTab(self.layers, "Layers")
        self.tabs.addTab(self.latents, "Latents")
        self.tabs.addTab(spectra, "Eigenspectra α")
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([280, 420])
        outer.addWidget(split, 1)
        self.content = split

    # ---- models ------------------------------------------------------------------------------
    def empty_state(self) -> str:
        """What is missing before a comparison can be shown ("" when nothing is)."""
        s = self.session
        if s.pinned is None:
            return EMPTY
        if s.model is None:
            return NO_MODEL
        problem = s.workbench.pin_problem()
        if problem:
            return f"Cannot compare: {problem}."
        return ""

    def model_names(self) -> tuple[str, str]:
        """(A, B) as the user named them (a checkpoint folder as "(your model) FOLDER")."""
        from app.sources import model_title

        return model_title(self.session.model_name), model_title(self.session.pinned_name)

    def _on_models(self) -> None:
        center, radius = head_geometry(self.session.operator)
        for plot in (self.input_plot, self.recon_a, self.recon_b, self.diff_plot):
            plot.set_head(center, radius)
        empty = self.empty_state()
        self.content.setVisible(not empty)
        if empty:
            self.status.setText(empty)
            self.comparison = self._pending = None
            for plot in (self.input_plot, self.recon_a, self.recon_b, self.diff_plot):
                plot.set_image(None)
            self.metrics.setText("")
        else:
            a, b = self.model_names()
            self.status.setText(f"A: {a}    B (pinned): {b}    — for the input the scalp map shows")
            self.recon_a.plot.setTitle(f"A {a}", size="9pt")
            self.recon_b.plot.setTitle(f"B {b}", size="9pt")
        if self.spectra is not None and self._spectra_models != self._pair():
            self.spectra = None  # computed for another pair of models
            self.alphas.clear()
        if self.session.last_compare is not None and not empty:
            self.show_comparison(self.session.last_compare)

    def _pair(self) -> tuple[str, str]:
        return self.session.model_name, self.session.pinned_name

    # ---- the input ---------------------------------------------------------------------------
    def on_dock_visibility(self, visible: bool) -> None:
        """The window's hook: a covered dock draws nothing until it is raised."""
        self._covered = not visible
        if visible:
            self._catch_up()

    def _catch_up(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.show_comparison(pending)

    def show_comparison(self, cmp: Any) -> None:
        """Paint ``cmp`` (a ForwardComparison of the current input)."""
        if self.empty_state():
            return
        if self._covered:
            self._pending = cmp
            return
        self._pending = None
        self.comparison = cmp
        a, b = cmp.a, cmp.b
        self.input_plot.set_image(a.model_input)
        self.recon_a.set_image(a.recon)
        if b.recon.shape == a.recon.shape:
            self.recon_b.set_image(b.recon)
        else:
            self.recon_b.set_image(b.recon, RECON_LEVELS)
        lim = max(cmp.diff_range, 1e-6)
        if cmp.difference is None:
            self.diff_plot.set_image(None)
            self.diff_plot.plot.setTitle("A − B: images differ in size", size="9pt")
        else:
            self.diff_plot.set_image(cmp.difference, (-lim, lim))
            self.diff_plot.plot.setTitle(f"A − B (±{lim:.3g})", size="9pt")
        na, nb = self.model_names()
        same_input = "" if np.array_equal(a.model_input, b.model_input) else (
            "  B's own model input differs (its injection or scaler); A's is shown.")
        self.metrics.setText(
            f"A {na}: MSE {_metric(a.mse)}  SSIM {_metric(a.ssim)}    "
            f"B {nb}: MSE {_metric(b.mse)}  SSIM {_metric(b.ssim)}    "
            f"A − B: RMS {_metric(math.sqrt(cmp.recon_mse()) if cmp.difference is not None else math.nan)}"
            f", max |A − B| {cmp.diff_range:.4g}.{same_input}")
        self.layers.set_comparison(cmp)
        hooks = (self._latent_hook(self.session.inference), self._latent_hook(self.session.pinned_inference))
        self.latents.set_latents(cmp.latent_a, cmp.latent_b, (na, nb), hooks)

    @staticmethod
    def _latent_hook(inference: Any) -> str:
        return "" if inference is None else str(inference.adapter.latent_hook)

    # ---- eigenspectra of both ----------------------------------------------------------------
    def spectra_options(self) -> Any:
        """The spectra options of the comparison: A's data (the session's when A's card
        names none; random mixes when there is neither)."""
        from eegmi.analysis.inputs import model_data_source

        s = self.session
        count = int(self.n_inputs.value())
        if model_data_source(s.model):
            return replace(COMPARE_SPECTRA, count=count)
        if s.data_name:
            return replace(COMPARE_SPECTRA, count=count, data=str(s.data_name))
        return replace(COMPARE_SPECTRA, count=count, inputs="random")

    def run_spectra(self) -> JobHandle | None:
        """Run the eigenspectrum analysis of both models on the same inputs (a job)."""
        empty = self.empty_state()
        if empty:
            self.job.status.setText(empty)
            return None
        from eegmi.analysis.compare_spectra import compare_spectra

        s = self.session
        opts = self.spectra_options()
        a, b = s.model, s.pinned
        la, lb = self.model_names()
        self._started = self._pair()
        return self.job.start(lambda tok: compare_spectra(a, b, opts, la, lb, tok),
                              "compare eigenspectra")

    def _on_spectra(self, result: SpectraComparison) -> None:
        if self._started != self._pair():
            return  # the models changed while it ran
        self.spectra = result
        self._spectra_models = self._started
        self.alphas.set_result(result)
        self.result_ready.emit()

    # ---- export contract ---------------------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        self._catch_up()
        cmp = self.comparison
        if cmp is None or self.empty_state():
            return {}
        items: dict[str, object] = {
            "input": np.asarray(cmp.a.model_input), "recon/A": np.asarray(cmp.a.recon),
            "recon/B": np.asarray(cmp.b.recon),
            "mse/A": float(cmp.a.mse), "ssim/A": float(cmp.a.ssim),
            "mse/B": float(cmp.b.mse), "ssim/B": float(cmp.b.ssim),
            "layer_matching": cmp.matching.rule,
            "layers": [p.to_json() for p in cmp.layers]}
        if cmp.difference is not None:
            items["difference"] = np.asarray(cmp.difference)
            items["difference_range"] = float(cmp.diff_range)
        for key, z in (("A", cmp.latent_a), ("B", cmp.latent_b)):
            if z is not None:
                items[f"latent/{key}"] = np.asarray(z)
                items[f"latent_norm/{key}"] = float(np.linalg.norm(z))
        for key, arr in self.layers.pair_arrays().items():
            items[f"layer/{key}"] = arr
        if self.spectra is not None:
            items["eigenspectra"] = self.spectra.to_json()
        return items

    # ---- the publication figure (eegmi.figures.panels.compare) ------------------------------
    def figure_pending(self) -> str:
        """Why the comparison shown is not yet the current input's ("" when it is)."""
        from app.panels.base import forward_pending

        if self.empty_state():
            return ""  # nothing to wait for: figure_data says what is missing
        self._show_waiting()
        cmp = self.comparison
        why = forward_pending(self.session, None if cmp is None else cmp.a)
        return why.replace("forward pass", "comparison") if why else ""

    def _show_waiting(self) -> None:
        """Paint the comparison waiting while the dock is covered: a figure reads the
        comparison shown, and an export must not wait for the tab to be raised."""
        if self._pending is None:
            return
        covered, self._covered = self._covered, False
        try:
            self._catch_up()
        finally:
            self._covered = covered

    def figure_view(self) -> dict[str, Any]:
        """What the figure includes: every tab, α when its comparison has run (with the
        options it ran with, so ``eegmi figures --from`` runs it again)."""
        tabs = ["layers", "latents"] + (["alpha"] if self.spectra is not None else [])
        view: dict[str, Any] = {"tabs": tabs}
        if self.spectra is not None:
            view["spectra_options"] = self.spectra.options.to_json()
        return view

    def _figure_ready(self) -> None:
        from eegmi.errors import ConfigError
        from eegmi.figures.panels.compare import NOTHING_PINNED

        if self.session.pinned is None:
            raise ConfigError(NOTHING_PINNED)
        empty = self.empty_state()
        if empty:
            raise ConfigError(empty.rstrip("."))
        pending = self.figure_pending()
        if pending:
            raise ConfigError(pending)

    def figure_data(self) -> dict[str, Any]:
        """The numbers of the comparison shown (:func:`eegmi.figures.panels.compare.data_from`)."""
        from eegmi.figures.panels.compare import data_from

        self._figure_ready()
        s = self.session
        hooks = (self._latent_hook(s.inference), self._latent_hook(s.pinned_inference))
        return data_from(self.comparison, s.operator, self.spectra, hooks)

    def figure_state(self) -> dict[str, Any]:
        """The workbench (A, pinned B, the input), and the tabs and α options shown."""
        from eegmi.figures.panel import figure_state
        from eegmi.figures.panels.compare import TABS, figure_height

        self._figure_ready()
        view = self.figure_view()
        height = figure_height(len(self.comparison.layers),
                               tuple(t for t in TABS if t in view["tabs"]), self.spectra is not None)
        return figure_state("compare", self.title, self.session.state(), None, view,
                            {"width_in": 7.0, "height_in": height})

    def holds_result(self) -> bool:
        return self.spectra is not None  # the α comparison job's result

    def state(self) -> dict:
        self._catch_up()
        st = dict(self.session.state())
        a, b = self.model_names()
        st.update({"panel": "compare", "model_a": a, "model_b": b,
                   "problem": self.empty_state(),
                   "layer_pair": list(self.layers.shown),
                   "spectra_inputs": int(self.n_inputs.value())})
        if self.comparison is not None:
            st["layer_matching"] = self.comparison.matching.rule
        if self.spectra is not None:
            st["spectra_options"] = self.spectra.options.to_json()
        return st
