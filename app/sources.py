"""Choosing data and models: toolbar boxes, file dialogs, recent files, drag and drop.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's ``session``,
``settings``, labels and menus), kept apart so the window module stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QToolBar

MAX_RECENT = 8
OPEN_FILE, OPEN_CKPT, NO_MODEL = "Open file…", "Open checkpoint…", "(no model)"
USER_MODEL = "(your model) "


def bundled_models() -> list[str]:
    """Names of the bundled models (E1..E5) present in this install."""
    from eegmi.training.catalog import bundled_names

    return bundled_names()


def model_title(name: str) -> str:
    """A bundled model's name as is; any other checkpoint as ``"(your model) FOLDER"``, so
    a run saved in ``runs/E3`` is never taken for the bundled E3."""
    return name if not name or name in bundled_models() else USER_MODEL + name


def is_checkpoint(path: Path) -> bool:
    """A checkpoint folder (model.json + model.safetensors) or one of its files."""
    if path.is_dir():
        return (path / "model.json").exists() or any(path.glob("*.safetensors"))
    return path.suffix == ".safetensors" or path.name == "model.json"


def is_sweep(path: Path) -> bool:
    """A sweep folder (``eegmi sweep --out``): its trials are models to choose from."""
    return path.is_dir() and (path / "plan.json").is_file()


class SourcesMixin:
    """Data/model selection for the main window."""

    def _build_toolbar(self) -> None:
        bar = QToolBar("Data and model", self)
        bar.setObjectName("toolbar_main")
        self.addToolBar(bar)
        self.data_box = QComboBox()
        self.data_box.setMinimumContentsLength(18)
        self.model_box = QComboBox()
        self.model_box.setMinimumContentsLength(12)
        bar.addWidget(QLabel(" Data: "))
        bar.addWidget(self.data_box)
        bar.addWidget(QLabel("  Model: "))
        bar.addWidget(self.model_box)
        self._fill_boxes()
        self.data_box.activated.connect(self._data_chosen)
        self.model_box.activated.connect(self._model_chosen)

    # -- sweeps (File › Open sweep…, a dropped or chosen sweep folder) ---------------------
    def sweep_models(self) -> dict[str, str]:
        """``"(sweep NAME) TRIAL"`` -> trial checkpoint folder, for every sweep opened."""
        if not hasattr(self, "_sweep_models"):
            self._sweep_models: dict[str, str] = {}
        return self._sweep_models

    def open_sweep(self, folder: str | Path) -> Any:
        """Add a sweep folder's trials to the model box and show its table (None and an
        error box for a folder that is not a sweep)."""
        from app.sweep_dialog import SweepDialog, openable, sweep_title
        from eegmi.errors import EegmiError

        key = str(Path(folder).resolve())
        dialogs = getattr(self, "_sweep_dialogs", None)
        if dialogs is None:
            dialogs = self._sweep_dialogs = {}
        try:
            if key in dialogs:  # one dialog per sweep folder, read again
                dialog = dialogs[key]
                dialog.reload()
            else:
                dialog = dialogs[key] = SweepDialog(key, self.open_model, self)
        except EegmiError as exc:
            self._show_error_box(exc.line())
            return None
        for row in dialog.rows_data:
            if openable(row):
                self.sweep_models()[sweep_title(dialog.name, row["id"])] = row["path"]
        self._fill_boxes()
        self._refresh_labels()
        dialog.show()
        dialog.raise_()
        return dialog

    def open_sweep_dialog(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Open sweep folder",
                                                str(self.settings.value("last_dir", "")))
        if name:
            self.open_sweep(name)

    def _title(self, name: str) -> str:
        """The model box's entry for a loaded model: a sweep's trial as such."""
        for title, path in self.sweep_models().items():
            if path == name:
                return title
        return model_title(name)

    def _fill_boxes(self) -> None:
        self.data_box.blockSignals(True)
        self.data_box.clear()
        self.data_box.addItems(["synthetic", *self.recent_files(), OPEN_FILE])
        self.data_box.blockSignals(False)
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems([NO_MODEL, *bundled_models(), *self.sweep_models(), OPEN_CKPT])
        self.model_box.blockSignals(False)

    # -- data and model ------------------------------------------------------------------
    def open_data(self, spec: str | Path) -> None:
        """Load ``"synthetic"`` or a data file (remembered in the recent files)."""
        spec = str(spec)
        if spec != "synthetic":
            self.add_recent(spec)
        self.report_failure(self.session.set_data(spec))

    def open_model(self, spec: str | Path) -> None:
        """Load a bundled model name or a checkpoint folder/file."""
        p = Path(str(spec))
        if p.is_file():
            p = p.parent  # a file inside a checkpoint folder
        self.report_failure(self.session.set_model(str(p) if p.exists() else str(spec)))

    def open_data_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Open EEG data", str(self.settings.value("last_dir", "")),
            "EEG (*.dat *.bdf *.edf *.fif *.vhdr *.set *.npy *.npz);;All files (*)")
        if name:
            self.settings.setValue("last_dir", str(Path(name).parent))
            self.open_data(name)

    def open_model_dialog(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Open model checkpoint folder",
                                                str(self.settings.value("last_dir", "")))
        if name:
            if is_sweep(Path(name)):
                self.open_sweep(name)
            else:
                self.open_model(name)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent_files", items[:MAX_RECENT])
        self._fill_recent()
        self._fill_boxes()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self._act(self.recent_menu, path, lambda _=False, p=path: self.open_data(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _data_chosen(self, index: int) -> None:
        text = self.data_box.itemText(index)
        if text == OPEN_FILE:
            self.open_data_dialog()
        else:
            self.open_data(text)
        self._refresh_labels()

    def _model_chosen(self, index: int) -> None:
        text = self.model_box.itemText(index)
        if text == OPEN_CKPT:
            self.open_model_dialog()
        elif text == NO_MODEL:
            if self.session.model is not None:
                self.session.clear_model()
        elif text in self.sweep_models():
            self.open_model(self.sweep_models()[text])
        else:
            self.open_model(text.removeprefix(USER_MODEL))
        self._refresh_labels()

    @staticmethod
    def _select(box: QComboBox, text: str, before_last: bool = True) -> None:
        """Show ``text`` as the current entry of ``box`` (inserted if new)."""
        if not text:
            return
        box.blockSignals(True)
        i = box.findText(text)
        if i < 0:
            box.insertItem(box.count() - 1 if before_last else box.count(), text)
            i = box.findText(text)
        box.setCurrentIndex(i)
        box.blockSignals(False)

    def _refresh_labels(self) -> None:
        s = self.session
        title = self._title(s.model_name)
        self._select(self.model_box, title or NO_MODEL)
        self._select(self.data_box, s.data_name)
        self.model_label.setText(f"model: {title or 'none'}")
        self.data_label.setText(f"data: {Path(s.data_name).name or 'none'}"
                                + (f" ({s.data.n_frames} frames)" if s.data is not None else ""))

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
        event.acceptProposedAction()

    def open_path(self, path: str | Path) -> None:
        """Open a dropped path: sweep folders show their table, checkpoint folders load as
        models, anything else as data."""
        p = Path(path)
        if is_sweep(p):
            self.open_sweep(p)
        elif is_checkpoint(p):
            self.open_model(p)
        else:
            self.open_data(p)

