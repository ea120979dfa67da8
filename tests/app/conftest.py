"""GUI tests: keep QSettings (window layout, recent files, theme) out of the user's home."""

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

