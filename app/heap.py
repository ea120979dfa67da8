"""Handing freed heap pages back to the system (glibc ``malloc_trim``), Qt-free."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _heap_trimmer() -> Callable[[], None]:
    """``malloc_trim(0)`` where the C library has it (glibc), else a no-op."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)  # ctypes lets go of the GIL meanwhile

    return release


#: hands freed heap pages back to the system.  Jobs and model loads allocate and free
#: hundreds of MB in blocks that glibc keeps in its arenas once its adaptive mmap
#: threshold has risen: without this the resident size only ever steps up, by tens
#: of MB per job, although nothing is kept alive.
release_free_memory = _heap_trimmer()
