"""Training panel: run a preset on the session's data with live curves.

The training job (``eegmi.training.loop.train``) is a generator of
:class:`~eegmi.jobs.Progress` submitted with ``session.submit``; the panel follows
its :class:`app.jobs.JobHandle`:

* the loop reports after every batch (fraction of the run's batches, ETA), so the
  bar moves within an epoch and pause and cancel act within a batch;
* pause parks the job at its next report (the worker stays free for clicks and
  slider drags while a run is paused), and resume queues it again;
* cancel sets the job's token (the loop stops before its next batch) and the worker
  closes the generator on its thread, so its ``finally`` blocks run;
* a cancelled run can be continued with ``train(..., resume=True)`` from the
  checkpoint folder: it restarts the interrupted epoch from the last saved one.

"Frames" trains on a subset of the loaded data (``data.max_frames``; 0 = all): drawn
reproducibly from the split seed, spread over train/val/test in proportion, and
recorded in the model card (``split.max_frames`` and ``split.sizes``).

Every per-epoch payload (``epoch, train_loss, val_loss, val_mse, val_mae,
val_ssim, val_ssim_head``: validation figures only, the split training decides on)
adds one point to each curve.  The test split is scored once, when the run ends;
its figures appear in the status line then and in the model card.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.jobs import JobHandle
from app.widgets.curves import CurvePlot
from eegmi.errors import ConfigError
from eegmi.figures.panel import figure_state
from eegmi.figures.panels import training as training_figure
from eegmi.jobs import CancelToken, format_eta
from eegmi.training.experiments import PRESETS

PRESET_NAMES: tuple[str, ...] = PRESETS

TrainFn = Callable[..., Any]


def _default_train(experiment: Any, data: Any, out_dir: Path, resume: bool = False,
                   cancel: CancelToken | None = None) -> Any:
    from eegmi.training.loop import train

    return train(experiment, data, out_dir, resume=resume, cancel=cancel)


def _default_loader(name: str) -> Any:
    from eegmi.training.experiments import load_experiment

    return load_experiment(name)


class TrainingPanel(QtWidgets.QWidget):
    """Choose a preset, epochs and output folder; start/pause/resume/cancel; live curves.

    Parameters
    ----------
    session
        ``app.session.Session`` (``worker``, ``data``, ``data_name``, ``set_model``).
    train_fn
        ``train(experiment, data, out_dir, resume=, cancel=) -> Job``; defaults to
        :func:`eegmi.training.loop.train` (tests pass a tiny configuration through
        ``experiment_loader`` instead of changing this).
    experiment_loader
        ``name -> ExperimentConfig``; defaults to
        :func:`eegmi.training.experiments.load_experiment`.
    """

    title = "Training"
    epoch_done = QtCore.Signal(dict)
    run_finished = QtCore.Signal(str)  # "done" | "cancelled" | "failed"
    state_changed = QtCore.Signal(str)

    def __init__(self, session: Any, parent: QtWidgets.QWidget | None = None,
                 train_fn: TrainFn | None = None,
                 experiment_loader: Callable[[str], Any] | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.train_fn = train_fn or _default_train
        self.experiment_loader = experiment_loader or _default_loader
        self.run_state = "idle"  # idle | running | pausing | paused | cancelling | done | cancelled | failed
        self.history: list[dict] = []
        self.result: Any = None
        self.experiment: Any = None
        self.out_dir: Path | None = None
        self.handle: JobHandle | None = None
        self._build_ui()
        if hasattr(session, "data_changed"):
            session.data_changed.connect(self._update_data_label)
        self._update_data_label()
        self._set_state("idle")

    # ---- construction ----------------------------------------------------
    def _build_ui(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        form_host = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(form_host)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(PRESET_NAMES)
        self.preset.setCurrentText("E3")
        self.preset.currentTextChanged.connect(self._on_preset)
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(5)
        self.frames = QtWidgets.QSpinBox()
        self.frames.setRange(0, 0)
        self.frames.setSpecialValueText("all")
        self.frames.setToolTip("How many frames of the loaded data to train on (a "
                               "reproducible subset, recorded in the model card); "
                               "'all' uses every frame")
        self.data_label = QtWidgets.QLabel()
        self.out_edit = QtWidgets.QLineEdit(str(Path.cwd() / "runs" / "E3"))
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        out_row = QtWidgets.QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        form.addRow("Preset", self.preset)
        form.addRow("Epochs", self.epochs)
        form.addRow("Data", self.data_label)
        form.addRow("Frames", self.frames)
        form.addRow("Output folder", out_row)
        buttons = QtWidgets.QGridLayout()
        self.start_button = QtWidgets.QPushButton("Start")
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.resume_button = QtWidgets.QPushButton("Resume from checkpoint")
        self.open_button = QtWidgets.QPushButton("Open in workbench")
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.open_button.clicked.connect(self.open_in_workbench)
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.cancel_button, 0, 2)
        buttons.addWidget(self.resume_button, 1, 0, 1, 2)
        buttons.addWidget(self.open_button, 1, 2)
        form.addRow(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        form.addRow(self.progress)
        self.eta_label = QtWidgets.QLabel("")
        form.addRow("Time left", self.eta_label)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        outer.addWidget(form_host, 2)
        self.loss_plot = CurvePlot(["train_loss", "val_loss"], "Loss", "loss", log_y=True)
        self.error_plot = CurvePlot(["val_mse", "val_mae"], "Validation error", "error",
                                    log_y=True)
        self.ssim_plot = CurvePlot(["val_ssim", "val_ssim_head"],
                                   "Validation SSIM (whole image, head disc)", "SSIM")
        for plot in (self.loss_plot, self.error_plot, self.ssim_plot):
            plot.setMinimumWidth(200)
            outer.addWidget(plot, 3)

    def _on_preset(self, name: str) -> None:
        self.out_edit.setText(str(Path(self.out_edit.text()).parent / name))

    def _browse(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if path:
            self.out_edit.setText(path)

    def _update_data_label(self) -> None:
        data = getattr(self.session, "data", None)
        if data is None:
            self.data_label.setText("no dataset loaded")
            self.frames.setRange(0, 0)
        else:
            name = getattr(self.session, "data_name", "") or "current"
            self.data_label.setText(f"{name} ({data.n_frames} frames)")
            self.frames.setMaximum(int(data.n_frames))

    def _set_state(self, state: str) -> None:
        self.run_state = state
        active = state in ("running", "pausing", "paused")
        self.start_button.setEnabled(not active and state != "cancelling")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.cancel_button.setEnabled(active)
        self.resume_button.setEnabled(state in ("cancelled", "failed") and self.out_dir is not None)
        self.open_button.setEnabled(state == "done")
        for w in (self.preset, self.epochs, self.frames, self.out_edit):
            w.setEnabled(not active and state != "cancelling")
        self.state_changed.emit(state)

    # ---- run control -------------------------------------------------------
    def start(self, resume: bool = False) -> None:
        """Start a run (``resume``: continue the checkpoint in the output folder)."""
        if self.run_state in ("running", "pausing", "paused", "cancelling"):
            return
        data = getattr(self.session, "data", None)
        if data is None:
            self.status.setText("load a dataset first")
            return
        try:
            exp = self.experiment_loader(self.preset.currentText())
            exp.training.epochs = int(self.epochs.value())
            exp.data.max_frames = int(self.frames.value())
            exp.validate()
        except Exception as exc:  # noqa: BLE001 - a bad preset is shown, not raised
            self.status.setText(f"cannot start: {exc}")
            return
        self.experiment = exp
        self.out_dir = Path(self.out_edit.text()).expanduser()
        if not resume:
            self.history.clear()
            for plot in (self.loss_plot, self.error_plot, self.ssim_plot):
                plot.clear_points()
        self.result = None
        self.eta_label.setText("measuring…")
        train_fn, out_dir = self.train_fn, self.out_dir
        handle = self.session.submit(
            lambda token: train_fn(exp, data, out_dir, resume=resume, cancel=token),
            f"train {exp.name}")
        self.handle = handle
        handle.progress.connect(self._on_report)
        handle.paused.connect(self._on_paused)
        handle.finished.connect(self._on_finished)
        handle.failed.connect(self._on_failed)
        handle.cancelled.connect(self._on_cancelled)
        frames = (f"{exp.data.max_frames} of {data.n_frames}" if exp.data.max_frames
                  else f"all {data.n_frames}")
        self.status.setText(f"{'resuming' if resume else 'training'} {exp.name} "
                            f"for {exp.training.epochs} epochs on {frames} frames "
                            f"into {self.out_dir}")
        self._set_state("running")

    def toggle_pause(self) -> None:
        """Pause at the next progress report, or resume a paused run."""
        if self.handle is None:
            return
        if self.run_state == "running":
            if self.handle.pause():
                self._set_state("pausing")
                self.status.setText("pausing after the current batch…")
        elif self.run_state in ("pausing", "paused") and self.handle.resume():
            self._set_state("running")
            self.status.setText("training")

    def cancel(self) -> None:
        """Stop the run; the checkpoint folder keeps what was saved so far."""
        if self.run_state not in ("running", "pausing", "paused") or self.handle is None:
            return
        self._set_state("cancelling")  # the running step returns soon
        self.handle.cancel()

    def open_in_workbench(self) -> None:
        """Load the finished model into the session."""
        if self.out_dir is not None:
            self.session.set_model(str(self.out_dir))

    def _finish(self, state: str, message: str) -> None:
        self.handle = None
        self.eta_label.setText("")
        self._set_state(state)
        self.status.setText(message)
        self.run_finished.emit(state)

    # ---- job events (this run's handle only) ---------------------------------------
    def _on_paused(self) -> None:
        self._set_state("paused")
        self.status.setText("paused")

    def _on_finished(self, result: Any) -> None:
        self.result = result
        self.progress.setValue(self.progress.maximum())
        self._finish("done", f"finished: model saved in {self.out_dir}"
                     f"{_test_summary(getattr(result, 'metrics', None))}")

    def _on_failed(self, message: str) -> None:
        self._finish("failed", f"training failed: {message}")

    def _on_cancelled(self) -> None:
        self._finish("cancelled", "cancelled; 'Resume from checkpoint' continues the run")

    def _on_report(self, report: Any) -> None:
        frac = report.fraction
        if frac is not None:
            self.progress.setValue(int(frac * self.progress.maximum()))
        payload = dict(report.payload or {})
        eta = payload.get("eta_s")
        if isinstance(eta, int | float) and math.isfinite(eta):
            self.eta_label.setText(format_eta(eta))
        if "epoch" not in payload:
            if report.message and self.run_state == "running":
                self.status.setText(report.message)
            return
        self.history.append(payload)
        x = float(payload["epoch"])
        for plot in (self.loss_plot, self.error_plot, self.ssim_plot):
            for name in plot.names:
                plot.add_point(name, x, payload.get(name))
        parts = [f"epoch {payload['epoch']}"] + [
            f"{k} {payload[k]:.4g}" for k in ("train_loss", "val_loss", "val_ssim",
                                               "val_ssim_head", "best_epoch")
            if isinstance(payload.get(k), int | float) and math.isfinite(payload[k])]
        self.status.setText("  ".join(parts))
        self.epoch_done.emit(payload)

    # ---- export contract ---------------------------------------------------
    def export_items(self) -> dict[str, object]:
        """The curves: one array per metric over epochs."""
        keys = sorted({k for h in self.history for k, v in h.items()
                       if isinstance(v, int | float)})
        return {k: np.array([h.get(k, np.nan) for h in self.history], dtype=float) for k in keys}

    def figure_view(self) -> dict[str, Any]:
        """What names the run: its folder (the figure re-reads its ``history.jsonl``),
        preset, experiment settings, data and frames."""
        exp = self.experiment
        return {"run_dir": None if self.out_dir is None else str(self.out_dir),
                "name": getattr(exp, "name", None) or self.preset.currentText(),
                "preset": self.preset.currentText(),
                "experiment": exp.to_dict() if exp is not None and hasattr(exp, "to_dict") else None,
                "data": str(getattr(self.session, "data_name", "") or ""),
                "max_frames": int(exp.data.max_frames) if exp is not None else None,
                "run_state": self.run_state}

    def figure_data(self) -> dict[str, Any]:
        """The curves shown and, once the run ended, its test figures
        (:func:`eegmi.figures.panels.training.data_from_history`)."""
        if not self.history:
            raise ConfigError(training_figure.NOT_TRAINED)
        return training_figure.data_from_history(self.history,
                                                 getattr(self.result, "metrics", None))

    def figure_state(self) -> dict[str, Any]:
        """The figure state: the session, and the run folder and settings in the view."""
        if not self.history or self.out_dir is None:
            raise ConfigError(training_figure.NOT_TRAINED)
        return figure_state("training", self.title, self.session.state(), view=self.figure_view(),
                            render={"height_in": training_figure.HEIGHT_IN})

    def state(self) -> dict:
        """Preset, settings and output folder of the run shown."""
        exp = self.experiment
        return {
            "panel": "training",
            "preset": self.preset.currentText(),
            "epochs": int(self.epochs.value()),
            "max_frames": int(self.frames.value()),
            "experiment": exp.to_dict() if exp is not None and hasattr(exp, "to_dict") else None,
            "data": str(getattr(self.session, "data_name", "")),
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            "run_state": self.run_state,
        }


def _test_summary(metrics: Any) -> str:
    """The run's one test-split evaluation, for the status line."""
    if not isinstance(metrics, dict) or "test_mse" not in metrics:
        return ""
    return (f" (best epoch {metrics.get('best_epoch')}; test, scored once: "
            f"MSE {metrics['test_mse']:.3g}, SSIM {metrics['test_ssim']:.4f}, "
            f"head-disc SSIM {metrics['test_ssim_head']:.4f})")
