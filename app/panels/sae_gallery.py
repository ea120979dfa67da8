"""SAE feature gallery: load or train a sparse autoencoder on a layer, browse its features.

Every computation runs on the model worker through ``Session.run_job`` (jobs in
:mod:`app.widgets.sae_jobs`); the panel follows its own request through
:class:`app.widgets.sae_tracker.JobTracker`, shows progress and offers cancel.  One job
runs at a time from this panel.  After an SAE is loaded or trained the gallery is computed at once.

Cards (:mod:`app.widgets.feature_card`) sort by frequency, mean activation or
selectivity and filter by electrode or region (:mod:`app.widgets.feature_regions`).
Clicking a card sends its top dataset frame to the main view; double-clicking (or
"Optimise") computes the feature's optimised input, cached on the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.panels.base import Panel
from app.widgets import sae_jobs
from app.widgets.feature_card import FEATURE_ROLE, FeatureCardModel, card_view
from app.widgets.sae_tracker import JobTracker
from eegmi.errors import ConfigError

SORT_LABELS = {"frequency": "frequency", "mean activation": "mean_activation",
               "selectivity": "selectivity", "max activation": "max_activation", "index": "index"}


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class SaeGalleryPanel(Panel):
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
        self.data: Any = None  # sae_jobs.GalleryData
        self.last_error = ""
        self.jobs = JobTracker(session, self)
        self._build_ui()
        self.jobs.progress.connect(self._on_progress)
        self.jobs.finished.connect(self._on_finished)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.cancelled.connect(lambda what: self._end(what, "cancelled", f"{what} cancelled"))
        session.model_changed.connect(self._on_model_changed)
        session.data_changed.connect(self._on_data_changed)
        self._on_model_changed()
        if session.model is None:
            self.status.setText("load a model (and a dataset), then load or train an SAE")

    # -- construction --------------------------------------------------------------
    def _build_ui(self) -> None:
        # settings in a narrow scrollable column, so the dock stays narrow enough to sit
        # beside the other bottom panels; the cards take the rest
        root = QHBoxLayout(self)
        root.setContentsMargins(2, 2, 2, 2)
        side = QWidget()
        form = QFormLayout(side)
        form.setContentsMargins(2, 2, 2, 2)
        self.load_button = QPushButton("Load SAE…")
        self.load_button.clicked.connect(self._load_dialog)
        self.save_button = QPushButton("Save SAE…")
        self.save_button.clicked.connect(self._save_dialog)
        io_row = QHBoxLayout()
        io_row.addWidget(self.load_button)
        io_row.addWidget(self.save_button)
        form.addRow(io_row)
        self.layer = QComboBox()
        self.layer.setToolTip("hook point the SAE reads")
        self.mode = QComboBox()
        self.mode.addItems(["spatial", "flat"])
        self.mode.setToolTip("spatial: one channel vector per position; flat: one vector per frame")
        self.dict_size = _spin(1, 65536, 64, "dictionary size (number of features)")
        self.kind = QComboBox()
        self.kind.addItems(["TopK", "L1"])
        self.k = _spin(1, 4096, 4, "active features per input (TopK)")
        self.l1 = QDoubleSpinBox()
        self.l1.setDecimals(4)
        self.l1.setRange(0.0, 100.0)
        self.l1.setSingleStep(0.005)
        self.l1.setValue(0.02)
        self.l1.setToolTip("L1 coefficient λ (ReLU + L1)")
        self.kind.currentTextChanged.connect(self._update_buttons)
        self.steps = _spin(1, 1_000_000, 500, "optimiser steps")
        self.train_frames = _spin(1, 10_000_000, 2000, "dataset frames to extract training activations from")
        self.train_button = QPushButton("Train SAE")
        self.train_button.clicked.connect(self.train)
        for label, w in (("Layer", self.layer), ("Mode", self.mode), ("Features", self.dict_size),
                         ("Sparsity", self.kind), ("k", self.k), ("λ", self.l1), ("Steps", self.steps),
                         ("Frames", self.train_frames)):
            form.addRow(label, w)
        form.addRow(self.train_button)
        self.inputs = _spin(1, 10_000_000, 2000, "dataset frames the gallery is computed over")
        self.top_k = _spin(1, 64, 8, "top dataset examples kept per feature")
        self.gallery_button = QPushButton("Compute gallery")
        self.gallery_button.clicked.connect(self.compute_gallery)
        form.addRow("Inputs", self.inputs)
        form.addRow("Top", self.top_k)
        form.addRow(self.gallery_button)
        self.vis_param = QComboBox()
        self.vis_param.addItems(["electrodes", "image"])
        self.vis_param.setToolTip("optimise electrode values (always a possible scalp map) or a free image")
        self.vis_steps = _spin(1, 100_000, 200, "feature visualisation steps")
        self.vis_button = QPushButton("Optimise selected")
        self.vis_button.setToolTip("feature visualisation by optimisation (or double-click a card)")
        self.vis_button.clicked.connect(self.visualise_selected)
        form.addRow("Optimise", self.vis_param)
        form.addRow("Vis steps", self.vis_steps)
        form.addRow(self.vis_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        form.addRow(self.progress)
        form.addRow(self.cancel_button)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(side.sizeHint().width() + 18)
        right = QVBoxLayout()
        top = QHBoxLayout()
        self.sort = QComboBox()
        self.sort.addItems(list(SORT_LABELS))
        self.sort.currentTextChanged.connect(lambda t: self.model.set_sort(SORT_LABELS[t]))
        self.search = QLineEdit()
        self.search.setPlaceholderText("electrode or region: Fz, frontal, left…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        top.addWidget(QLabel("Sort"))
        top.addWidget(self.sort)
        top.addWidget(QLabel("Search"))
        top.addWidget(self.search, 1)
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
    def _context(self) -> sae_jobs.ModelContext:
        s = self.session
        inf = s.inference
        return sae_jobs.ModelContext(model=s.model.model, kind=getattr(s.model.config, "kind", "vae"),
                                     operator=s.operator, injection=getattr(inf, "injection", None),
                                     scaler=s.scaler, device=s.device)

    def _on_model_changed(self) -> None:
        inf = getattr(self.session, "inference", None)
        names = inf.hook_names() if inf is not None else []
        current = self.layer.currentText()
        self.layer.clear()
        self.layer.addItems(names)
        pick = current if current in names else ("enc.act3" if "enc.act3" in names else "")
        if pick:
            self.layer.setCurrentText(pick)
        if self.loaded is not None or self.data is not None:
            # an SAE reads one model's activations: keeping it for another model would
            # show features of a dictionary that was never fitted to that model
            self.loaded, self.sae_path = None, None
            self._clear_gallery("the model changed: load or train an SAE for it")
        self._update_buttons()

    def _on_data_changed(self) -> None:
        if self.data is not None:  # frame indices refer to the old dataset
            self._clear_gallery("the dataset changed: compute the gallery again")
        self._update_buttons()

    def _clear_gallery(self, message: str) -> None:
        self.data = None
        self.model.set_gallery(None)
        self.status.setText(message)

    def _ready(self, data: bool = True, sae: bool = False) -> bool:
        """Whether a job can start now; otherwise says why in the status line."""
        s = self.session
        why = ("load a model first" if s.model is None else "load a dataset first" if data and s.data is None
               else "load or train an SAE first" if sae and self.loaded is None
               else "a job is running" if self.jobs.busy else "")
        self.status.setText(why or self.status.text())
        return not why

    def load_sae(self, path: str | Path) -> int | None:
        """Load an SAE folder (written by ``eegmi sae train`` / :func:`eegmi.sae.io.save_sae`)."""
        if not self._ready(data=False):
            return None
        return self._start(sae_jobs.load_job(path, self._context()), "load", str(path))

    def train(self) -> int | None:
        """Train an SAE on the chosen layer over the session's dataset."""
        from eegmi.sae.model import SAEConfig
        from eegmi.sae.train import TrainConfig

        if not self._ready():
            return None
        topk = self.kind.currentText() == "TopK"
        n = self.dict_size.value()
        try:
            cfg = SAEConfig(d_in=1, n_features=n, kind="topk" if topk else "l1",
                            k=min(self.k.value(), n), l1=self.l1.value())
        except ConfigError as exc:
            self.status.setText(str(exc))
            return None
        tcfg = TrainConfig(steps=self.steps.value(), batch_size=256, device=self.session.device,
                           report_every=max(1, self.steps.value() // 100))
        job = sae_jobs.train_job(self._context(), self.session.data.values, self.layer.currentText(),
                                 self.mode.currentText(), cfg, tcfg, self.train_frames.value())
        return self._start(job, "train", None)

    def compute_gallery(self) -> int | None:
        """Compute gallery statistics of the current SAE over the session's dataset."""
        if not self._ready(sae=True):
            return None
        job = sae_jobs.gallery_job(self._context(), self.loaded, self.session.data.values,
                                   self.inputs.value(), self.top_k.value())
        return self._start(job, "gallery", None)

    def visualise(self, feature: int) -> int | None:
        """Optimise an input for ``feature`` (cached: a computed one is not recomputed)."""
        if self.loaded is None or self.data is None or self.jobs.busy or feature in self.model.vis:
            return None
        job = sae_jobs.featurevis_job(self._context(), self.loaded, int(feature),
                                      self.vis_param.currentText(), self.vis_steps.value())
        return self._start(job, "vis", int(feature))

    def visualise_selected(self) -> int | None:
        feature = self.selected_feature()
        if feature is None:
            self.status.setText("select a card first")
            return None
        return self.visualise(feature)

    def save_sae(self, folder: str | Path) -> int | None:
        if self.loaded is None or self.jobs.busy:
            return None
        return self._start(sae_jobs.save_job(self.loaded, folder), "save", str(folder))

    def cancel(self) -> None:
        self.jobs.cancel()

    def selected_feature(self) -> int | None:
        idx = self.view.currentIndex()
        return None if not idx.isValid() else int(idx.data(FEATURE_ROLE))

    def show_feature(self, feature: int) -> None:
        """Send the feature's top dataset frame to the main view."""
        if self.data is None or self.session.data is None:
            return
        frame = int(self.data.gallery.top_frames[feature, 0])
        if frame < 0 or self.data.gallery.top_values[feature, 0] <= 0:
            self.status.setText(f"feature {feature} never fired on the gallery inputs")
            return
        self.session.set_frame(frame)
        self.status.setText(f"feature {feature}: showing frame {frame} "
                            f"(activation {self.data.gallery.top_values[feature, 0]:.3g})")

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

    def _start(self, factory: Any, what: str, extra: Any) -> int:
        rid = self.jobs.start(factory, what, extra)
        self.progress.setValue(0)
        self.status.setText(f"{what}…")
        self._update_buttons()
        return rid

    def _end(self, what: str, outcome: str, message: str) -> None:
        self.status.setText(message)
        self.progress.setValue(1000 if outcome == "done" else 0)
        self._update_buttons()
        self.job_done.emit(what, outcome)

    def _on_progress(self, frac: float, message: str) -> None:
        self.progress.setValue(int(1000 * frac) if frac >= 0 else 0)
        if message:
            self.status.setText(message)

    def _on_failed(self, what: str, message: str) -> None:
        self.last_error = message
        self._end(what, "failed", f"{what} failed: {message}")

    def _on_finished(self, what: str, extra: Any, result: Any) -> None:
        if what in ("load", "train"):
            self.loaded = result
            self.sae_path = extra if what == "load" else None
            self._clear_gallery("")
            cfg = result.sae.config
            self._end(what, "done", f"SAE: {cfg.n_features} features on {result.hook} ({result.mode})")
            self.sae_ready.emit()
            self.compute_gallery()
        elif what == "gallery":
            self.data = result
            self.model.set_gallery(result)
            self._end(what, "done", "")
            self._show_count()
            self.gallery_ready.emit()
        elif what == "vis":
            self.model.set_vis(int(extra), result)
            self._end(what, "done", f"feature {extra}: optimised input reaches {result.activation:.3g}")
            self.vis_ready.emit(int(extra))
        elif what == "save":
            self.sae_path = str(result)
            self._end(what, "done", f"saved to {result}")

    def _show_count(self) -> None:
        if self.data is None:
            return
        g = self.data.gallery
        self.status.setText(f"{self.model.rowCount()} of {self.data.n_features} features shown; "
                            f"{g.n_frames} frames, {g.n_inputs} inputs, {int((g.frequency == 0).sum())} never active")

    def _update_buttons(self) -> None:
        busy = self.jobs.busy
        have_model = getattr(self.session, "model", None) is not None
        have_data = getattr(self.session, "data", None) is not None
        self.cancel_button.setEnabled(busy)
        self.load_button.setEnabled(not busy and have_model)
        self.train_button.setEnabled(not busy and have_model and have_data)
        self.gallery_button.setEnabled(not busy and have_data and self.loaded is not None)
        self.save_button.setEnabled(not busy and self.loaded is not None)
        self.vis_button.setEnabled(not busy and self.data is not None)
        topk = self.kind.currentText() == "TopK"
        self.k.setEnabled(topk)
        self.l1.setEnabled(not topk)

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
        return st
