"""Model › Pin model for comparison: a second model shown beside the current one.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's ``session``,
``settings``, ``docks``, ``report_failure`` and status bar), kept apart so the
window module stays small. The pinned model loads on the model worker
(:meth:`app.session.Session.pin_model`); the Compare panel shows it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QLabel, QMenu, QMenuBar

from app.jobs import JobHandle
from app.sources import bundled_models, model_title

PIN_FOLDER = "Checkpoint folder…"


class PinMixin:
    """The Model menu's pin and unpin actions, and the status bar's "pinned:" label."""

    def _build_model_menu(self, mb: QMenuBar) -> None:
        m = mb.addMenu("&Model")
        self.pin_menu: QMenu = m.addMenu("Pin model for comparison")
        self.pin_actions = {}
        for name in bundled_models():
            self.pin_actions[name] = self._act(self.pin_menu, name,
                                               lambda _=False, n=name: self.pin_model(n))
        self.pin_menu.addSeparator()
        self.pin_folder_action = self._act(self.pin_menu, PIN_FOLDER, self.pin_model_dialog)
        self.unpin_action = self._act(m, "Unpin compared model", self.unpin_model)
        self.pinned_label = QLabel("")
        self.statusBar().addPermanentWidget(self.pinned_label)
        self.session.pinned_changed.connect(self._refresh_pinned)
        self._refresh_pinned()

    def pin_model(self, spec: str | Path) -> JobHandle:
        """Pin a bundled model name or a checkpoint folder (or a file inside one)."""
        p = Path(str(spec))
        if p.is_file():
            p = p.parent
        handle = self.report_failure(self.session.pin_model(str(p) if p.exists() else str(spec)))
        handle.finished.connect(lambda _result: self._show_compare())
        return handle

    def pin_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pin model checkpoint folder",
                                                  str(self.settings.value("last_dir", "")))
        if folder:
            self.pin_model(folder)

    def unpin_model(self) -> None:
        self.session.unpin_model()

    def _show_compare(self) -> None:
        dock = self.docks.get("compare")
        if dock is not None:
            dock.setVisible(True)
            dock.raise_()

    def _refresh_pinned(self) -> None:
        name = self.session.pinned_name
        self.unpin_action.setEnabled(bool(name))
        self.pinned_label.setText(f"pinned: {model_title(name)}" if name else "")
        self.pinned_label.setVisible(bool(name))
