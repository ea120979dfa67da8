"""The SAE panel's settings column: widgets initialised from the recipes' options.

The defaults shown are those of :class:`eegmi.recipes.sae.SaeTrainOptions` and
:class:`eegmi.recipes.sae.SaeGalleryOptions` (the CLI's too); :meth:`SaeControls.train_options`
reads the widgets back into those options.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from eegmi.recipes.sae import SaeGalleryOptions, SaeTrainOptions

#: feature visualisation defaults (an interactive per-card job, not a recipe)
VIS_PARAMS = ("electrodes", "image")
VIS_STEPS = 200


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class SaeControls(QWidget):
    """Load/save buttons, training and gallery settings, feature-vis settings, progress."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        t, g = SaeTrainOptions(), SaeGalleryOptions()
        form = QFormLayout(self)
        form.setContentsMargins(2, 2, 2, 2)
        self.load_button = QPushButton("Load SAE…")
        self.save_button = QPushButton("Save SAE…")
        io_row = QHBoxLayout()
        io_row.addWidget(self.load_button)
        io_row.addWidget(self.save_button)
        form.addRow(io_row)
        self.layer = QComboBox()
        self.layer.setToolTip("hook point the SAE reads")
        self.mode = QComboBox()
        self.mode.addItems(["spatial", "flat"])
        self.mode.setCurrentText(t.mode)
        self.mode.setToolTip("spatial: one channel vector per position; flat: one vector per frame")
        self.dict_size = _spin(1, 65536, t.dict_size, "dictionary size (number of features)")
        self.kind = QComboBox()
        self.kind.addItems(["TopK", "L1"])
        self.kind.setCurrentText("TopK" if t.sparsity == "topk" else "L1")
        self.k = _spin(1, 4096, t.k, "active features per input (TopK)")
        self.l1 = QDoubleSpinBox()
        self.l1.setDecimals(4)
        self.l1.setRange(0.0, 100.0)
        self.l1.setSingleStep(0.005)
        self.l1.setValue(t.l1)
        self.l1.setToolTip("L1 coefficient λ (ReLU + L1)")
        self.steps = _spin(1, 1_000_000, t.steps, "optimiser steps")
        self.train_frames = _spin(1, 10_000_000, t.max_frames,
                                  "train-split frames to extract training activations from")
        self.train_button = QPushButton("Train SAE")
        for label, w in (("Layer", self.layer), ("Mode", self.mode), ("Features", self.dict_size),
                         ("Sparsity", self.kind), ("k", self.k), ("λ", self.l1), ("Steps", self.steps),
                         ("Frames", self.train_frames)):
            form.addRow(label, w)
        form.addRow(self.train_button)
        self.inputs = _spin(1, 10_000_000, g.max_frames, "dataset frames the gallery is computed over")
        self.top_k = _spin(1, 64, g.top_k, "top dataset examples kept per feature")
        self.gallery_button = QPushButton("Compute gallery")
        form.addRow("Inputs", self.inputs)
        form.addRow("Top", self.top_k)
        form.addRow(self.gallery_button)
        self.vis_param = QComboBox()
        self.vis_param.addItems(list(VIS_PARAMS))
        self.vis_param.setToolTip("optimise electrode values (always a possible scalp map) or a free image")
        self.vis_steps = _spin(1, 100_000, VIS_STEPS, "feature visualisation steps")
        self.vis_button = QPushButton("Optimise selected")
        self.vis_button.setToolTip("feature visualisation by optimisation (or double-click a card)")
        form.addRow("Optimise", self.vis_param)
        form.addRow("Vis steps", self.vis_steps)
        form.addRow(self.vis_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        form.addRow(self.progress)
        form.addRow(self.cancel_button)
        self.kind.currentTextChanged.connect(self._sparsity_changed)
        self._sparsity_changed()

    def _sparsity_changed(self) -> None:
        topk = self.kind.currentText() == "TopK"
        self.k.setEnabled(topk)
        self.l1.setEnabled(not topk)

    def set_layers(self, names: list[str]) -> None:
        """Offer ``names``; keep the current layer when the model has it, else the default."""
        current = self.layer.currentText()
        self.layer.clear()
        self.layer.addItems(names)
        default = SaeTrainOptions().layer
        pick = current if current in names else (default if default in names else "")
        if pick:
            self.layer.setCurrentText(pick)

    def train_options(self) -> SaeTrainOptions:
        """The ``sae_train`` options the widgets show (checked; ConfigError when invalid)."""
        opts = SaeTrainOptions(layer=self.layer.currentText(), mode=self.mode.currentText(),
                               dict_size=self.dict_size.value(),
                               sparsity="topk" if self.kind.currentText() == "TopK" else "l1",
                               k=self.k.value(), l1=self.l1.value(), steps=self.steps.value(),
                               max_frames=self.train_frames.value())
        opts.check()
        return opts

    def gallery_options(self, sae: str | None, train: SaeTrainOptions | None) -> SaeGalleryOptions:
        """The ``sae_gallery`` options for an SAE from folder ``sae`` or trained with ``train``."""
        return SaeGalleryOptions(sae=sae, train=None if sae else train,
                                 max_frames=self.inputs.value(), top_k=self.top_k.value())
