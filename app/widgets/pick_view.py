"""Pick & interpolate views for the propagation panel.

:class:`PickOptionsBar` holds the settings (input kind and count; defaults from
:class:`eegmi.analysis.pick_options.PickInterpolateOptions`, the same the CLI uses).
:class:`PickResultTable` shows one model's basis-invariant headline, its axis
alignment (labelled as such) and the four controls scored on the same inputs, with
the input set and the caveats.  :class:`PickComparisonTable` is the across-models
table.  Every header has a tooltip saying what the number is.  Nothing here runs
the analysis; the panel does, on the model worker.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from eegmi.analysis.inputs import InputSpec
from eegmi.analysis.pick_options import HEADLINE_BAR, PickInterpolateOptions
from eegmi.analysis.pick_report import COLUMNS, share
from eegmi.concepts import tip as concept_tip

INPUT_CHOICES = (("heldout", "held-out frames"), ("random", "random mixes"))
#: row tooltips: the controls' concept texts (eegmi.concepts)
ROLE_TIPS = {"model": "The model itself.", "exact": concept_tip("control_exact"),
             "rotated": concept_tip("control_rotated"), "untrained": concept_tip("control_untrained"),
             "pca": concept_tip("control_pca")}


def _table(headers: list[str], tips: list[str]) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(0, len(headers))
    for j, (h, tip) in enumerate(zip(headers, tips, strict=True)):
        item = QtWidgets.QTableWidgetItem(h)
        item.setToolTip(tip)
        t.setHorizontalHeaderItem(j, item)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
    return t


def _set_row(t: QtWidgets.QTableWidget, i: int, cells: list[str], tip: str = "") -> None:
    for j, text in enumerate(cells):
        item = QtWidgets.QTableWidgetItem(text)
        if j > 0:
            item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                  | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if tip:
            item.setToolTip(tip)
        t.setItem(i, j, item)


class PickOptionsBar(QtWidgets.QWidget):
    """Input kind and count of the pick & interpolate test."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        d = PickInterpolateOptions()
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QtWidgets.QLabel("pick & interpolate on"))
        self.kind = QtWidgets.QComboBox()
        for key, text in INPUT_CHOICES:
            self.kind.addItem(text, key)
        self.kind.setCurrentIndex([k for k, _ in INPUT_CHOICES].index(d.inputs.kind))
        self.kind.setToolTip("Held-out frames: the model's validation split (frames it never "
                             "trained on), the default everywhere (CLI, panel, across-models "
                             "table). Random mixes: i.i.d. uniform electrode values in [0, 1].")
        lay.addWidget(self.kind)
        self.count = QtWidgets.QSpinBox()
        self.count.setRange(20, 100000)
        self.count.setValue(d.inputs.count)
        self.count.setToolTip("Number of inputs (fewer when the held-out set is smaller)")
        lay.addWidget(self.count)
        lay.addStretch(1)

    def options(self, data: str | None = None) -> PickInterpolateOptions:
        """The options these settings stand for (``data``: dataset of held-out frames)."""
        d = PickInterpolateOptions()
        spec = InputSpec(kind=self.kind.currentData(), count=int(self.count.value()),
                         seed=d.inputs.seed, data=data)
        return PickInterpolateOptions(inputs=spec, folds=d.folds, controls=d.controls,
                                      pca_frames=d.pca_frames, batch_size=d.batch_size)


class PickResultTable(QtWidgets.QWidget):
    """One model's pick & interpolate figures beside its controls."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.headline = QtWidgets.QLabel("pick & interpolate: run the analysis")
        self.headline.setWordWrap(True)
        self.headline.setToolTip("pick R², interpolate and alignment do not depend on the latent "
                                 "basis; axis alignment does")
        lay.addWidget(self.headline)
        self.table = _table(["network", "latents"] + [h for _, h, _ in COLUMNS],
                            ["model or control (hover a row)", "latent size"]
                            + [tip for _, _, tip in COLUMNS])
        # five rows (the model and its four controls): no scrolling, no empty space
        self.table.setMinimumHeight(200)
        self.table.setMaximumHeight(230)
        lay.addWidget(self.table)
        self.inputs = QtWidgets.QLabel("")
        self.inputs.setWordWrap(True)
        self.inputs.setToolTip("The inputs every number above was computed on")
        lay.addWidget(self.inputs)
        self.notes = QtWidgets.QLabel("")
        self.notes.setWordWrap(True)
        lay.addWidget(self.notes)
        lay.addStretch(1)

    def clear(self, text: str = "pick & interpolate: run the analysis") -> None:
        self.headline.setText(text)
        self.table.setRowCount(0)
        self.inputs.setText("")
        self.notes.setText("")

    def show_result(self, res: Any) -> None:
        """Fill from a :class:`PickInterpolateResult`."""
        m = res.model
        verdict = "passes" if m.headline_passed else "does not pass"
        self.headline.setText(
            f"<b>{res.label}</b>: pick R² {share(m.pick, 4)}, interpolate "
            f"{share(m.interpolate, 4)}, alignment {share(m.alignment)} "
            f"({m.shared_dims}/{m.n_electrodes} dims ρ≥0.9) — "
            f"{verdict} the headline bar {HEADLINE_BAR}. "
            f"Axis alignment (basis-dependent): {share(m.axis.score)}")
        rows = [m, *res.controls]
        self.table.setRowCount(len(rows))
        for i, s in enumerate(rows):
            r = s.row()
            _set_row(self.table, i, [s.label, str(s.latent_dim)] + [share(r[k], 4) for k, _, _ in COLUMNS],
                     f"{ROLE_TIPS.get(s.role, '')}\n{s.description}".strip())
        self.inputs.setText(f"inputs: {res.inputs['description']}")
        self.notes.setText("\n".join(f"note: {n}" for n in res.notes))


class PickComparisonTable(QtWidgets.QTableWidget):
    """The across-models table: each model's headline, axis alignment and two controls."""

    KEYS = ("pick_r2", "interpolate", "alignment", "axis_alignment", "reconstruction_r2")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        tips = dict((k, tip) for k, _, tip in COLUMNS)
        heads = dict((k, h) for k, h, _ in COLUMNS)
        headers = ["model", "kind", "latents"] + [heads[k] for k in self.KEYS] + [
            "untrained", "PCA-k"]
        htips = ["", "decoder-only models (E1) are not like-for-like: their latent is their input",
                 "latent size"] + [tips[k] for k in self.KEYS] + [
            "interpolate of the untrained control on the same inputs. " + concept_tip("control_untrained"),
            "interpolate of the PCA baseline on the same inputs. " + concept_tip("control_pca")]
        super().__init__(0, len(headers), parent)
        proto = _table(headers, htips)
        for j in range(len(headers)):
            self.setHorizontalHeaderItem(j, proto.horizontalHeaderItem(j).clone())
        proto.deleteLater()
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents)

    def show_results(self, results: list[Any]) -> None:
        self.setRowCount(len(results))
        for i, res in enumerate(results):
            r = res.row()
            cells = [res.label, r["kind"], str(r["latent_dim"])] + [share(r[k], 4) for k in self.KEYS]
            # the same digits as the single-model view: one number, one rendering
            cells += [share(r.get("untrained_interpolate"), 4), share(r.get("pca_interpolate"), 4)]
            _set_row(self, i, cells, f"inputs: {res.inputs['description']}\n" + "\n".join(res.notes))
