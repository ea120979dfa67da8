"""The eegmi workbench GUI (PySide6 + pyqtgraph): thin views over the eegmi library."""

from app import pyside_compat  # noqa: F401  (must run before any pyqtgraph item exists)
