"""Work around a PySide6 6.12.0 reference-counting bug that aborts the app.

PySide6 6.12.0 on Python 3.11 drops one reference to ``None`` on each call of a
Python override of ``QGraphicsItem.itemChange`` (every pyqtgraph item has one),
so after enough repaints the interpreter aborts with "deallocating None"
(6.11.3 does not; Python >= 3.12 is immune because its singletons are immortal).
For that combination only, give None/True/False a huge reference count, which
is what Python 3.12 does for every singleton.
"""

from __future__ import annotations

import ctypes
import sys


def make_singletons_immortal() -> bool:
    """Apply the work-around when the buggy combination is running; True if applied."""
    import PySide6

    if PySide6.__version__ != "6.12.0" or sys.version_info >= (3, 12):
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40
    return True


APPLIED = make_singletons_immortal()
