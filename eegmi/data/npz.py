"""``.npz`` members read only after their declared sizes are checked.

``np.load`` decompresses a member as far as the member says: a 2 MB archive
whose ``data`` declares 2 GiB of zeros costs 2.5 GB before anything can look at
it.  Here each member's ``.npy`` header (the first bytes, decompressed alone)
must agree with the size the zip declares for it, and those sizes are checked
before any array is read:

- ``data`` ``(frames, channels)``: compressed members may not expand more than
  :data:`MAX_RATIO` times (recorded EEG deflates ~1.1-3x) beyond :data:`RATIO_FREE`
  bytes, and the array with its float32 copy must fit in half the machine's memory
  (:data:`MAX_MEMORY_FRACTION`; a larger recording belongs in a memory-mapped ``.npy``);
- ``ch_names``, ``sfreq``, ``subject`` and ``trial`` are bounded by the shape of
  ``data`` (one name per channel, one id per frame), so they cannot be larger.

Object arrays are refused from the header, never unpickled.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.files import open_regular, physical_memory
from eegmi.errors import DataError

MAX_RATIO = 50
RATIO_FREE = 64 << 20
MAX_MEMORY_FRACTION = 0.5
MAX_NAME_BYTES = 4 * 256  # a channel name of up to 256 characters
MAX_HEADER = 10_000  # numpy's own default limit on .npy header size
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"

#: errors zipfile, zlib and numpy's header parser raise on damaged archives
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, OSError,
            EOFError, ValueError, KeyError, NotImplementedError, RuntimeError)


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
            path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a member's ``.npy`` header, checked against its declared size."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh, MAX_HEADER)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh, MAX_HEADER)
        else:
            raise DataError(f"not a readable .npz: member {key!r} has .npy version {version}",
                            path)
        header_len = fh.tell()
    if dtype.hasobject:
        raise DataError(f"not a readable .npz: member {key!r} holds Python objects (object "
                        "arrays are never loaded)", path)
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_len + nbytes:
        raise DataError(f"not a readable .npz (truncated or corrupt): member {key!r} declares "
                        f"shape {shape} {dtype} ({nbytes} bytes) but the archive says "
                        f"{info.file_size - header_len}", path)
    return shape, dtype


def _check_data_size(info: zipfile.ZipInfo, shape: tuple[int, ...], dtype: np.dtype,
                     archive_size: int, path: Path) -> None:
    if info.compress_size > archive_size:
        raise DataError("not a readable .npz (truncated or corrupt): member 'data' is larger "
                        "than the archive", path)
    declared = info.file_size
    if info.compress_type == zipfile.ZIP_STORED:
        if declared != info.compress_size:
            raise DataError("not a readable .npz (truncated or corrupt): stored member 'data' "
                            "declares a size it does not hold", path)
    elif declared > RATIO_FREE and declared > MAX_RATIO * max(info.compress_size, 1):
        raise DataError(f"npz member 'data' declares {declared / 2**30:.2f} GiB from "
                        f"{info.compress_size / 2**20:.2f} MiB compressed (x"
                        f"{declared / max(info.compress_size, 1):.0f}): refusing what looks "
                        f"like a zip bomb (EEG compresses less than x{MAX_RATIO})", path)
    need = math.prod(shape) * (dtype.itemsize + (0 if dtype == np.float32 else 4))
    limit = MAX_MEMORY_FRACTION * physical_memory()
    if need > limit:
        raise DataError(f"npz 'data' {shape} {dtype} needs {need / 2**30:.1f} GiB in memory, "
                        f"more than {limit / 2**30:.1f} GiB; save it as .npy (memory-mapped) "
                        "instead", path)


def read_npz_members(path: Path) -> dict[str, np.ndarray]:
    """``data``, ``ch_names`` and, when present, ``sfreq``, ``subject`` and ``trial``.

    Returns
    -------
    dict
        ``data (N, n)`` of the file's dtype, ``ch_names (n,)``, ``sfreq`` with one
        value, ``subject``/``trial`` ``(N,)`` (unchecked values: the caller checks
        dtypes and ranges).

    Raises
    ------
    DataError
        Not a zip, damaged, missing members, object arrays, inconsistent shapes or
        sizes beyond the limits in the module docstring, all before the arrays are read.
    """
    with open_regular(path) as fh:
        magic = fh.read(6)
        if magic[:4] not in ZIP_MAGIC:
            what = "an .npy array" if magic == NPY_MAGIC else "not an npz archive"
            raise DataError(f"file named .npz is {what}", path)
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        try:
            with zipfile.ZipFile(fh) as zf:
                return _read_members(zf, size, path)
        except DataError:
            raise
        except _DAMAGED as exc:
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DataError(f"not a readable .npz (truncated, corrupt or holding objects): "
                            f"{text}", path) from exc


def _read_members(zf: zipfile.ZipFile, size: int, path: Path) -> dict[str, np.ndarray]:
    infos = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
    if "data" not in infos or "ch_names" not in infos:
        names = sorted(infos)
        listed = ", ".join(repr(n[:40]) for n in names[:10]) + (" ..." if len(names) > 10 else "")
        raise DataError(f"npz needs arrays 'data' and 'ch_names', has [{listed}]", path)
    heads = {key: _header(zf, infos[key], key, path)
             for key in ("data", "ch_names", "sfreq", "subject", "trial") if key in infos}
    (shape, dtype), (nshape, ndtype) = heads["data"], heads["ch_names"]
    if len(shape) != 2 or nshape != shape[1:]:
        raise DataError(f"npz 'data' must be (frames, channels) matching 'ch_names': got "
                        f"{shape} and {nshape}", path)
    _check_data_size(infos["data"], shape, dtype, size, path)
    if ndtype.itemsize > MAX_NAME_BYTES:
        raise DataError(f"npz 'ch_names' entries are {ndtype.itemsize} bytes long", path)
    if "sfreq" in heads and math.prod(heads["sfreq"][0]) != 1:
        raise DataError(f"npz 'sfreq' must be one number, got shape {heads['sfreq'][0]}", path)
    for key in ("subject", "trial"):
        if key in heads and (heads[key][0] != shape[:1] or heads[key][1].itemsize > 8):
            raise DataError(f"npz 'subject'/'trial' must have shape ({shape[0]},), got "
                            f"{key!r} {heads[key][0]} {heads[key][1]}", path)
    out: dict[str, Any] = {}
    for key in heads:
        with zf.open(infos[key]) as fh:
            out[key] = np.lib.format.read_array(fh, allow_pickle=False,
                                                max_header_size=MAX_HEADER)
    return out
