"""Scalp map panel: choose the input by clicking electrodes or browsing real frames.

Inject mode: a click sets a one-hot signal on that electrode, shift/ctrl-click
adds (or removes) electrodes, the wheel over an electrode or the spin box sets
its amplitude; the input is ``baseline + sum(amplitude * one_hot)``.  Dataset
mode: the frame slider and the trial strip pick a recorded frame.  The image
the model sees (after the injection layer) is shown beside the head.

Both are coloured by :func:`input_levels` (shared with the figure,
:mod:`eegmi.figures.panels.scalp`): [0, 1] widened to cover every value
shown (the electrodes' values on the map; those and the image's on the model
input) and, in inject mode, every injected amplitude, so amplitude 2 is drawn as
2 on a 0..2 bar rather than saturating at 1.  Amplitudes are limited to
:data:`eegmi.workbench.AMPLITUDE_RANGE`; the limit is written beside the amplitude
box, and a wheel turn or typed value beyond it says in the status line that it
was clipped.

The panel keeps no input of its own: every control writes the workbench state
(``session.workbench``) and every view follows ``session.input_changed``, so an
input chosen elsewhere (a propagation row, an SAE card, a loaded recording) shows
here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QStatusTipEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledSlider

from app.panels.base import Panel, forward_pending
from app.widgets.image_view import TopoImagePlot, make_layout
from app.widgets.scalp_map import ScalpMap, head_geometry
from eegmi.figures.panels.scalp import input_levels
from eegmi.workbench import AMPLITUDE_RANGE, BASELINES, MODES, InputState

__all__ = ["ScalpPanel", "input_levels", "limit_text"]

WHEEL_STEP = 0.1
AMP_RANGE = AMPLITUDE_RANGE
MODE_TEXT = {"inject": "Inject electrodes", "dataset": "Dataset frames"}
#: the amplitude box accepts more than the limit, so a typed value beyond it is
#: reported as clipped instead of being refused without a word
TYPED_RANGE = (-100.0, 100.0)


def limit_text(lo: float = AMP_RANGE[0], hi: float = AMP_RANGE[1]) -> str:
    """The amplitude limit as shown beside the box: ``±2`` or ``[lo, hi]``."""
    return f"±{hi:g}" if lo == -hi else f"[{lo:g}, {hi:g}]"


class ScalpPanel(Panel):
    """Scalp map + model input image (+ frame slider and trial strip in dataset mode)."""

    title = "Scalp map and input"

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self._trial_starts = np.zeros(1, dtype=np.int64)
        self._strip_key: tuple = ()

        self.mode = QComboBox()
        self.mode.addItems([MODE_TEXT[m] for m in MODES])
        self.baseline = QComboBox()
        self.baseline.addItems(list(BASELINES))
        self.amp = QDoubleSpinBox()
        self.amp.setRange(*TYPED_RANGE)
        self.amp.setSingleStep(WHEEL_STEP)
        self.amp.setKeyboardTracking(False)  # a typed value counts once typed, not per key
        self.amp.setValue(1.0)
        limit = limit_text()
        self.amp.setToolTip(f"amplitude of the selected electrode(s), limited to {limit} "
                            "(larger values are clipped to the limit); the mouse wheel over an "
                            f"electrode changes it by {WHEEL_STEP:g}")
        self.amp_limit = QLabel(f"limit {limit}")
        self.amp_limit.setToolTip(self.amp.toolTip())
        #: the last clip reported in the status line ("" when none)
        self.clip_message = ""
        self.reset_btn = QPushButton("Reset")
        self.selection_label = QLabel("")
        # two rows: the panel stays whole in a narrow side column (1280 px windows)
        top = QVBoxLayout()
        for widgets in ((QLabel("Input:"), self.mode, QLabel("Baseline:"), self.baseline),
                        (QLabel("Amplitude:"), self.amp, self.amp_limit, self.reset_btn)):
            row = QHBoxLayout()
            for w in widgets:
                row.addWidget(w)
            row.addStretch(1)
            top.addLayout(row)

        self.scalp = ScalpMap()
        self.view = make_layout()
        self.input_plot = TopoImagePlot(self.view, "Model input")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.scalp)
        split.addWidget(self.view)

        self.slider = QLabeledSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.strip = pg.PlotWidget()
        self.strip.setMaximumHeight(110)
        # squeezed further its axis labels overlap: the dock scrolls instead
        self.strip.setMinimumHeight(90)
        self.strip.setMenuEnabled(False)
        self.strip.setMouseEnabled(False, False)
        self.strip.hideButtons()
        self.strip.setLabel("bottom", "time in trial", units="s")
        self.gfp_curve = self.strip.plot(pen=pg.mkPen((120, 120, 120), width=1))
        self.chan_curve = self.strip.plot(pen=pg.mkPen((230, 120, 0), width=1.5))
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen((200, 0, 0), width=2))
        self.strip.addItem(self.cursor)
        self.frame_label = QLabel("")
        self.dataset_box = QWidget()
        dl = QVBoxLayout(self.dataset_box)
        dl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Frame:"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.frame_label)
        dl.addLayout(row)
        dl.addWidget(self.strip)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.selection_label)
        lay.addWidget(self.dataset_box)

        self.scalp.electrodeClicked.connect(self._on_click)
        self.scalp.electrodeWheel.connect(self._on_wheel)
        self.scalp.electrodeHovered.connect(self._on_hover)
        self.amp.valueChanged.connect(self._on_amp)
        self.reset_btn.clicked.connect(self.reset_input)
        self.mode.activated.connect(self._on_mode)
        self.baseline.activated.connect(self._on_baseline)
        self.slider.valueChanged.connect(self._on_slider)
        self.cursor.sigPositionChangeFinished.connect(self._on_cursor)
        session.forward_ready.connect(self._on_forward)
        session.model_changed.connect(self._on_geometry)
        session.data_changed.connect(self._on_data)
        session.input_changed.connect(self._on_input)
        self._on_geometry()
        self._on_data()
        self._on_input(session.input)

    # -- the input, as the workbench holds it ---------------------------------------
    @property
    def workbench(self) -> Any:
        return self.session.workbench

    @property
    def mix(self) -> dict[int, float]:
        """Injected electrodes shown on the map: index -> amplitude (empty for a frame)."""
        state = self.session.input
        if state.mode != "inject":
            return {}
        names = [c.lower() for c in self.session.operator.montage.ch_names]
        return {names.index(k.lower()): float(v) for k, v in state.mix.items()
                if k.lower() in names}

    # -- public actions (also used by shortcuts) ---------------------------------
    def reset_input(self) -> None:
        """Clear injected electrodes and go back to the baseline input."""
        self.workbench.reset_input()

    def step_frame(self, step: int) -> None:
        """Move ``step`` frames in dataset mode (switching to it if needed)."""
        if self.session.data is not None:
            self.workbench.step_frame(step)

    def click_electrode(self, index: int, add: bool = False) -> None:
        """What a click on electrode ``index`` does (``add`` = shift/ctrl held)."""
        self.workbench.click(index, add)

    # -- handlers ----------------------------------------------------------------
    def _on_click(self, index: int, modifiers: int) -> None:
        mods = Qt.KeyboardModifier(modifiers)
        add = bool(mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
        self.click_electrode(index, add)

    def _on_wheel(self, index: int, steps: int) -> None:
        state = self.session.input
        name = self.session.operator.montage.ch_names[index]
        now = state.mix.get(name, 0.0) if state.mode == "inject" else 0.0
        self._report_clip(f"{name} amplitude", now + WHEEL_STEP * steps)
        self.workbench.nudge(index, WHEEL_STEP * steps)

    def _on_amp(self, value: float) -> None:
        self._report_clip("amplitude", value)
        self.workbench.set_amplitude(value)

    def _report_clip(self, what: str, wanted: float) -> None:
        """Say in the window's status line when ``wanted`` lies beyond the amplitude limit."""
        lo, hi = AMP_RANGE
        if lo - 1e-9 <= wanted <= hi + 1e-9:
            return
        clipped = min(max(wanted, lo), hi)
        self.clip_message = (f"{what} {wanted:+.2f} clipped to {clipped:+g} "
                             f"(amplitudes are limited to {limit_text()})")
        # a status tip travels up to the main window, which shows it in its status bar
        QApplication.sendEvent(self, QStatusTipEvent(self.clip_message))

    def _on_hover(self, index: int) -> None:
        # the pointer rests on an electrode: let the worker compute what a plain click
        # there would show, so the click itself only has to paint
        if index >= 0:
            state = self.session.input
            click = InputState(mode="inject", mix={self.session.operator.montage.ch_names[index]:
                                                   state.amplitude}, baseline=state.baseline)
            self.session.prefetch(self.workbench.values_for(click))

    def _on_mode(self, index: int) -> None:
        mode = MODES[index]
        if mode == "dataset" and self.session.data is None:
            self._on_input(self.session.input)  # nothing to show: the box goes back
            self.session.error.emit("no dataset loaded: load data first (File › Open data…)")
            return
        self.workbench.set_mode(mode)

    def _on_baseline(self, index: int) -> None:
        self.workbench.set_baseline(BASELINES[index])

    def _on_slider(self, value: int) -> None:
        if self.session.data is None:
            return
        if value != self.session.input.frame or self.session.input.mode != "dataset":
            self.workbench.set_frame(value)

    def _on_cursor(self) -> None:
        seg = self._segment(self.slider.value())
        offset = round(self.cursor.value() * float(self.session.data.sfreq))  # seconds -> frames
        self.slider.setValue(int(np.clip(seg[0] + offset, seg[0], seg[1] - 1)))

    def _on_input(self, state: InputState) -> None:
        """Every control shows the workbench's input (whoever changed it)."""
        for box, text in ((self.mode, MODE_TEXT[state.mode]), (self.baseline, state.baseline)):
            if box.currentText() != text:
                box.blockSignals(True)
                box.setCurrentText(text)
                box.blockSignals(False)
        if abs(self.amp.value() - state.amplitude) > 1e-9:
            self.amp.blockSignals(True)
            self.amp.setValue(state.amplitude)
            self.amp.blockSignals(False)
        self.dataset_box.setVisible(state.mode == "dataset")
        if self.session.data is not None and self.slider.value() != state.frame:
            self.slider.blockSignals(True)
            self.slider.setValue(state.frame)
            self.slider.blockSignals(False)
        self._update_strip(self.slider.value())
        # the map, the markers and the footer follow in _on_forward, painted in the same
        # pass as every grid: painting now would hold the GIL the worker needs for the input

    def _on_geometry(self) -> None:
        op = self.session.operator
        center, radius = head_geometry(op)
        self.scalp.set_geometry(list(op.montage.ch_names), op.electrode_xy, center, radius)
        self.input_plot.set_head(center, radius)
        self.scalp.set_values(self.session.values, self.mix)
        adapter = self.session.adapter
        inj = None if adapter is None else adapter.injection
        self.input_plot.set_marks(inj.mark_mask if inj is not None and inj.config.marks else None)

    def _on_data(self) -> None:
        data = self.session.data
        if data is None:
            self.slider.setRange(0, 0)
            return
        key = np.asarray(data.subject, dtype=np.int64) * 1_000_003 + np.asarray(data.trial, dtype=np.int64)
        self._trial_starts = np.concatenate([[0], np.nonzero(np.diff(key))[0] + 1])
        self.slider.blockSignals(True)
        self.slider.setRange(0, data.n_frames - 1)
        self.slider.setValue(min(self.session.input.frame, data.n_frames - 1))
        self.slider.blockSignals(False)
        self._strip_key = ()
        self._update_strip(self.slider.value())

    def _segment(self, frame: int) -> tuple[int, int]:
        starts = self._trial_starts
        k = int(np.searchsorted(starts, frame, side="right") - 1)
        end = int(starts[k + 1]) if k + 1 < len(starts) else int(self.session.data.n_frames)
        return int(starts[k]), end

    def _update_strip(self, frame: int) -> None:
        data = self.session.data
        if data is None:
            return
        lo, hi = self._segment(frame)
        chan = next(iter(self.mix), 0)
        key = (id(data), lo, hi, chan)
        if key != self._strip_key:
            # curves are rebuilt only when the trial (or channel) changes; moving within
            # a trial only moves the cursor
            self._strip_key = key
            seg = np.asarray(data.values[lo:hi], dtype=np.float32)
            unit = str(data.provenance.get("units") or "")
            if not unit and self.session.scaler is not None:  # no physical unit: what the model sees
                seg = np.asarray(self.session.scaler.transform(seg), dtype=np.float32)
            t = np.arange(hi - lo, dtype=np.float64) / float(data.sfreq)
            self.gfp_curve.setData(t, seg.std(axis=1))
            self.chan_curve.setData(t, seg[:, chan] - seg[:, chan].mean())
            self.strip.setLabel("left", "µV" if unit.lower() in ("uv", "µv") else (unit or "scaled units"))
            name = self.session.operator.montage.ch_names[chan]
            self.strip.setTitle(f"<span style='color:#888'>GFP (std over channels)</span>"
                                f" &nbsp; <span style='color:#e67800'>{name} (demeaned)</span>",
                                size="8pt")
        self.cursor.blockSignals(True)
        self.cursor.setValue((frame - lo) / float(data.sfreq))
        self.cursor.blockSignals(False)
        self.frame_label.setText(
            f"subject {int(data.subject[frame])} trial {int(data.trial[frame])} "
            f"t={(frame - lo) / data.sfreq:.2f}s")

    def _on_forward(self, result: Any) -> None:
        state = self.session.input
        self.selection_label.setText(state.describe())
        values = result.values if result.values is not None else self.session.values
        amps = list(state.mix.values()) if state.mode == "inject" else []
        # the image covers its own values too (interpolation undershoots between
        # electrodes); the map only the electrodes', so a plain click keeps its scale and
        # repaints two markers, not all of them
        self.input_plot.set_image(result.model_input, levels=input_levels([values, result.model_input], amps))
        mix = self.mix
        self.scalp.set_values(values, mix, input_levels([values], amps))
        op = self.session.operator
        idx = list(mix)
        self.input_plot.set_markers(np.asarray(op.electrode_xy)[idx] if idx else None)

    # -- export --------------------------------------------------------------------
    def export_items(self) -> dict[str, object]:
        res = self.session.last_forward
        items: dict[str, object] = {
            "values": np.asarray(self.session.values, dtype=np.float32),
            "channels": list(self.session.operator.montage.ch_names),
            "electrode_xy": np.asarray(self.session.operator.electrode_xy, dtype=np.float32),
        }
        if res is not None:
            items["image"] = res.image
            items["model_input"] = res.model_input
        return items

    def state(self) -> dict:
        names = self.session.operator.montage.ch_names
        st = dict(self.session.state())
        st.update(panel="scalp", mode=self.mode.currentText(),
                  mix={names[i]: float(a) for i, a in self.mix.items()})
        return st

    # -- the figure (eegmi.figures.panels.scalp) ---------------------------------------
    def figure_pending(self) -> str:
        return forward_pending(self.session, self.session.last_forward)

    def figure_data(self) -> dict[str, Any]:
        """Input topomap, model input, levels and electrodes of the forward pass shown."""
        from eegmi.figures.panels.scalp import data_from

        return data_from(self.session.last_forward, self.session.operator, self.session.input)

    def figure_state(self) -> dict[str, Any]:
        from eegmi.figures.panel import figure_state

        return figure_state("scalp", self.title, self.session.state(), None, {},
                            {"width_in": 7.0, "height_in": 3.6})

    def set_dark(self, dark: bool) -> None:
        super().set_dark(dark)
        self.scalp.set_dark(dark)
