"""DEAP preprocessed files (``sNN.dat``) read without executing anything in them.

A DEAP ``sNN.dat`` is a Python 2 pickle of ``{"data": (40 trials, 40 channels,
8064 samples) float, "labels": (40, 4)}`` at 128 Hz, the first 32 channels
being EEG in Geneva order (``eegmi.data.montage.DEAP_CHANNELS``) in µV.  It is
read with :class:`SafeUnpickler`, which resolves only the globals a numpy array
needs, so a file holding any other object (``os.system``, a class, a function)
is refused before it can run.  A folder of such files becomes one float32
memmap cache (1.3 GB for all 32 subjects) rather than one array in memory.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.recording import check_values
from eegmi.errors import DataError

DEAP_SFREQ = 128.0
DEAP_N_EEG = 32

#: The only globals a pickled numpy array refers to.  ``_codecs.encode`` is how
#: Python 3 writes ``bytes`` under protocol 2 (the raw array buffer); it only
#: turns a str into bytes.  Python 2 files (the DEAP originals) need none of it.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that admits numpy arrays and plain containers only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _safe_load(path: Path) -> Any:
    try:
        if path.stat().st_size == 0:
            raise DataError("file is empty", path)
        with open(path, "rb") as fh:  # streamed: the raw bytes are never held whole
            return SafeUnpickler(fh, encoding="latin1").load()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if msg.startswith("refusing"):
            raise DataError(f"not a DEAP file: pickle holds objects other than arrays ({msg})",
                            path) from exc
        raise DataError(f"not a readable DEAP pickle (truncated or corrupt): {msg}", path) from exc
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            MemoryError, UnicodeDecodeError) as exc:
        raise DataError(f"not a readable DEAP pickle (truncated or corrupt): "
                        f"{type(exc).__name__}", path) from exc


def read_deap_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one DEAP preprocessed file.

    Returns
    -------
    eeg
        ``(trials, 32, samples)`` float32 EEG in µV, channels in DEAP (Geneva) order.
    labels
        ``(trials, 4)`` float ratings (valence, arousal, dominance, liking), or an
        empty ``(trials, 0)`` array when the file has none.

    Raises
    ------
    DataError
        Empty, truncated, not a dict with ``data`` of shape (trials, >=32, samples),
        or holding anything but arrays and plain containers.
    """
    path = Path(path)
    obj = _safe_load(path)
    if not isinstance(obj, dict) or "data" not in obj:
        kind = type(obj).__name__
        raise DataError(f"not a DEAP file: expected a dict with 'data' and 'labels', got {kind}",
                        path)
    data = obj["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 3 or data.shape[1] < DEAP_N_EEG:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"DEAP 'data' must be an array (trials, >=32 channels, samples), "
                        f"got {shape}", path)
    if data.shape[0] == 0 or data.shape[2] == 0:
        raise DataError(f"DEAP 'data' is empty: shape {data.shape}", path)
    if not np.issubdtype(data.dtype, np.number):
        raise DataError(f"DEAP 'data' has non-numeric dtype {data.dtype}", path)
    labels = obj.get("labels")
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and len(labels) == len(data):
        labels = labels.astype(np.float32)
    else:
        labels = np.zeros((len(data), 0), dtype=np.float32)
    return np.asarray(data[:, :DEAP_N_EEG], dtype=np.float32), labels


