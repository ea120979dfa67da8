"""The eegmi workbench GUI (PySide6 + pyqtgraph): thin views over the eegmi library."""

import eegmi  # noqa: F401  (its process settings must precede the worker's torch import)
