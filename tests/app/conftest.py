"""GUI tests: keep QSettings (window layout, recent files, theme) out of the user's home;
the main window as a user sees it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def isolated_settings(tmp_path, qapp):
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "cfg"))
    settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "eegmi", "workbench")
    settings.clear()
    yield settings
    settings.clear()


@pytest.fixture
def window(qtbot, isolated_settings):
    """The shown main window (closed after the test)."""
    from app.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