def subject_id(path: Path) -> int | None:
    """Subject number from a DEAP file name ``sNN.dat`` (None for other names)."""
    m = re.fullmatch(r"s(\d+)\.dat", path.name, flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def deap_files(folder: Path) -> list[Path]:
    """The ``sNN.dat`` files of a folder, by subject number."""
    files = [p for p in folder.iterdir() if p.is_file() and subject_id(p) is not None]
    return sorted(files, key=lambda p: subject_id(p) or 0)


def _cache_key(files: list[Path], ch_names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update("|".join(ch_names).encode())
    return h.hexdigest()[:20]


def _npy_header(shape: tuple[int, int], size: int = 128) -> bytes:
    """A version-1.0 ``.npy`` header for little-endian float32 C-order data, padded to
    exactly ``size`` bytes so it can be rewritten once the final shape is known."""
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    body = size - 10  # magic (6) + version (2) + header length (2)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", body) + (text.ljust(body - 1) + "\n").encode()


def build_folder_cache(folder: Path, order: np.ndarray, ch_names: tuple[str, ...],
                       cache_root: Path) -> dict[str, Path]:
    """Write (or reuse) a memmap cache of every ``sNN.dat`` in ``folder``.

    Parameters
    ----------
    folder
        Folder holding DEAP files.
    order
        ``(n,)`` indices into the 32 DEAP channels giving montage order.
    ch_names
        Montage channel names (part of the cache key).
    cache_root
        Where caches live (``EEGMI_CACHE`` or ``~/.cache/eegmi``).

    Returns
    -------
    dict
        Paths of ``values`` ``(N, n)`` float32, ``subject`` ``(N,)`` int16,
        ``trial`` ``(N,)`` int32 (``.npy``) and ``meta`` (``.json``).  Each file is
        written to a temporary name and renamed, the meta file last, so an
        interrupted build is never mistaken for a cache.
    """
    from eegmi.paths import atomic_path

    files = deap_files(folder)
    if not files:
        raise DataError("folder holds no DEAP files named sNN.dat", folder)
    key = _cache_key(files, ch_names)
    base = cache_root / f"deap_{key}"
    paths = {"values": base.with_suffix(".values.npy"), "subject": base.with_suffix(".subject.npy"),
             "trial": base.with_suffix(".trial.npy"), "meta": base.with_suffix(".json")}
    if all(p.exists() for p in paths.values()):
        return paths
    n = len(order)
    cache_root.mkdir(parents=True, exist_ok=True)
    sizes: list[tuple[int, int]] = []
    with atomic_path(paths["values"]) as tv, atomic_path(paths["subject"]) as ts, \
            atomic_path(paths["trial"]) as tt:
        # one pass over the files: stream blocks after a fixed-size .npy header whose
        # shape is filled in at the end, so each (100 MB) file is unpickled only once
        with open(tv, "wb") as fh:
            fh.write(_npy_header((0, n)))
            for p in files:
                eeg, _ = read_deap_file(p)
                n_tr, _, n_s = eeg.shape
                # (trials, ch, samples) -> (trials*samples, ch), channels into montage order
                block = np.ascontiguousarray(eeg[:, order, :].transpose(0, 2, 1)).reshape(-1, n)
                del eeg
                check_values(block, ch_names, p)  # checked here so reusing the cache needs no pass
                fh.write(block.astype("<f4", copy=False).tobytes())
                sizes.append((n_tr, n_s))
            n_total = sum(a * b for a, b in sizes)
            fh.seek(0)
            fh.write(_npy_header((n_total, n)))
        subj = np.lib.format.open_memmap(ts, mode="w+", dtype=np.int16, shape=(n_total,))
        trial = np.lib.format.open_memmap(tt, mode="w+", dtype=np.int32, shape=(n_total,))
        row = 0
        for p, (n_tr, n_s) in zip(files, sizes, strict=True):
            subj[row:row + n_tr * n_s] = subject_id(p) or 0
            trial[row:row + n_tr * n_s] = np.repeat(np.arange(n_tr, dtype=np.int32), n_s)
            row += n_tr * n_s
        subj.flush()
        trial.flush()
        del subj, trial
    meta = {"folder": str(folder.resolve()), "files": [p.name for p in files],
            "ch_names": list(ch_names), "n_frames": n_total, "sfreq": DEAP_SFREQ}
    with atomic_path(paths["meta"]) as tm:
        tm.write_text(json.dumps(meta))
    return paths
