"""Topomap operators of built-in montages, kept on disk between runs.

Building the biosemi32 40x40 cubic operator imports MNE (for the montage) and
scipy's interpolators and triangulates the electrodes: about 3 s of a cold start,
on the GUI thread before the first scalp map can be drawn. The finished operator
is a few arrays, so after the first build it is stored in the cache folder
(``EEGMI_CACHE`` or ``~/.cache/eegmi``) and read back with numpy alone.

Only operators of built-in montages (asked for by name) are stored; a file is used
only when its format version, eegmi version, name, size and method match and every
array has the shape and values an operator must have. Anything else (a truncated or
foreign file, an unwritable folder) falls back to building, never to an error.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from eegmi.data.topomap import TopomapOperator

#: bump when what an operator holds, or how it is computed, changes
FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def cache_file(name: str, size: int, method: str) -> Path | None:
    """Where the operator of built-in montage ``name`` is kept (None: not cacheable)."""
    from eegmi import __version__
    from eegmi.data.synthetic import cache_dir

    key = name.strip().lower()
    if not _NAME.match(key) or not _NAME.match(str(method)):
        return None
    return cache_dir() / f"topomap_{key}_{int(size)}_{method}_v{FORMAT_VERSION}_{__version__}.npz"


def load(name: str, size: int, method: str) -> TopomapOperator | None:
    """The stored operator, or None when there is none or it does not check out."""
    from eegmi.data.montage import Montage
    from eegmi.data.topomap import TopomapOperator

    path = cache_file(name, size, method)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k]) for k in npz.files}
        meta = {k: str(arrays.pop(f"meta_{k}")) for k in ("name", "method")}
        n_size = int(arrays.pop("meta_size"))
        scalars = arrays.pop("scalars").astype(np.float64)
        ch_names = tuple(str(c) for c in arrays.pop("ch_names"))
        pos = arrays.pop("pos").astype(np.float64)
        if (meta["name"].lower() != name.strip().lower() or meta["method"] != method
                or n_size != size or not _consistent(arrays, len(ch_names), size, scalars)):
            return None
        montage = Montage(meta["name"], ch_names, pos)
        return TopomapOperator.from_arrays(montage, size, method, float(scalars[0]),
                                           float(scalars[1]), arrays)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None  # unreadable or not ours: build it instead


def _consistent(arrays: dict[str, np.ndarray], n: int, size: int, scalars: np.ndarray) -> bool:
    px = size * size
    shapes = {"matrix": (px, n), "head_mask": (size, size), "hull_mask": (size, size),
              "electrode_xy": (n, 2), "electrode_pixels": (n, 2), "projected": (n, 2),
              "grid_x": (size, size), "grid_y": (size, size)}
    if set(arrays) != set(shapes) or scalars.shape != (2,) or not np.all(np.isfinite(scalars)):
        return False
    for key, shape in shapes.items():
        arr = arrays[key]
        if arr.shape != shape:
            return False
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            return False
    return (arrays["matrix"].dtype == np.float32 and arrays["head_mask"].dtype == bool
            and arrays["hull_mask"].dtype == bool)


def store(op: TopomapOperator, name: str) -> Path | None:
    """Keep ``op`` (built for built-in montage ``name``) on disk; None when it is not a
    built-in montage or the folder cannot be written (the next start builds it again)."""
    from eegmi.data.montage import builtin_montage_names
    from eegmi.paths import atomic_path

    path = cache_file(name, op.size, op.method)
    if path is None or path.exists():
        return None
    if name.strip().lower() not in {b.lower() for b in builtin_montage_names()}:
        return None  # an electrode file: its contents may change under the same name
    arrays = {k: getattr(op, k) for k in op.ARRAYS}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta_name=np.array(op.montage.name), meta_method=np.array(op.method),
                     meta_size=np.array(op.size), ch_names=np.array(op.montage.ch_names),
                     pos=op.montage.pos, scalars=np.array([op.pixel_size, op.head_radius]),
                     **arrays)
    except OSError:
        return None
    return path
