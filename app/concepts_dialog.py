"""Help › Concepts: a searchable list of the workbench's quantities and their full texts.

The texts are :data:`eegmi.concepts.CONCEPTS` (the same the panels' tooltips and
``eegmi concepts`` show); nothing is written here.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from eegmi.concepts import CONCEPTS, Concept, concept, search

KEY_ROLE = Qt.ItemDataRole.UserRole


def concept_html(c: Concept) -> str:
    """The page text of ``c``: name, aliases, tooltip line, then the long text's paragraphs."""
    also = f" <i>(also: {html.escape(', '.join(c.aliases))})</i>" if c.aliases else ""
    pars = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                   for p in c.long.split("\n\n"))
    return (f"<h3>{html.escape(c.name)}</h3><p><tt>{c.key}</tt>{also}</p>"
            f"<p><b>{html.escape(c.short)}</b></p>{pars}")


class ConceptsDialog(QDialog):
    """Filter box over a list of concepts; the selected concept's text on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Concepts")
        self.resize(900, 560)
        lay = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter: α, action, FVE, control, sanity…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.apply_filter)
        lay.addWidget(self.filter)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._on_current)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        split.addWidget(self.list)
        split.addWidget(self.text)
        split.setStretchFactor(1, 3)
        split.setSizes([240, 660])
        row = QHBoxLayout()
        row.addWidget(split)
        lay.addLayout(row, 1)
        self.apply_filter("")

    def keys(self) -> list[str]:
        """The keys listed now, in order."""
        return [self.list.item(i).data(KEY_ROLE) for i in range(self.list.count())]

    def apply_filter(self, text: str) -> None:
        """List the concepts whose name, aliases or texts contain ``text``."""
        current = self.list.currentItem()
        keep = current.data(KEY_ROLE) if current is not None else None
        self.list.blockSignals(True)
        self.list.clear()
        for c in search(text):
            item = QListWidgetItem(c.name)
            item.setData(KEY_ROLE, c.key)
            item.setToolTip(c.short)
            self.list.addItem(item)
        self.list.blockSignals(False)
        keys = self.keys()
        if keys:
            self.show_concept(keep if keep in keys else keys[0])
        else:
            self.text.setHtml(f"<p>No concept matches <b>{html.escape(text)}</b>.</p>")

    def show_concept(self, key: str) -> None:
        """Select ``key`` (listed or not: the filter is cleared when it hides it)."""
        if key not in self.keys():
            self.filter.setText("")
        row = self.keys().index(key)
        if self.list.currentRow() != row:
            self.list.setCurrentRow(row)  # -> _on_current
        else:
            self.text.setHtml(concept_html(concept(key)))

    def shown_key(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(KEY_ROLE))

    def _on_current(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is not None:
            self.text.setHtml(concept_html(concept(item.data(KEY_ROLE))))


__all__ = ["CONCEPTS", "ConceptsDialog", "concept_html"]
