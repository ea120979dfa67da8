"""The workbench window: dockable panels, menus, toolbar, status bar, drag and drop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QWidget,
)

from app.export import export_panel
from app.jobs import JobHandle
from app.panels import PANELS
from app.pin_menu import PinMixin
from app.session import Session
from app.sources import SourcesMixin, bundled_models
from app.theme import apply_theme
from app.workspaces import DEFAULT_WORKSPACE, WORKSPACES, apply_workspace

ORG, APP = "eegmi", "workbench"
#: panels whose analysis results a user computed on demand (their ``state()["analysis"]``);
#: the latent statistics are recomputed by themselves on every load, so losing them costs
#: nothing and does not warrant a question at quit
RESULT_PANELS = ("propagation", "spectra", "saliency", "sae", "compare")


class MainWindow(PinMixin, SourcesMixin, QMainWindow):
    """Main window; every panel from :data:`app.panels.PANELS` is a dock."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("eegmi workbench")
        screen = QApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        if avail is not None:
            self.resize(int(avail.width() * 0.95), int(avail.height() * 0.92))
        else:
            self.resize(1500, 900)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        # explicit INI format so QSettings.setPath (tests, portable installs) applies
        self.settings = settings or QSettings(QSettings.Format.IniFormat,
                                              QSettings.Scope.UserScope, ORG, APP)
        self.session = session or Session()
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.last_error = ""
        self.error_box: QMessageBox | None = None
        self.selftest_dialog: QDialog | None = None
        self.concepts_dialog: QDialog | None = None
        #: the "Quit and discard results?" box while it is open (non-modal: see request_quit)
        self.quit_box: QMessageBox | None = None
        self.quit_button: QPushButton | None = None
        self._quit_confirmed = False
        self.theme = str(self.settings.value("theme", "light"))
        ws = str(self.settings.value("workspace", DEFAULT_WORKSPACE))
        self.workspace = ws if ws in WORKSPACES else DEFAULT_WORKSPACE
        self.workspace_actions: dict[str, QAction] = {}
        apply_theme(self.theme)
        self._build_docks()
        self._build_toolbar()
        self._build_status()
        self._build_menus()
        self._sized = False
        geo, state = self.settings.value("layout/geometry"), self.settings.value("layout/state")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if isinstance(state, QByteArray):
            self._sized = self.restoreState(state)
        apply_theme(self.theme, self)
        s = self.session
        s.error.connect(self._on_error)
        s.busy.connect(self._on_busy)
        s.device_changed.connect(lambda d: self.device_label.setText(f"device: {d.upper()}"))
        s.model_changed.connect(self._refresh_labels)
        s.data_changed.connect(self._refresh_labels)
        self._refresh_labels()

    # -- construction ----------------------------------------------------------------
    def _build_docks(self) -> None:
        first_in_area: dict[Qt.DockWidgetArea, QDockWidget] = {}
        for spec in PANELS:
            panel = spec.cls(self.session)
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(f"dock_{spec.name}")
            # a scroll area lets a dock shrink below its panel's minimum size, so one
            # tall panel cannot squeeze the others out of the window
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(panel)
            dock.setWidget(scroll)
            self.addDockWidget(spec.area, dock)
            # the scalp/reconstruction/activations views stay side by side; the many
            # analysis panels at the bottom share one tab group
            if spec.area == Qt.DockWidgetArea.BottomDockWidgetArea:
                if spec.area in first_in_area:
                    self.tabifyDockWidget(first_in_area[spec.area], dock)
                else:
                    first_in_area[spec.area] = dock
            hook = getattr(panel, "on_dock_visibility", None)
            if callable(hook):
                dock.visibilityChanged.connect(hook)
            panel.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            panel.customContextMenuRequested.connect(
                lambda pos, n=spec.name: self._panel_menu(n, pos))
            self.panels[spec.name] = panel
            self.docks[spec.name] = dock
        if Qt.DockWidgetArea.BottomDockWidgetArea in first_in_area:
            first_in_area[Qt.DockWidgetArea.BottomDockWidgetArea].raise_()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._sized:
            # dock sizes only stick once the window has its real size
            self._sized = True
            QTimer.singleShot(0, self._initial_layout)

    def _initial_layout(self) -> None:
        apply_workspace(self, self.docks, self.workspace)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.device_label = QLabel("device: …")
        self.model_label = QLabel("")
        self.data_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(self.cancel_job)
        for w in (self.model_label, self.data_label, self.progress, self.cancel_btn,
                  self.device_label):
            sb.addPermanentWidget(w)

    def _act(self, menu: QMenu, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        return action

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "Open data…", self.open_data_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = f.addMenu("Recent files")
        self._fill_recent()
        self._act(f, "Open model checkpoint…", self.open_model_dialog, "Ctrl+M")
        self._act(f, "Open sweep…", self.open_sweep_dialog)
        f.addSeparator()
        self._act(f, "Export panel…", self.export_dialog, "Ctrl+E")
        self._act(f, "Figure set…", self.figure_set_dialog, "Ctrl+Shift+F")
        f.addSeparator()
        self.quit_action = self._act(f, "Quit", self.request_quit, QKeySequence.StandardKey.Quit)
        v = mb.addMenu("&View")
        panels_menu = v.addMenu("Panels")
        for dock in self.docks.values():
            panels_menu.addAction(dock.toggleViewAction())
        themes = QActionGroup(self)
        for name in ("light", "dark"):
            a = self._act(v, f"{name.title()} theme", lambda _=False, n=name: self.set_theme(n))
            a.setCheckable(True)
            a.setChecked(name == self.theme)
            themes.addAction(a)
        # a window shortcut also fires while a floated dock of this window is active (Qt
        # treats a floating QDockWidget as part of its main window); an application-wide
        # one would be ambiguous, and fire nowhere, as soon as two windows are open
        self.reset_layout_action = self._act(v, "Reset layout", self.reset_layout, "Ctrl+Shift+R")
        ws_menu = v.addMenu("Workspace")
        group = QActionGroup(self)
        for ws in WORKSPACES.values():
            a = self._act(ws_menu, ws.title, lambda _=False, n=ws.name: self.set_workspace(n),
                          ws.shortcut)
            a.setCheckable(True)
            a.setChecked(ws.name == self.workspace)
            group.addAction(a)
            self.workspace_actions[ws.name] = a
        self._build_model_menu(mb)
        i = mb.addMenu("&Input")
        self._act(i, "Previous frame", lambda: self._step(-1), Qt.Key.Key_Left)
        self._act(i, "Next frame", lambda: self._step(1), Qt.Key.Key_Right)
        self._act(i, "Back 10 frames", lambda: self._step(-10), "PgUp")
        self._act(i, "Forward 10 frames", lambda: self._step(10), "PgDown")
        self._act(i, "Reset input", self._reset_input, "Ctrl+0")
        h = mb.addMenu("&Help")
        self.concepts_action = self._act(h, "Concepts…", self.show_concepts,
                                         QKeySequence.StandardKey.HelpContents)
        self.check_tools_action = self._act(h, "Check the tools…", self.check_tools)

    # -- jobs, errors, status ---------------------------------------------------------------
    def _on_busy(self, message: str, fraction: float) -> None:
        done = fraction >= 1.0
        self.progress.setVisible(not done)
        self.cancel_btn.setVisible(not done)
        if done:
            self.statusBar().clearMessage()
            return
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))
        self.statusBar().showMessage(message)

    def cancel_job(self) -> bool:
        """Cancel the long job shown in the status bar (queued, paused or running)."""
        job = self.session.current_job()
        return job is not None and job.cancel()

    def _on_error(self, message: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(f"Error: {message}", 10000)

    def report_failure(self, handle: JobHandle) -> JobHandle:
        """Show a dialog when ``handle`` (a load or job the window started) fails.

        Interactive failures go to the status bar only, and panels show the failures
        of their own jobs in their own views.
        """
        handle.failed.connect(self._show_error_box)
        return handle

    def _show_error_box(self, message: str) -> None:
        box = self.error_box
        if box is None:
            # one box, reused for every error: a box per error would stay alive (it is
            # the window's child) for as long as the window
            box = QMessageBox(QMessageBox.Icon.Warning, "eegmi", "", QMessageBox.StandardButton.Ok,
                              self)
            box.setWindowModality(Qt.WindowModality.NonModal)
            self.error_box = box
        box.setText(message)
        box.show()  # non-blocking: the app keeps working behind it
        box.raise_()

    # -- export, figures ----------------------------------------------------------------------
    def _panel_menu(self, name: str, pos: Any) -> None:
        menu = QMenu(self)
        export = menu.addAction("Export…")
        chosen = menu.exec(self.panels[name].mapToGlobal(pos))
        # a menu per right-click: deleted once closed, or every one would stay alive
        menu.deleteLater()
        if chosen is export:
            self.export_dialog(name)

    def export_dialog(self, current: str | None = None) -> None:
        from app.export_dialog import ExportDialog

        dlg = ExportDialog(self.panels, current if isinstance(current, str) else None,
                           str(self.settings.value("last_export_dir", "")), self)
        accepted = dlg.exec() == QDialog.DialogCode.Accepted
        opts = dlg.options() if accepted else {}
        dlg.deleteLater()  # a dialog per export: not kept alive by the window
        if not accepted or not opts["formats"]:
            return
        try:
            files = export_panel(**opts)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps running
            from app.worker import error_message

            self._on_error(error_message(exc))
            return
        self.settings.setValue("last_export_dir", str(Path(opts["path_base"]).parent))
        self.statusBar().showMessage(f"exported {len(files)} files to {files[0].parent}", 8000)

    def figure_set_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Figure set folder")
        if folder:
            self.figure_set(folder)

    def figure_set(self, folder: str | Path, models: list[str] | None = None,
                   frames: list[int] | None = None) -> JobHandle:
        """Render paper-style figures for ``models`` (default: all bundled) on the worker."""
        from eegmi.figures import figure_set_job

        models = models if models is not None else (bundled_models() or (
            [self.session.model_name] if self.session.model_name else []))
        spec = self.session.data_name or "synthetic"
        device = self.session.device
        handle = self.session.submit(
            lambda token: figure_set_job(folder, models, spec, frames, device=device, cancel=token),
            "figure set")
        return self.report_failure(handle)

    def check_tools(self) -> QDialog:
        """Show the self-test dialog (every analysis on planted ground truths and controls)."""
        from app.selftest_dialog import SelftestDialog

        if self.selftest_dialog is None:
            self.selftest_dialog = SelftestDialog(self.session, self)
        self.selftest_dialog.show()
        self.selftest_dialog.raise_()
        return self.selftest_dialog

    def show_concepts(self, key: str | None = None) -> QDialog:
        """Help › Concepts (one non-modal dialog); ``key`` selects that concept."""
        from app.concepts_dialog import ConceptsDialog

        if self.concepts_dialog is None:
            self.concepts_dialog = ConceptsDialog(self)
        if isinstance(key, str):
            self.concepts_dialog.show_concept(key)
        self.concepts_dialog.show()
        self.concepts_dialog.raise_()
        return self.concepts_dialog

    # -- quitting ------------------------------------------------------------------------------
    def unsaved_work(self) -> list[str]:
        """What quitting now would discard: panels holding a computed result, a running job."""
        what = [self.docks[name].windowTitle() for name in RESULT_PANELS
                if name in self.panels and self.panels[name].holds_result()]
        job = self.session.current_job()
        if job is not None and job.active:
            what.append(f"the running job '{job.label}'")
        return what

    def request_quit(self) -> bool:
        """File › Quit: close now, or first ask (without blocking) when results would be lost.

        Returns True when the window closed.
        """
        what = self.unsaved_work()
        if not what or self._quit_confirmed:
            self._quit_confirmed = True
            return self.close()
        box = self.quit_box
        if box is None:
            box = QMessageBox(QMessageBox.Icon.Question, "Quit eegmi", "", parent=self)
            box.setWindowModality(Qt.WindowModality.WindowModal)
            self.quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.buttonClicked.connect(self._quit_answered)
            self.quit_box = box
        box.setText("Quit and discard the computed results?")
        box.setInformativeText("Not exported: " + "; ".join(what) + ".")
        box.open()  # returns at once; the answer arrives in _quit_answered
        return False

    def _quit_answered(self, button: object) -> None:
        if self.quit_box is not None and button is self.quit_button:
            self._quit_confirmed = True
            self.close()

    # -- view ------------------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        self.theme = name
        apply_theme(name, self)
        self.settings.setValue("theme", name)

    def set_workspace(self, name: str) -> None:
        """Arrange the docks as workspace ``name`` (View › Workspace) and remember it."""
        apply_workspace(self, self.docks, name)
        self.workspace = name
        self.workspace_actions[name].setChecked(True)
        self.settings.setValue("workspace", name)

    def reset_layout(self) -> None:
        """The current workspace's arrangement again: every dock docked (floated ones
        too), shown, at the workspace's sizes."""
        apply_workspace(self, self.docks, self.workspace)

    def _step(self, n: int) -> None:
        """Move ``n`` frames through the dataset (Input menu, arrow keys)."""
        if self.session.data is not None:
            self.session.workbench.step_frame(n)

    def _reset_input(self) -> None:
        self.session.workbench.reset_input()

    def closeEvent(self, event: QCloseEvent) -> None:
        if event.spontaneous() and not self._quit_confirmed and self.unsaved_work():
            # the window's own close button: ask as File › Quit does (a close() from code,
            # a test or the session, closes without asking)
            event.ignore()
            self.request_quit()
            return
        self.settings.setValue("layout/geometry", self.saveGeometry())
        self.settings.setValue("layout/state", self.saveState())
        self.settings.sync()
        self.session.shutdown()
        super().closeEvent(event)
