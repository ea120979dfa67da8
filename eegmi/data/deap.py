"""DEAP preprocessed files (``sNN.dat``) read without executing anything in them.

A DEAP ``sNN.dat`` is a Python 2 pickle (protocol 2) of ``{"labels": (40 trials, 4)
float64, "data": (40, 40 channels, 8064 samples) float64}`` at 128 Hz, the first
32 channels being EEG in Geneva order (``eegmi.data.montage.DEAP_CHANNELS``) in
µV.  It is decoded by :func:`eegmi.data.deap_pickle.loads`, a strict opcode
interpreter that admits only plain numeric numpy arrays in one dict and builds
them as views of the file's bytes, so no pickle is ever run.  A folder of such
files becomes one float32 memmap cache (1.3 GB for all 32 subjects) rather than
one array in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from eegmi.data.files import check_regular, read_regular
from eegmi.data.recording import check_values, to_float32
from eegmi.errors import DataError

DEAP_SFREQ = 128.0
DEAP_N_EEG = 32
#: a DEAP subject file is ~100 MB; anything far larger is not one (and is read whole)
MAX_DEAP_BYTES = 2 << 30
#: subject ids are stored as int16
MAX_SUBJECT = int(np.iinfo(np.int16).max)


def load_deap_pickle(path: Path) -> dict:
    """The dict pickled in ``path``, decoded without ``pickle`` (see :mod:`eegmi.data.deap_pickle`).

    Raises
    ------
    DataError
        Empty, unreadable, not a regular file, too large, truncated, corrupt, or
        holding anything but one dict of plain numeric arrays.
    """
    from eegmi.data.deap_pickle import loads
    from eegmi.data.pickle_ops import Refused

    buf = read_regular(path, MAX_DEAP_BYTES, "DEAP file")
    try:
        return loads(buf)
    except Refused as exc:
        if exc.corrupt:
            raise DataError(f"not a readable DEAP pickle (truncated or corrupt): {exc}",
                            path) from None
        raise DataError(f"not a DEAP file: {exc}", path) from None


def read_deap_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one DEAP preprocessed file.

    Returns
    -------
    eeg
        ``(trials, 32, samples)`` float32 EEG in µV, channels in DEAP (Geneva) order.
    labels
        ``(trials, k)`` float32 ratings (DEAP: valence, arousal, dominance, liking),
        or an empty ``(trials, 0)`` array when the file has none.

    Raises
    ------
    DataError
        Empty, truncated, not a dict with ``data`` of shape (trials, >=32, samples),
        ``labels`` that are not finite ``(trials, k)`` numbers, values beyond
        float32, or holding anything but plain numeric arrays.
    """
    path = Path(path)
    obj = load_deap_pickle(path)
    data = obj.get("data")
    if data is None:
        raise DataError(f"not a DEAP file: expected a dict with 'data' and 'labels', has "
                        f"{sorted(obj)[:8]}", path)
    if not isinstance(data, np.ndarray) or data.ndim != 3 or data.shape[1] < DEAP_N_EEG:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"DEAP 'data' must be an array (trials, >=32 channels, samples), "
                        f"got {shape}", path)
    if data.shape[0] == 0 or data.shape[2] == 0:
        raise DataError(f"DEAP 'data' is empty: shape {data.shape}", path)
    if data.shape[0] * DEAP_N_EEG * data.shape[2] * 4 > MAX_DEAP_BYTES:  # int8 data grows 4x
        raise DataError(f"DEAP 'data' {data.shape} is too large for one subject file", path)
    labels = obj.get("labels")
    if labels is None:
        labels = np.zeros((len(data), 0), dtype=np.float32)
    else:
        if not isinstance(labels, np.ndarray) or labels.ndim != 2 or len(labels) != len(data):
            shape = getattr(labels, "shape", type(labels).__name__)
            raise DataError(f"DEAP 'labels' must be an array (trials={len(data)}, ratings), "
                            f"got {shape}", path)
        labels = to_float32(labels, "DEAP 'labels'", path)
        bad = int((~np.isfinite(labels)).sum())
        if bad:
            raise DataError(f"DEAP 'labels' has {bad} NaN/Inf values", path)
    # NaN/Inf and flat channels in the EEG are named per channel by check_values later
    eeg = to_float32(data[:, :DEAP_N_EEG], "DEAP 'data'", path)
    # float32 files give read-only views of the whole file's bytes: own the result
    return (eeg if eeg.flags.owndata else eeg.copy(),
            labels if labels.flags.owndata else labels.copy())


