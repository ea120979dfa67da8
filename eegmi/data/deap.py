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
import io
import json
import pickle
import re
from collections.abc import Iterator
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
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    if not raw:
        raise DataError("file is empty", path)
    try:
        return SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
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


def _scan(files: list[Path]) -> Iterator[tuple[Path, np.ndarray]]:
    for p in files:
        eeg, _ = read_deap_file(p)
        yield p, eeg


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
    # first pass reads only shapes; the arrays are re-read one file at a time when writing
    shapes = []
    for p in files:
        eeg, _ = read_deap_file(p)
        shapes.append(eeg.shape)
    n_total = sum(s[0] * s[2] for s in shapes)
    n = len(order)
    cache_root.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths["values"]) as tv, atomic_path(paths["subject"]) as ts, \
            atomic_path(paths["trial"]) as tt:
        values = np.lib.format.open_memmap(tv, mode="w+", dtype=np.float32, shape=(n_total, n))
        subj = np.lib.format.open_memmap(ts, mode="w+", dtype=np.int16, shape=(n_total,))
        trial = np.lib.format.open_memmap(tt, mode="w+", dtype=np.int32, shape=(n_total,))
        row = 0
        for p, eeg in _scan(files):
            n_tr, _, n_s = eeg.shape
            # (trials, ch, samples) -> (trials*samples, ch), channels into montage order
            block = eeg[:, order, :].transpose(0, 2, 1).reshape(n_tr * n_s, n)
            check_values(block, ch_names, p)  # checked here so reusing the cache needs no pass
            values[row:row + len(block)] = block
            subj[row:row + len(block)] = subject_id(p) or 0
            trial[row:row + len(block)] = np.repeat(np.arange(n_tr, dtype=np.int32), n_s)
            row += len(block)
        for arr in (values, subj, trial):
            arr.flush()
        del values, subj, trial
    meta = {"folder": str(folder.resolve()), "files": [p.name for p in files],
            "ch_names": list(ch_names), "n_frames": n_total, "sfreq": DEAP_SFREQ}
    with atomic_path(paths["meta"]) as tm:
        tm.write_text(json.dumps(meta))
    return paths
