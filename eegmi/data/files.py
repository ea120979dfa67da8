"""Opening input files so that a FIFO, device or socket is refused instead of blocking.

``open()`` on a FIFO waits for a writer and ``read()`` on ``/dev/zero`` never ends,
so every loader checks that a path is a regular file before any reader touches it.
Files this module opens itself are opened non-blocking and checked with ``fstat``
on the open descriptor, so a path swapped for a FIFO after the check cannot hang
the read either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from eegmi.errors import DataError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_mode(mode: int, path: Path) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise DataError("is a folder, not a file", path)
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise DataError(f"is {kind}, not a regular file: refusing to read it", path)


def physical_memory() -> int:
    """Bytes of RAM in this machine (16 GiB when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 16 << 30


def check_regular(path: str | Path) -> os.stat_result:
    """``os.stat`` of ``path`` (links followed), refusing anything but a regular file.

    Raises
    ------
    DataError
        Missing or unreadable path, a folder, a FIFO, a device or a socket.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise DataError("no such file or folder", path) from exc
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    _check_mode(st.st_mode, path)
    return st


def open_regular(path: str | Path) -> BinaryIO:
    """Open a regular file for binary reading without ever blocking on a FIFO.

    Returns
    -------
    BinaryIO
        A buffered binary file; the caller closes it.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise DataError("no such file or folder", path) from exc
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    try:
        _check_mode(os.fstat(fd).st_mode, path)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The whole content of a regular file, refusing empty files and ones over ``max_bytes``.

    Parameters
    ----------
    path
        File to read.
    max_bytes
        Largest size accepted (checked before anything is allocated).
    what
        What the file should be, for the message about its size.

    Returns
    -------
    bytes
        The file's bytes, as many as its size when opened (a file that shrinks while
        read is refused).
    """
    path = Path(path)
    with open_regular(path) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise DataError("file is empty", path)
            if size > max_bytes:
                raise DataError(f"file is {size / 2**20:.0f} MiB, more than a {what} can be "
                                f"({max_bytes / 2**20:.0f} MiB)", path)
            data = fh.read(size)  # one allocation of the declared size, not zero-filled
        except OSError as exc:
            raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    if len(data) != size:
        raise DataError(f"file shrank while being read ({len(data)} of {size} bytes)", path)
    return data