def subject_id(path: Path) -> int | None:
    """Subject number from a DEAP file name ``sNN.dat`` (None for other names).

    Raises
    ------
    DataError
        A number beyond the int16 subject ids (``s40000.dat``).
    """
    m = re.fullmatch(r"s(\d+)\.dat", path.name, flags=re.IGNORECASE)
    if m is None:
        return None
    digits = m.group(1).lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > MAX_SUBJECT:
        raise DataError(f"subject number {digits[:12]}{'...' if len(digits) > 12 else ''} in "
                        f"the file name is out of range 0..{MAX_SUBJECT}", path)
    return int(digits)


def deap_files(folder: Path) -> list[Path]:
    """The ``sNN.dat`` files of a folder, by subject number.

    Raises
    ------
    DataError
        One of them is not a regular file (a FIFO, a device, a folder), or two
        name the same subject (``s1.dat`` and ``s01.dat``).
    """
    found: dict[int, Path] = {}
    for p in folder.iterdir():
        sid = subject_id(p)
        if sid is None:
            continue
        check_regular(p)
        if sid in found:
            raise DataError(f"two files for subject {sid}: {found[sid].name} and {p.name}",
                            folder)
        found[sid] = p
    return [found[k] for k in sorted(found)]


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

    files = deap_files(folder)
    if not files:
        raise DataError("folder holds no DEAP files named sNN.dat", folder)
    key = _cache_key(files, ch_names)
    base = cache_root / f"deap_{key}"
    paths = {"values": base.with_suffix(".values.npy"), "subject": base.with_suffix(".subject.npy"),
             "trial": base.with_suffix(".trial.npy"), "meta": base.with_suffix(".json")}
    if all(p.exists() for p in paths.values()):
        return paths
    cache_root.mkdir(parents=True, exist_ok=True)
    with _build_lock(base):
        if all(p.exists() for p in paths.values()):  # another process built it meanwhile
            return paths
        # under the lock no other build of this key runs: temporary files left by a
        # killed build (up to the whole 1.3 GB) are stale and go before the new build
        for stale in cache_root.glob(f".{base.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        return _write_folder_cache(files, order, ch_names, folder, paths)


def write_frame_index(subject_path: Path, trial_path: Path, files: list[Path],
                      sizes: list[tuple[int, int]]) -> None:
    """Write each frame's subject id and trial index as ``.npy`` files.

    Parameters
    ----------
    subject_path, trial_path : outputs, ``(N,)`` int16 and ``(N,)`` int32
    files : the ``sNN.dat`` files in the order their frames were written
    sizes : ``(trials, samples per trial)`` of each file; ``N`` is the sum of the products
    """
    n_total = sum(a * b for a, b in sizes)
    subj = np.lib.format.open_memmap(subject_path, mode="w+", dtype=np.int16, shape=(n_total,))
    trial = np.lib.format.open_memmap(trial_path, mode="w+", dtype=np.int32, shape=(n_total,))
    row = 0
    for p, (n_tr, n_s) in zip(files, sizes, strict=True):
        subj[row:row + n_tr * n_s] = subject_id(p) or 0
        trial[row:row + n_tr * n_s] = np.repeat(np.arange(n_tr, dtype=np.int32), n_s)
        row += n_tr * n_s
    subj.flush()
    trial.flush()
    del subj, trial


@contextmanager
def _build_lock(base: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``base.lock`` (released when the process dies)."""
    import fcntl

    lock = base.with_suffix(".lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_folder_cache(files: list[Path], order: np.ndarray, ch_names: tuple[str, ...],
                        folder: Path, paths: dict[str, Path]) -> dict[str, Path]:
    from eegmi.paths import atomic_path

    n = len(order)
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
        write_frame_index(ts, tt, files, sizes)
    meta = {"folder": str(folder.resolve()), "files": [p.name for p in files],
            "ch_names": list(ch_names), "n_frames": n_total, "sfreq": DEAP_SFREQ}
    with atomic_path(paths["meta"]) as tm:
        tm.write_text(json.dumps(meta))
    return paths
