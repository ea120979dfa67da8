"""GUI soak: N seeded random user actions on the real workbench window, offscreen.

A random user clicks electrodes (plain and shift-clicks), hovers and turns the
wheel over them, drags the latent and frame sliders, presses the frame keys,
raises dock tabs, switches models (E1..E5, the decoder-only E1 included, and
"(no model)"), switches data (synthetic, a small generated ``.npz``, a broken
file, a missing file), starts and cancels analysis jobs (propagation,
comparison, eigenspectra, saliency, sanity check, SAE training, training),
exports panels through File > Export and through the right-click menu into a
temporary folder, toggles the activations view, switches the theme and closes
error messages.  Modal dialogs and menus are answered by a timer as a user
would; error messages stay open (they are non-modal) until a random action
closes them.

Printed JSON (last line):

* ``crashes``: the soak process died (signal, abort) or hung (an action or the
  final wait ran past its watchdog); measured by a parent process.
* ``uncaught_exceptions``: exceptions that reached ``sys.excepthook`` (slots
  run by Qt) or escaped an action, plus Qt critical/fatal messages; the first
  ones are listed.
* ``rss_growth_mb_per_1000_actions``: least-squares slope of the process RSS
  sampled every ``--sample-every`` actions after the warm-up, each time in the same
  state (jobs cancelled, synthetic data, E3 freshly loaded, the worker idle and
  then quiet for ``app.worker.QUIET_TRIM_S``, when it hands freed memory back, as
  for a user who pauses).  The warm-up starts with a tour (every model,
  every action, every job run to its end once), so one-time costs such as lazy
  imports and first-use caches are not counted as growth.
* ``top_level_widget_growth``: ``QApplication.topLevelWidgets()`` at the end
  minus after the warm-up (same state, deferred deletions flushed first), with the
  classes that grew; the menus and control widgets of pyqtgraph plots still alive
  are not counted (a panel that has shown a result keeps its plots).

Usage: ``python benchmarks/gui_soak.py [--actions 3000] [--seed 0]``; the last
line is JSON.  ``--in-process`` runs without the parent (no crash detection).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

#: seconds one action (and the event processing after it) may take before the soak
#: counts a hang; a cancelled job stops within a progress report
ACTION_WATCHDOG_S = 120
Qt = QtCore.Qt


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def spin(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds (it sleeps in C++, so the worker runs)."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(max(0, int(ms)), loop.quit)
    loop.exec()


def flush_deletions() -> None:
    """Delete what ``deleteLater`` scheduled (and what the garbage collector frees)."""
    for _ in range(3):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        QtCore.QCoreApplication.processEvents()
        gc.collect()


def _live_plot_windows() -> set[int]:
    """Top-level widgets that belong to pyqtgraph plots still alive: their context menus
    (popup windows even with a parent) and parentless control widgets. A plot a panel
    shows after a job finishes brings them; they are part of the display, not a leak
    (a leaked plot shows up in the RSS figure instead)."""
    import pyqtgraph as pg
    import shiboken6

    roots: list[QtWidgets.QWidget] = []
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: that touches deprecated module attributes
        if issubclass(kind, pg.ViewBox) and getattr(obj, "menu", None) is not None:
            roots.append(obj.menu)
        elif issubclass(kind, pg.PlotItem):
            roots += [w for w in (getattr(obj, "ctrlMenu", None), getattr(obj, "ctrlWidget", None))
                      if w is not None]
    owned: set[int] = set()
    for root in roots:
        if not shiboken6.isValid(root):
            continue
        for w in [root, *root.findChildren(QtWidgets.QWidget)]:
            owned.add(shiboken6.getCppPointer(w)[0])
        for action in root.findChildren(QtWidgets.QWidgetAction):
            if action.defaultWidget() is not None:
                owned.add(shiboken6.getCppPointer(action.defaultWidget())[0])
    return owned


def top_level_counts() -> collections.Counter:
    """Top-level widgets by class, less those of live pyqtgraph plots."""
    import shiboken6

    flush_deletions()
    live = _live_plot_windows()
    return collections.Counter(type(w).__name__ for w in QtWidgets.QApplication.topLevelWidgets()
                               if shiboken6.getCppPointer(w)[0] not in live)


def write_soak_data(folder: Path, n_frames: int = 120, seed: int = 0) -> dict[str, Path]:
    """A small random-walk recording (``.npz``) and a broken ``.npz`` to open."""
    from eegmi.data.loaders import save_npz
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData

    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=(n_frames, 32)), axis=0).astype(np.float32) * 5.0
    data = EEGData(values, tuple(DEAP_CHANNELS), 128.0, np.zeros(n_frames, np.int16),
                   np.repeat(np.arange(n_frames // 20), 20).astype(np.int32)[:n_frames])
    good = save_npz(data, folder / "soak.npz")
    broken = folder / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip file")
    return {"npz": good, "broken": broken, "missing": folder / "no_such_file.npz"}


class Recorder:
    """Counts uncaught exceptions (``sys.excepthook``) and Qt critical/fatal messages."""

    def __init__(self) -> None:
        self.exceptions: list[str] = []
        self.qt_warnings: collections.Counter = collections.Counter()
        self._old_hook = sys.excepthook
        self.action = ""

    def install(self) -> None:
        sys.excepthook = self._hook
        QtCore.qInstallMessageHandler(self._qt_message)

    def uninstall(self) -> None:
        sys.excepthook = self._old_hook
        QtCore.qInstallMessageHandler(None)

    def _hook(self, etype: type, value: BaseException, tb: Any) -> None:
        self.record(etype, value, tb)

    def record(self, etype: type, value: BaseException, tb: Any) -> None:
        where = traceback.extract_tb(tb)[-1] if tb is not None else None
        at = f" at {Path(where.filename).name}:{where.lineno} {where.name}" if where else ""
        self.exceptions.append(f"{etype.__name__}: {value}{at} (action {self.action})")
        sys.stderr.write(f"gui_soak: uncaught during {self.action}\n")
        traceback.print_exception(etype, value, tb, file=sys.stderr)

    def _qt_message(self, mode: Any, _context: Any, message: str) -> None:
        if mode in (QtCore.QtMsgType.QtCriticalMsg, QtCore.QtMsgType.QtFatalMsg):
            self.exceptions.append(f"Qt {mode.name}: {message} (action {self.action})")
        elif mode == QtCore.QtMsgType.QtWarningMsg:
            self.qt_warnings[message[:120]] += 1


class Soak:
    """Drives a shown :class:`app.main_window.MainWindow` with random user actions.

    Parameters
    ----------
    window
        The real window, shown (offscreen is fine).
    folder
        Temporary folder for the generated data files, exports and training runs.
    seed
        Seed of the action sequence.
    """

    def __init__(self, window: Any, folder: Path, seed: int = 0) -> None:
        from app.sources import bundled_models

        self.w = window
        self.s = window.session
        self.folder = Path(folder)
        self.files = write_soak_data(self.folder)
        self.rng = np.random.default_rng(seed)
        self.models = bundled_models()
        self.recorder = Recorder()
        self.done: collections.Counter = collections.Counter()
        self.exports = 0
        self._modal_handled = 0
        self.actions = [
            (20, self.click_electrode), (4, self.hover_electrode), (3, self.wheel_electrode),
            (8, self.drag_latent), (5, self.drag_frame), (4, self.press_key),
            (8, self.switch_tab), (6, self.switch_model), (4, self.switch_data),
            (1, self.open_missing_model), (8, self.start_job), (7, self.cancel_job),
            (3, self.export_from_menu), (3, self.export_from_context_menu),
            (2, self.switch_theme), (6, self.toggle_activations), (3, self.latent_buttons),
            (2, self.close_error), (1, self.reset_layout), (2, self.pick_saliency_target),
            (3, self.pause),
        ]
        weights = np.array([w for w, _ in self.actions], dtype=float)
        self.p = weights / weights.sum()

    # -- helpers ---------------------------------------------------------------------------
    def _choice(self, seq: list[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def panel(self, name: str) -> Any:
        return self.w.panels.get(name)

    def _click(self, button: QtWidgets.QAbstractButton) -> None:
        if button.isEnabled():
            if not button.isVisible():
                button.click()  # a covered tab: as if the user raised it first
            else:
                QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    def _answer_modal(self, handler: Any, tries: int = 50) -> None:
        """Call ``handler(widget)`` on the modal dialog or popup once it is open."""

        def attempt(left: int) -> None:
            widget = (QtWidgets.QApplication.activePopupWidget()
                      or QtWidgets.QApplication.activeModalWidget())
            if widget is not None:
                self._modal_handled += 1
                handler(widget)
            elif left > 0:
                QtCore.QTimer.singleShot(10, lambda: attempt(left - 1))

        QtCore.QTimer.singleShot(0, lambda: attempt(tries))

    def idle(self) -> bool:
        worker = self.s.worker
        training = self.panel("training")
        return (worker.running() is None and worker.pending() == 0
                and (training is None or training.handle is None))

    def quiesce(self, timeout_s: float = 60.0) -> None:
        """Cancel every job and wait until the worker is idle (before a measurement)."""
        self.cancel_everything()
        deadline = time.monotonic() + timeout_s
        while not self.idle() and time.monotonic() < deadline:
            spin(20)
        spin(30)

    def normalise(self, model: str = "E3", timeout_s: float = 120.0) -> None:
        """Bring the window to one state before a measurement: jobs cancelled, synthetic
        data, ``model`` freshly loaded (no job results kept), the worker idle, and then
        idle for its quiet spell (``app.worker.QUIET_TRIM_S``), after which it hands
        freed memory back as it does for a user who pauses.

        Memory and widgets legitimately depend on the state (E1 has fewer activation
        plots than E3; a panel keeps its last job's result), so growth is only growth
        when compared in the same state.
        """
        from app.sources import NO_MODEL

        self.quiesce()
        if self.s.data_name != "synthetic":
            self.w.open_data("synthetic")
        self.w.model_box.setCurrentIndex(self.w.model_box.findText(NO_MODEL))
        self.w.model_box.activated.emit(self.w.model_box.currentIndex())
        self.quiesce()
        if model in self.models:
            self.w.open_model(model)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (
                self.idle() and self.s.data_name == "synthetic"
                and (model not in self.models or self.s.model_name == model)):
            spin(20)
        self.quiesce()
        from app.worker import QUIET_TRIM_S

        gc.collect()  # what a pause frees, before the worker's quiet-spell trim
        trims, deadline = self.s.worker.quiet_trims, time.monotonic() + QUIET_TRIM_S + 10.0
        while self.s.worker.quiet_trims == trims and time.monotonic() < deadline:
            spin(50)

    def cancel_everything(self) -> None:
        for name in ("propagation", "spectra", "saliency", "sae", "training"):
            p = self.panel(name)
            if p is not None and hasattr(p, "cancel"):
                p.cancel()
        self.w.cancel_job()

    # -- actions -----------------------------------------------------------------------------
    def click_electrode(self) -> None:
        scalp = self.panel("scalp").scalp
        i = int(self.rng.integers(len(scalp.names)))
        mods = (Qt.KeyboardModifier.ShiftModifier if self.rng.random() < 0.2
                else Qt.KeyboardModifier.NoModifier)
        QTest.mouseClick(scalp, Qt.MouseButton.LeftButton, mods, scalp.electrode_pos(i).toPoint())

    def hover_electrode(self) -> None:
        scalp = self.panel("scalp").scalp
        i = int(self.rng.integers(len(scalp.names)))
        QTest.mouseMove(scalp, scalp.electrode_pos(i).toPoint())

    def wheel_electrode(self) -> None:
        scalp = self.panel("scalp").scalp
        i = int(self.rng.integers(len(scalp.names)))
        pos = scalp.electrode_pos(i)
        delta = int(self._choice([-240, -120, 120, 240]))
        ev = QtGui.QWheelEvent(pos, scalp.mapToGlobal(pos), QtCore.QPoint(),
                               QtCore.QPoint(0, delta), Qt.MouseButton.NoButton,
                               Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(scalp, ev)

    def _drag(self, set_value: Any, lo: float, hi: float, alive: Any = None) -> None:
        start, end = self.rng.uniform(lo, hi, size=2)
        for v in np.linspace(start, end, int(self.rng.integers(4, 16))):
            if alive is not None and not alive():
                return  # the widget went away under the pointer (a model switch landed)
            set_value(v)
            QtCore.QCoreApplication.processEvents()

    def drag_latent(self) -> None:
        lat = self.panel("latents")
        if not lat.sliders:
            return
        slider = self._choice(lat.sliders)
        self._drag(lambda v: slider.setValue(float(v)), slider.minimum(), slider.maximum(),
                   alive=lambda: slider in lat.sliders)

    def drag_frame(self) -> None:
        scalp = self.panel("scalp")
        if self.s.data is None:
            return
        if scalp.mode.currentIndex() != 1 and self.rng.random() < 0.5:
            scalp.mode.setCurrentIndex(1)
        self._drag(lambda v: scalp.slider.setValue(int(v)), 0, scalp.slider.maximum())

    def press_key(self) -> None:
        key, mods = self._choice([(Qt.Key.Key_Left, Qt.KeyboardModifier.NoModifier),
                                  (Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier),
                                  (Qt.Key.Key_PageDown, Qt.KeyboardModifier.NoModifier),
                                  (Qt.Key.Key_PageUp, Qt.KeyboardModifier.NoModifier),
                                  (Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)])
        self.w.activateWindow()
        QTest.keyClick(self.w, key, mods)

    def switch_tab(self) -> None:
        bottom = [d for d in self.w.docks.values()
                  if self.w.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea]
        if bottom:
            self._choice(bottom).raise_()

    def switch_model(self) -> None:
        from app.sources import NO_MODEL

        box = self.w.model_box
        names = [*self.models, NO_MODEL]
        i = box.findText(self._choice(names))
        if i >= 0:
            box.setCurrentIndex(i)
            box.activated.emit(i)

    def switch_data(self) -> None:
        spec = self._choice(["synthetic", "synthetic", str(self.files["npz"]),
                             str(self.files["npz"]), str(self.files["broken"]),
                             str(self.files["missing"])])
        box = self.w.data_box
        i = box.findText(spec)
        if i >= 0 and self.rng.random() < 0.5:
            box.setCurrentIndex(i)
            box.activated.emit(i)
        else:
            self.w.open_data(spec)

    def open_missing_model(self) -> None:
        self.w.open_model(self.folder / "no_such_model")

    def start_job(self) -> None:
        which = self._choice(["propagation", "compare", "spectra", "saliency", "sanity",
                              "sae", "training"])
        if which in ("propagation", "compare"):
            p = self.panel("propagation")
            p.n_inputs.setValue(int(self.rng.integers(66, 200)))
            self._click((p.job if which == "propagation" else p.compare).run_button)
        elif which == "spectra":
            p = self.panel("spectra")
            p.n_inputs.setValue(int(self.rng.integers(50, 400)))
            p.n_proj.setValue(int(self.rng.integers(2, 20)))
            self._click(p.job.run_button)
        elif which in ("saliency", "sanity"):
            p = self.panel("saliency")
            p.method_box.setCurrentIndex(int(self.rng.integers(p.method_box.count())))
            self._click((p.job if which == "saliency" else p.sanity_job_ctl).run_button)
        elif which == "sae":
            p = self.panel("sae")
            if p.layer.count():
                p.layer.setCurrentIndex(int(self.rng.integers(p.layer.count())))
            p.steps.setValue(int(self.rng.integers(5, 60)))
            p.train_frames.setValue(int(self.rng.integers(50, 400)))
            p.inputs.setValue(int(self.rng.integers(50, 300)))
            self._click(p.train_button)
        else:
            p = self.panel("training")
            p.epochs.setValue(1)
            p.out_edit.setText(str(self.folder / "runs" / f"run{int(self.rng.integers(3))}"))
            self._click(p.start_button)

    def cancel_job(self) -> None:
        which = self._choice(["window", "propagation", "spectra", "saliency", "sae", "training"])
        if which == "window":
            if self.w.cancel_btn.isVisible():
                QTest.mouseClick(self.w.cancel_btn, Qt.MouseButton.LeftButton)
            return
        p = self.panel(which)
        buttons = {"propagation": [p.job.cancel_button, p.compare.cancel_button]
                   if which == "propagation" else None,
                   "spectra": [p.job.cancel_button] if which == "spectra" else None,
                   "saliency": [p.job.cancel_button, p.sanity_job_ctl.cancel_button]
                   if which == "saliency" else None,
                   "sae": [p.cancel_button] if which == "sae" else None,
                   "training": [p.cancel_button] if which == "training" else None}[which]
        for b in buttons:
            self._click(b)

    def _export_answer(self, name: str) -> Any:
        def answer(dlg: QtWidgets.QWidget) -> None:
            from app.export_dialog import ExportDialog

            if not isinstance(dlg, ExportDialog):
                dlg.close()
                return
            self.exports += 1
            dlg.panel_box.setCurrentText(name)
            dlg.path.setText(str(self.folder / "exports" / f"export{self.exports % 7}"))
            for c in dlg.checks.values():
                c.setChecked(self.rng.random() < 0.6)
            if self.rng.random() < 0.2:
                dlg.width_box.setValue(int(self.rng.integers(100, 600)))
                dlg.height_box.setValue(int(self.rng.integers(100, 600)))
            buttons = dlg.findChild(QtWidgets.QDialogButtonBox)
            ok = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok) if buttons else None
            if self.rng.random() < 0.1 or ok is None:
                dlg.reject()
                return
            QTest.mouseClick(ok, Qt.MouseButton.LeftButton)
            if dlg.isVisible():
                dlg.reject()  # OK was disabled (no format chosen): the user gives up
        return answer

    def export_from_menu(self) -> None:
        name = self._choice(list(self.w.panels))
        self._answer_modal(self._export_answer(name))
        self.w.export_dialog(name)

    def export_from_context_menu(self) -> None:
        name = self._choice(list(self.w.panels))
        panel = self.w.panels[name]

        def menu_answer(menu: QtWidgets.QWidget) -> None:
            if not isinstance(menu, QtWidgets.QMenu) or self.rng.random() < 0.2:
                menu.close()  # changed their mind (Escape)
                return
            self._answer_modal(self._export_answer(name))
            action = menu.actions()[0]
            menu.setActiveAction(action)
            QTest.keyClick(menu, Qt.Key.Key_Return)

        self._answer_modal(menu_answer)
        pos = QtCore.QPoint(10, 10)
        ev = QtGui.QContextMenuEvent(QtGui.QContextMenuEvent.Reason.Mouse, pos,
                                     panel.mapToGlobal(pos))
        QtWidgets.QApplication.sendEvent(panel, ev)

    def switch_theme(self) -> None:
        target = "Dark theme" if self.w.theme == "light" else "Light theme"
        for action in self.w.menuBar().findChildren(QtGui.QAction):
            if action.text() == target:
                action.trigger()
                return

    def toggle_activations(self) -> None:
        acts = self.panel("activations")
        which = int(self.rng.integers(5))
        if which == 0:
            self._click(acts.difference)
        elif which == 1:
            self._click(acts.shared_scale)
        elif which == 2:
            acts.baseline_box.setCurrentIndex(int(self.rng.integers(2)))
        elif which == 3 and acts._layers:
            lv = self._choice(list(acts._layers.values()))
            self._click(lv.checkbox)
        else:
            view = acts.view
            pos = QtCore.QPoint(int(self.rng.integers(max(1, view.width()))),
                                int(self.rng.integers(max(1, min(view.height(), 400)))))
            QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier, pos)

    def latent_buttons(self) -> None:
        lat = self.panel("latents")
        self._click(self._choice([lat.reset_button, lat.random_button, lat.from_input_button]))

    def close_error(self) -> None:
        for w in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(w, QtWidgets.QMessageBox) and w.isVisible():
                ok = w.button(QtWidgets.QMessageBox.StandardButton.Ok)
                if ok is not None:
                    QTest.mouseClick(ok, Qt.MouseButton.LeftButton)
                else:
                    w.close()

    def reset_layout(self) -> None:
        self.w.reset_layout()

    def pick_saliency_target(self) -> None:
        p = self.panel("saliency")
        p.target_box.setCurrentIndex(int(self.rng.integers(p.target_box.count())))
        p.pick_pixel(int(self.rng.integers(40)), int(self.rng.integers(40)))

    def pause(self) -> None:
        """The user stops for a moment: whatever is queued runs."""
        deadline = time.monotonic() + float(self.rng.uniform(0.05, 1.0))
        while not self.idle() and time.monotonic() < deadline:
            spin(20)

    # -- the run ---------------------------------------------------------------------------
    def tour(self, job_timeout_s: float = 60.0) -> None:
        """Before the random actions: every model, every action and every job once (jobs to
        the end), so one-time costs (lazy imports, first-use caches) fall in the warm-up."""
        from app.sources import NO_MODEL

        self.recorder.action = "tour"
        for name in [*self.models, NO_MODEL, "E3"]:
            i = self.w.model_box.findText(name)
            if i >= 0:
                self.w.model_box.setCurrentIndex(i)
                self.w.model_box.activated.emit(i)
                self.quiesce()
        for _, action in self.actions:
            action()
            spin(10)
        self.quiesce()
        pick = self._choice
        try:
            for job in ("propagation", "compare", "spectra", "saliency", "sanity", "sae",
                        "training"):
                self._choice = lambda seq, job=job: job if job in seq else pick(seq)
                self.start_job()
                deadline = time.monotonic() + job_timeout_s
                spin(50)
                while not self.idle() and time.monotonic() < deadline:
                    spin(20)
                self.quiesce()
        finally:
            self._choice = pick

    def step(self, k: int) -> None:
        _, action = self.actions[int(self.rng.choice(len(self.actions), p=self.p))]
        self.recorder.action = f"{k}:{action.__name__}"
        self.done[action.__name__] += 1
        try:
            action()
        except Exception:  # noqa: BLE001 - counted: in the app it would reach Qt uncaught
            self.recorder.record(*sys.exc_info())
        # the user's next move comes a moment later (the event loop runs meanwhile)
        spin(int(self.rng.integers(2, 25)))

    def run(self, n_actions: int, warmup: int | None = None, sample_every: int = 50,
            watchdog: bool = False, tour: bool = True, trace: bool = False) -> dict[str, Any]:
        """Run ``n_actions``; returns the figures (see the module docstring). With
        ``trace``, Python allocations are traced from the warm-up on and what grew
        between the second sample after the warm-up and the end is reported
        (``benchmarks/_soak_trace.py``)."""
        warmup = min(n_actions // 2, 500) if warmup is None else warmup
        tracer = _tracer() if trace else None
        trace_from: dict[str, Any] | None = None
        heap: list[list[float]] = []
        parts: list[list[float]] = []
        maps_from: collections.Counter | None = None
        self.recorder.install()
        try:
            t0 = time.perf_counter()
            samples: list[tuple[int, float]] = []
            widgets_after_warmup: collections.Counter | None = None
            widgets_start = top_level_counts()
            if tour:
                if watchdog:
                    faulthandler.dump_traceback_later(ACTION_WATCHDOG_S * 8, exit=True)
                self.tour()
            t_tour = time.perf_counter() - t0
            for k in range(n_actions):
                if watchdog:
                    faulthandler.dump_traceback_later(ACTION_WATCHDOG_S, exit=True)
                self.step(k)
                done = k + 1
                if done == warmup or (done > warmup and (done - warmup) % sample_every == 0) \
                        or done == n_actions:
                    if watchdog:
                        faulthandler.dump_traceback_later(ACTION_WATCHDOG_S * 4, exit=True)
                    self.normalise()
                    if done == warmup:
                        widgets_after_warmup = top_level_counts()
                        if tracer is not None:
                            tracer.start()
                    else:
                        gc.collect()
                    samples.append((done, rss_mb()))
                    parts.append([done, *(round(v, 1) for v in _tracer().rss_parts_mb().values())])
                    if done == warmup:
                        maps_from = _tracer().mapping_rss_mb()
                    h = _soak_heap_mb()
                    if h:
                        heap.append([done, round(h["in_use"], 1), round(h["free_in_arenas"], 1)])
                    if tracer is not None and done > warmup and trace_from is None \
                            and done - warmup >= 2 * sample_every:
                        trace_from = tracer.snapshot(self.w, samples[-1][1])
            self.recorder.action = "final quiesce"
            if not samples or samples[-1][0] != n_actions:
                self.normalise()
            widgets_end = top_level_counts()
            maps_end = _tracer().mapping_rss_mb()
            trace_out = None
            if tracer is not None and trace_from is not None:
                trace_out = tracer.compare(trace_from, tracer.snapshot(self.w, rss_mb()))
            if watchdog:
                faulthandler.cancel_dump_traceback_later()
        finally:
            self.recorder.uninstall()
        base = widgets_after_warmup if widgets_after_warmup is not None else widgets_start
        growth = {k: widgets_end[k] - base[k] for k in set(widgets_end) | set(base)
                  if widgets_end[k] != base[k]}
        slope = None
        pts = [(a, r) for a, r in samples if a >= warmup]
        if len(pts) >= 3:
            x, y = np.array(pts, dtype=float).T
            slope = float(np.polyfit(x, y, 1)[0] * 1000.0)
        return {
            "benchmark": "gui_soak",
            "actions": n_actions,
            "warmup_actions": warmup,
            "seconds": time.perf_counter() - t0,
            "tour_seconds": t_tour,
            "crashes": 0,
            "uncaught_exceptions": len(self.recorder.exceptions),
            "exceptions": self.recorder.exceptions[:20],
            "rss_growth_mb_per_1000_actions": slope,
            "rss_mb": {"after_warmup": pts[0][1] if pts else None,
                       "end": samples[-1][1] if samples else None},
            "rss_samples": [[a, round(r, 1)] for a, r in samples],
            # glibc's view at each sample: [actions, MiB in use, MiB freed but kept]
            "heap_samples": heap,
            "heap_growth_mb_per_1000_actions": _slope(heap, warmup),
            # the kernel's split of RSS at each sample: [actions, anon, file, shmem] MiB
            "rss_part_samples": parts,
            "rss_part_growth_mb_per_1000_actions": _slope(parts, warmup,
                                                          ("anon", "file", "shmem")),
            # mappings whose RSS changed most from the end of the warm-up to the end
            "mapping_rss_growth_mb": {k: round(v, 1) for k, v in sorted(
                ((k, maps_end[k] - maps_from[k]) for k in set(maps_end) | set(maps_from)),
                key=lambda kv: -abs(kv[1]))[:12]} if maps_from else {},
            "top_level_widgets": {"start": sum(widgets_start.values()),
                                  "after_warmup": sum(base.values()),
                                  "end": sum(widgets_end.values())},
            "top_level_widget_growth": sum(widgets_end.values()) - sum(base.values()),
            "top_level_growth_by_class": growth,
            "top_level_growth_since_start_by_class": {
                k: widgets_end[k] - widgets_start[k] for k in set(widgets_end) | set(widgets_start)
                if widgets_end[k] != widgets_start[k]},
            "actions_done": dict(self.done),
            "exports": self.exports,
            "dialogs_answered": self._modal_handled,
            "qt_warnings": dict(self.recorder.qt_warnings.most_common(8)),
            **({"trace": trace_out} if trace else {}),
        }


def _tracer() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _soak_trace

    return _soak_trace


def _soak_heap_mb() -> dict[str, float]:
    return _tracer().heap_mb()


def _slope(rows: list[list[float]], warmup: int,
           names: tuple[str, ...] = ("in_use", "free_in_arenas")) -> dict[str, float] | None:
    """Per-1000-action slopes of the columns after the first (``names``) of ``rows``
    (``[actions, value, ...]``)."""
    pts = np.array([r for r in rows if r[0] >= warmup], dtype=float)
    if len(pts) < 3 or pts.shape[1] < len(names) + 1:
        return None
    return {name: round(float(np.polyfit(pts[:, 0], pts[:, i + 1], 1)[0] * 1000.0), 2)
            for i, name in enumerate(names)}


def open_window(folder: Path) -> Any:
    """The real window at screenshot size with settings in ``folder``, data and E3 loaded."""
    from app.main import SCREENSHOT_SIZE
    from app.main_window import MainWindow

    settings = QtCore.QSettings(str(folder / "workbench.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    return window


def wait_loaded(window: Any, model: str | None, timeout_s: float = 120.0) -> None:
    s = window.session
    window.open_data("synthetic")
    if model:
        window.open_model(model)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if s.data is not None and (not model or s.model is not None) and s.last_forward is not None:
            return
        spin(20)
    raise TimeoutError("gui_soak: the window did not load its data and model")


def child(args: argparse.Namespace) -> int:
    faulthandler.enable()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # noqa: F841
    with tempfile.TemporaryDirectory(prefix="eegmi-soak-") as tmp:
        folder = Path(tmp)
        window = open_window(folder)
        from app.sources import bundled_models

        models = bundled_models()
        wait_loaded(window, "E3" if "E3" in models else (models[0] if models else None))
        soak = Soak(window, folder, seed=args.seed)
        out = soak.run(args.actions, warmup=args.warmup, sample_every=args.sample_every,
                       watchdog=True, trace=args.trace)
        out["seed"] = args.seed
        out["models"] = models
        window.close()
        window.session.shutdown()
    print(json.dumps(out))
    return 0


def parent(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the soak in a child process: a crash or hang there is counted, not suffered."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--in-process", *argv]
    budget = ACTION_WATCHDOG_S * 4 + args.actions * 2.0
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = -9, str(exc.stdout or ""), str(exc.stderr or "")
    sys.stderr.write(stderr[-20000:])
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    try:
        out = json.loads(last)
    except json.JSONDecodeError:
        out = {"benchmark": "gui_soak", "actions": args.actions, "seed": args.seed,
               "crashes": 1, "returncode": rc, "stderr_tail": stderr[-2000:]}
    print(json.dumps(out))
    return 0 if out.get("crashes") == 0 else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=None,
                    help="actions before the measured part (default min(N/2, 500))")
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument("--in-process", action="store_true", help="no parent process")
    ap.add_argument("--trace", action="store_true",
                    help="trace allocations after the warm-up and report what grew (slow)")
    args = ap.parse_args(argv)
    if args.in_process:
        return child(args)
    return parent(args, argv)


if __name__ == "__main__":
    sys.exit(main())
