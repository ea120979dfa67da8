"""SAE feature gallery: load or train a sparse autoencoder on a layer, browse its features.

Training and the gallery are the core recipes ``sae_train`` and ``sae_gallery``
(:mod:`eegmi.recipes.sae`, the CLI's too); loading, saving and feature
visualisation are single core calls.  Every one runs on the model worker through
``session.submit`` / ``session.call``, and the panel follows the returned job
handle (progress, outcome; Cancel calls ``handle.cancel()``).  One job runs at a
time from this panel.  After an SAE is loaded or trained the gallery is computed at once.

Cards (:mod:`app.panels.sae.feature_card`) sort by frequency, mean activation or
selectivity and filter by electrode or region (:mod:`eegmi.sae.regions`).
Clicking a card loads its top dataset frame into the workbench (every panel
follows); double-clicking (or "Optimise") computes the feature's optimised input,
cached on the card.  :meth:`SaeGalleryPanel.state` holds the last gallery's
recipe state, which ``eegmi rerun`` re-runs headless to the same numbers.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.panels.base import Panel
from app.panels.sae.controls import SaeControls
from app.panels.sae.feature_card import FEATURE_ROLE, FeatureCardModel, card_view
from app.panels.sae.figure import SaeFigureMixin
from eegmi.concepts import tip
from eegmi.errors import ConfigError
from eegmi.recipes.base import RecipeContext, state_of
from eegmi.recipes.sae import (
    SAE_GALLERY,
    SAE_TRAIN,
    SaeGalleryOptions,
    SaeTrainOptions,
)

SORT_LABELS = {"frequency": "frequency", "mean activation": "mean_activation",
               "selectivity": "selectivity", "max activation": "max_activation", "index": "index"}


class SaeGalleryPanel(SaeFigureMixin, Panel):
    """Train/load an SAE, compute its gallery, browse feature cards.

    Signals
    -------
    sae_ready(), gallery_ready(), vis_ready(int feature), job_done(str what, str outcome)
    """

    title = "SAE features"
    sae_ready = Signal()
    gallery_ready = Signal()
    vis_ready = Signal(int)
    job_done = Signal(str, str)  # what ("load", "train", "gallery", "vis", "save"), outcome

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.loaded: Any = None  # eegmi.sae.io.LoadedSAE
        self.sae_path: str | None = None
        #: the training options of an SAE trained here and not saved (None otherwise)
        self.trained_with: SaeTrainOptions | None = None
        self.data: Any = None  # eegmi.sae.gallery_data.GalleryData
        self.last_error = ""
        self.summary: dict[str, Any] = {}  # the last gallery's recipe summary
        self.job: Any = None  # JobHandle of the running job
        self._gallery_run: tuple[SaeGalleryOptions, RecipeContext] | None = None
        #: (folder, layer) of the last SAE refused because it reads a layer this model lacks
        self.refused: tuple[str, str | None] | None = None
        self._build_ui()
        session.model_changed.connect(self._on_model_changed)
        session.data_changed.connect(self._on_data_changed)
        self._on_model_changed()
        self.status.setText(self.empty_state())

    # -- construction --------------------------------------------------------------
    def _build_ui(self) -> None:
        # settings in a narrow scrollable column, so the dock stays narrow enough to sit
        # beside the other bottom panels; the cards take the rest
        root = QHBoxLayout(self)
        root.setContentsMargins(2, 2, 2, 2)
        c = self.controls = SaeControls()
        for name in ("load_button", "save_button", "layer", "mode", "dict_size", "kind", "k", "l1",
                     "steps", "train_frames", "train_button", "inputs", "top_k", "gallery_button",
                     "vis_param", "vis_steps", "vis_button", "progress", "cancel_button"):
            setattr(self, name, getattr(c, name))  # the settings, reachable as panel attributes
        c.load_button.clicked.connect(self._load_dialog)
        c.save_button.clicked.connect(self._save_dialog)
        c.train_button.clicked.connect(self.train)
        c.gallery_button.clicked.connect(self.compute_gallery)
        c.vis_button.clicked.connect(self.visualise_selected)
        c.cancel_button.clicked.connect(self.cancel)
        scroll = QScrollArea()
        scroll.setWidget(c)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(c.sizeHint().width() + 18)
        right = QVBoxLayout()
        top = QHBoxLayout()
        self.sort = QComboBox()
        self.sort.addItems(list(SORT_LABELS))
        self.sort.setItemData(list(SORT_LABELS).index("selectivity"), tip("sae_selectivity"),
                              Qt.ItemDataRole.ToolTipRole)
        self.sort.currentTextChanged.connect(lambda t: self.model.set_sort(SORT_LABELS[t]))
        self.search = QLineEdit()
        self.search.setPlaceholderText("electrode or region: Fz, frontal, left…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        top.addWidget(QLabel("Sort"))
        top.addWidget(self.sort)
        top.addWidget(QLabel("Search"))
        top.addWidget(self.search, 1)
        # the SAE's held-out quality, read from its card (training measures it)
        self.fve_label, self.l0_label = QLabel(""), QLabel("")
        self.fve_label.setToolTip(tip("fve"))
        self.l0_label.setToolTip(tip("l0"))
        top.addWidget(self.fve_label)
        top.addWidget(self.l0_label)
        self.status = QLabel("load or train an SAE")
        self.status.setWordWrap(True)
        self.model = FeatureCardModel(self)
        self.view = card_view(self.model)
        self.view.clicked.connect(self._on_card_clicked)
        self.view.doubleClicked.connect(self._on_card_double_clicked)
        right.addLayout(top)
        right.addWidget(self.status)
        right.addWidget(self.view, 1)
        root.addWidget(scroll)
        root.addLayout(right, 1)

    # -- session ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.done

    def _context(self, with_sae: bool = False) -> RecipeContext:
        """What the recipes run on: the session's model, data and scaler (no reload)."""
        s = self.session
        extra: dict[str, Any] = {"eeg": s.data, "scaler": s.scaler, "adapter": s.adapter}
        if with_sae:
            extra["sae"] = self.loaded
        return RecipeContext(model=s.model_name, loaded=s.model, data=s.data_name or None,
                             device=s.device, extra=extra)

    def _on_model_changed(self) -> None:
        adapter = getattr(self.session, "adapter", None)
        self.controls.set_layers(adapter.hook_names() if adapter is not None else [])
        self.refused = None
        if self.loaded is not None or self.data is not None:
            # an SAE reads one model's activations: keeping it for another model would
            # show features of a dictionary that was never fitted to that model
            self.loaded, self.sae_path, self.trained_with = None, None, None
            self._clear_gallery("")
        if not self.busy:
            self.status.setText(self.empty_state())
        self._update_buttons()

    def _on_data_changed(self) -> None:
        if self.data is not None:  # frame indices refer to the old dataset
            self._clear_gallery("the dataset changed: compute the gallery again")
        elif not self.busy:
            self.status.setText(self.empty_state())
        self._update_buttons()

    def empty_state(self) -> str:
        """What the gallery is missing, in words: no model, no data, no SAE trained or
        loaded, or an SAE refused because its layer is not in this model; "" with cards."""
        s = self.session
        if s.model is None:
            return ("No model: open a model checkpoint (File › Open model checkpoint…); an SAE "
                    "reads one of its layers.")
        if self.refused is not None:
            folder, layer = self.refused
            if layer is None:
                return (f"The SAE in {folder} was trained on a raw activation matrix, not on a "
                        "layer of a model: load an SAE trained on this model's layers, or train one.")
            return (f"Layer not in this model: the SAE in {folder} reads {layer!r}, which "
                    f"{s.model_name or 'this model'} does not have (its layers: "
                    f"{', '.join(s.adapter.hook_names())}). Load an SAE trained on this model, "
                    "or train one.")
        if s.data is None:
            sae = ("" if self.loaded is None else
                   f" The SAE ({self.loaded.sae.config.n_features} features on {self.loaded.hook}) "
                   "is loaded.")
            return ("No data: open a dataset (File › Open data…); training an SAE and its "
                    "gallery of top frames need one." + sae)
        if self.loaded is None:
            return ("No SAE trained or loaded for this model: train one on a layer (Train) or "
                    "load an SAE folder (Load…).")
        if self.data is None:
            return f"SAE on {self.loaded.hook}: compute its gallery (Gallery)."
        return ""

    def _show_metrics(self) -> None:
        """FVE and L0 of the current SAE (from its card; blank without an SAE or metrics)."""
        m = {} if self.loaded is None else dict(self.loaded.meta.get("metrics") or {})
        self.fve_label.setText("" if m.get("fve") is None else f"FVE {float(m['fve']):.3f}")
        self.l0_label.setText("" if m.get("l0") is None else f"L0 {float(m['l0']):.2f}")

    def _clear_gallery(self, message: str) -> None:
        self._show_metrics()
        self.data, self._gallery_run, self.summary = None, None, {}
        self.model.set_gallery(None)
        self.status.setText(message)

    def _ready(self, data: bool = True, sae: bool = False) -> bool:
        """Whether a job can start now; otherwise says why in the status line."""
        s = self.session
        why = ("load a model first" if s.model is None else "load a dataset first" if data and s.data is None
               else "load or train an SAE first" if sae and self.loaded is None
               else "a job is running" if self.busy else "")
        self.status.setText(why or self.status.text())
        return not why

    # -- actions -----------------------------------------------------------------------
    def load_sae(self, path: str | Path) -> Any:
        """Load an SAE folder (written by ``eegmi sae train`` / :func:`eegmi.sae.io.save_sae`)."""
        from eegmi.sae.io import load_sae

        if not self._ready(data=False):
            return None
        device, folder = self.session.device, str(path)
        # the layer is checked on arrival (_sae_done), so a refusal names what is missing
        handle = self.session.call(lambda: load_sae(folder, device), f"load SAE {folder}")
        return self._follow(handle, "load", partial(self._sae_done, "load", folder, None))

    def train(self) -> Any:
        """Train an SAE (recipe ``sae_train``) on the chosen layer over the session's dataset."""
        if not self._ready():
            return None
        try:
            opts = self.controls.train_options()
        except ConfigError as exc:
            self.status.setText(str(exc))
            return None
        ctx = self._context()
        handle = self.session.submit(lambda token: SAE_TRAIN.run(opts, ctx, token), "SAE training")
        return self._follow(handle, "train",
                            lambda res: self._sae_done("train", None, opts, res.loaded))

    def compute_gallery(self) -> Any:
        """Gallery statistics (recipe ``sae_gallery``) of the current SAE over the session's dataset."""
        if not self._ready(sae=True):
            return None
        opts = self.controls.gallery_options(self.sae_path, self.trained_with)
        ctx = self._context(with_sae=True)
        handle = self.session.submit(lambda token: SAE_GALLERY.run(opts, ctx, token), "SAE gallery")
        return self._follow(handle, "gallery", partial(self._gallery_done, opts, ctx))

    def visualise(self, feature: int) -> Any:
        """Optimise an input for ``feature`` (cached: a computed one is not recomputed)."""
        from eegmi.sae.featurevis import visualise_feature

        if self.loaded is None or self.data is None or self.busy or feature in self.model.vis:
            return None
        adapter, loaded, f = self.session.adapter, self.loaded, int(feature)
        param, steps = self.vis_param.currentText(), self.vis_steps.value()
        handle = self.session.submit(
            lambda token: visualise_feature(adapter, loaded, f, param, steps, token),
            f"optimise SAE feature {f}")
        return self._follow(handle, "vis", partial(self._vis_done, f))

    def visualise_selected(self) -> Any:
        feature = self.selected_feature()
        if feature is None:
            self.status.setText("select a card first")
            return None
        return self.visualise(feature)

    def save_sae(self, folder: str | Path) -> Any:
        from eegmi.sae.io import resave

        if self.loaded is None or self.busy:
            return None
        loaded, target = self.loaded, str(folder)
        handle = self.session.call(lambda: resave(loaded, target), f"save SAE to {target}")
        return self._follow(handle, "save", self._save_done)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def selected_feature(self) -> int | None:
        idx = self.view.currentIndex()
        return None if not idx.isValid() else int(idx.data(FEATURE_ROLE))

    def show_feature(self, feature: int) -> None:
        """Load the feature's top dataset frame as the workbench input."""
        if self.data is None or self.session.data is None:
            return
        frame = int(self.data.gallery.top_frames[feature, 0])
        if frame < 0 or self.data.gallery.top_values[feature, 0] <= 0:
            self.status.setText(f"feature {feature} never fired on the gallery inputs")
            return
        self.session.workbench.set_frame(frame)
        self.status.setText(f"feature {feature}: showing frame {frame} "
                            f"(activation {self.data.gallery.top_values[feature, 0]:.3g})")

    # -- job handles ---------------------------------------------------------------
    def _follow(self, handle: Any, what: str, on_result: Any) -> Any:
        self.job = handle
        handle.progress.connect(self._on_progress)
        handle.finished.connect(lambda result: self._end(what, "done", "", on_result, result))
        handle.failed.connect(partial(self._on_failed, what))
        handle.cancelled.connect(lambda: self._end(what, "cancelled", f"{what} cancelled"))
        self.progress.setValue(0)
        self.status.setText(f"{what}…")
        self._update_buttons()
        return handle

    def _end(self, what: str, outcome: str, message: str, on_result: Any = None,
             result: Any = None) -> None:
        self.job = None
        self.progress.setValue(1000 if outcome == "done" else 0)
        self.status.setText(message)
        self._update_buttons()
        if on_result is not None:
            on_result(result)  # may start the next job (a loaded SAE's gallery)
        self.job_done.emit(what, outcome)

    def _on_progress(self, report: Any) -> None:
        frac = report.fraction
        self.progress.setValue(0 if frac is None else int(1000 * frac))
        if report.message:
            self.status.setText(report.message)

    def _on_failed(self, what: str, message: str) -> None:
        self.last_error = message
        self._end(what, "failed", f"{what} failed: {message}")

    def _sae_done(self, what: str, path: str | None, trained_with: SaeTrainOptions | None,
                  loaded: Any) -> None:
        adapter = self.session.adapter
        if loaded.hook is None or adapter is None or loaded.hook not in adapter.hook_names():
            # checked here, not in the worker, so the panel can say what is missing
            self.refused = (str(path), loaded.hook)
            self.status.setText(self.empty_state())
            return
        self.refused = None
        self.loaded, self.sae_path, self.trained_with = loaded, path, trained_with
        self._clear_gallery(f"SAE: {loaded.sae.config.n_features} features on {loaded.hook} ({loaded.mode})")
        self.sae_ready.emit()
        if self.session.data is None:
            self.status.setText(self.empty_state())  # the gallery waits for a dataset
            self._update_buttons()
            return
        self.compute_gallery()

    def _gallery_done(self, opts: SaeGalleryOptions, ctx: RecipeContext, result: Any) -> None:
        self.data = result.data
        self._gallery_run = (opts, ctx)
        self.summary = SAE_GALLERY.summary(result)
        self.model.set_gallery(result.data)
        self._show_count()
        self.gallery_ready.emit()

    def _vis_done(self, feature: int, result: Any) -> None:
        self.model.set_vis(feature, result)
        self.status.setText(f"feature {feature}: optimised input reaches {result.activation:.3g}")
        self.vis_ready.emit(feature)

    def _save_done(self, folder: Any) -> None:
        self.sae_path, self.trained_with = str(folder), None
        if self._gallery_run is not None:  # the state now names the saved folder
            opts, ctx = self._gallery_run
            self._gallery_run = (SaeGalleryOptions(sae=str(folder), max_frames=opts.max_frames,
                                                   top_k=opts.top_k, seed=opts.seed), ctx)
        self.status.setText(f"saved to {folder}")

    # -- view ------------------------------------------------------------------------
    def _on_card_clicked(self, index: QModelIndex) -> None:
        self.show_feature(int(index.data(FEATURE_ROLE)))

    def _on_card_double_clicked(self, index: QModelIndex) -> None:
        self.visualise(int(index.data(FEATURE_ROLE)))

    def _on_search(self, text: str) -> None:
        self.model.set_query(text)
        self._show_count()

    def _load_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "SAE folder (sae.json + sae.safetensors)")
        if path:
            self.load_sae(path)

    def _save_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save the SAE into folder")
        if path:
            self.save_sae(path)

    def _show_count(self) -> None:
        if self.data is None:
            return
        g = self.data.gallery
        self.status.setText(f"{self.model.rowCount()} of {self.data.n_features} features shown; "
                            f"{g.n_frames} frames, {g.n_inputs} inputs, {int((g.frequency == 0).sum())} never active")

    def _update_buttons(self) -> None:
        busy = self.busy
        have_model = getattr(self.session, "model", None) is not None
        have_data = getattr(self.session, "data", None) is not None
        self.cancel_button.setEnabled(busy)
        self.load_button.setEnabled(not busy and have_model)
        self.train_button.setEnabled(not busy and have_model and have_data)
        self.gallery_button.setEnabled(not busy and have_data and self.loaded is not None)
        self.save_button.setEnabled(not busy and self.loaded is not None)
        self.vis_button.setEnabled(not busy and self.data is not None)

    # -- export ------------------------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        """Gallery arrays (feature index first), the shown order, drivers and optimised inputs."""
        return {} if self.data is None else self.data.export_items(self.model.order, self.model.vis)

    def state(self) -> dict:
        st = dict(self.session.state())
        st["sae"] = {
            "path": self.sae_path, "hook": getattr(self.loaded, "hook", None),
            "mode": getattr(self.loaded, "mode", None),
            "config": None if self.loaded is None else self.loaded.sae.config.to_dict(),
            "gallery_inputs": self.inputs.value(), "top_k": self.top_k.value(),
            "sort": self.model.sort_key, "search": self.model.query,
            "featurevis": {"param": self.vis_param.currentText(), "steps": self.vis_steps.value()},
            "selected": self.selected_feature(),
        }
        if self._gallery_run is not None:
            opts, ctx = self._gallery_run
            st["analysis"] = state_of(SAE_GALLERY, opts, ctx)
            st["analysis_summary"] = self.summary
        return st
