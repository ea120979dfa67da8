"""The eegmi workbench GUI (PySide6 + pyqtgraph): thin views over the eegmi library."""
