"""Load any supported EEG file into :class:`EEGData` in montage channel order.

Supported inputs (dispatched on the path):

- a DEAP preprocessed file ``sNN.dat`` (:mod:`eegmi.data.deap`), 128 Hz, µV;
- a folder of DEAP files: cached once as a float32 memmap under ``EEGMI_CACHE``
  (default ``~/.cache/eegmi``) so the 1.3 GB full set is never held in memory;
- anything ``mne.io.read_raw`` reads (``.bdf .edf .gdf .fif .fif.gz .vhdr .set``):
  EEG channels are picked, matched to the montage by name, resampled to 128 Hz
  and converted from volts to µV;
- ``.npz`` with ``data (N, n)`` and ``ch_names (n,)``, optional ``sfreq``
  (default 128), ``subject (N,)``, ``trial (N,)``; values are taken as µV;
- ``.npy`` of shape ``(N, n)`` (µV, 128 Hz): channel names come from the caller,
  or are the montage's own order when ``n`` equals the montage size.

Arrays are always read with ``allow_pickle=False``; nothing in a file is executed.
Only regular files are opened (a FIFO or device would block or never end), ``.npz``
members' sizes are checked before decompressing (:mod:`eegmi.data.npz`), complex,
datetime and non-numeric values are refused, and subject/trial ids must fit their
int16/int32 storage.  Every problem is a one-line :class:`~eegmi.errors.DataError`
naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.files import check_regular
from eegmi.data.recording import EEGData, check_dtype, check_ids, check_values, to_float32
from eegmi.errors import DataError

TARGET_SFREQ = 128.0
MNE_EXTENSIONS = (".bdf", ".edf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set")
EXTENSIONS = (".dat", ".npy", ".npz") + MNE_EXTENSIONS


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def _frames_meta(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n, dtype=np.int16), np.zeros(n, dtype=np.int32)


def read_native(path: str | Path, ch_names: Sequence[str] | None = None) -> EEGData:
    """Read a file with its own channels and order (no montage matching, no checks).

    Parameters
    ----------
    path
        A single file (not a DEAP folder).
    ch_names
        Channel names for a ``.npy`` file (required unless it has 32 columns,
        which are then taken as the DEAP/biosemi32 order).

    Returns
    -------
    EEGData
        ``values (N, n_file)`` in µV with the file's channel names.
    """
    path = Path(path)
    check_regular(path)
    ext = _suffix(path)
    if ext == ".dat":
        return _read_deap(path)
    if ext == ".npz":
        return _read_npz(path)
    if ext == ".npy":
        return _read_npy(path, ch_names)
    if ext in MNE_EXTENSIONS:
        return _read_mne(path)
    raise DataError(f"unknown file type {ext or '(none)'!r}; expected a folder of DEAP files or "
                    + " ".join(EXTENSIONS), path)


def _read_deap(path: Path) -> EEGData:
    from eegmi.data.deap import DEAP_SFREQ, read_deap_file, subject_id
    from eegmi.data.montage import DEAP_CHANNELS

    eeg, labels = read_deap_file(path)
    n_tr, n_ch, n_s = eeg.shape
    values = eeg.transpose(0, 2, 1).reshape(n_tr * n_s, n_ch)
    subject = np.full(len(values), subject_id(path) or 0, dtype=np.int16)  # id range checked
    trial = np.repeat(np.arange(n_tr, dtype=np.int32), n_s)
    prov = {"path": str(path), "loader": "deap", "units": "uV", "original_sfreq": DEAP_SFREQ,
            "labels": labels.tolist()}
    return EEGData(values, DEAP_CHANNELS, DEAP_SFREQ, subject, trial, prov)


def _read_npz(path: Path) -> EEGData:
    from eegmi.data.npz import read_npz_members

    z = read_npz_members(path)
    data, names = z["data"], z["ch_names"]
    values = to_float32(data, "npz 'data'", path)
    if names.dtype.kind not in "USiu":
        raise DataError(f"npz 'ch_names' must be names, got dtype {names.dtype}", path)
    sfreq = TARGET_SFREQ
    if "sfreq" in z:
        check_dtype(z["sfreq"].dtype, "npz 'sfreq'", path)
        sfreq = float(z["sfreq"].reshape(-1)[0])
    n = len(data)
    subject = (check_ids(z["subject"], "npz 'subject'", int(np.iinfo(np.int16).max), path)
               if "subject" in z else np.zeros(n, np.int64))
    trial = (check_ids(z["trial"], "npz 'trial'", int(np.iinfo(np.int32).max), path)
             if "trial" in z else np.zeros(n, np.int64))
    prov = {"path": str(path), "loader": "npz", "units": "uV", "original_sfreq": sfreq}
    truth = _sibling_truth(path)
    return EEGData(values, tuple(str(c) for c in names), sfreq, subject.astype(np.int16),
                   trial.astype(np.int32), prov, truth)


def _sibling_truth(path: Path) -> dict[str, Any] | None:
    """Ground truth written beside a synthetic ``.npz`` by ``write_synthetic``."""
    tj = path.with_name(path.stem + ".truth.json")
    tn = path.with_name(path.stem + ".truth.npz")
    if not (tj.exists() and tn.exists()):
        return None
    from eegmi.data.synthetic import load_ground_truth

    return load_ground_truth(tn, tj)


def _read_npy(path: Path, ch_names: Sequence[str] | None) -> EEGData:
    from eegmi.data.files import open_regular
    from eegmi.data.npz import NPY_MAGIC, ZIP_MAGIC

    with open_regular(path) as fh:
        magic = fh.read(6)
    if magic[:4] in ZIP_MAGIC:
        raise DataError("file named .npy is a zip archive (an .npz?): rename it to .npz", path)
    if magic != NPY_MAGIC:
        raise DataError("not a .npy file (no NUMPY header)", path)
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"not a readable .npy (truncated, corrupt or holding objects): "
                        f"{_short(exc)}", path) from exc
    if data.ndim != 2:
        raise DataError(f"npy must be (frames, channels), got shape {data.shape}", path)
    check_dtype(data.dtype, "npy", path)
    if ch_names is None:
        from eegmi.data.montage import DEAP_CHANNELS

        if data.shape[1] != len(DEAP_CHANNELS):
            raise DataError(f"npy has {data.shape[1]} columns: give the channel names "
                            f"(only 32 columns default to the biosemi32 order)", path)
        ch_names = DEAP_CHANNELS
    if len(ch_names) != data.shape[1]:
        raise DataError(f"npy has {data.shape[1]} columns but {len(ch_names)} channel names",
                        path)
    s, t = _frames_meta(len(data))
    prov = {"path": str(path), "loader": "npy", "units": "uV", "original_sfreq": TARGET_SFREQ}
    return EEGData(data, tuple(ch_names), TARGET_SFREQ, s, t, prov)


def _read_mne(path: Path) -> EEGData:
    import mne

    _check_companions(path)
    try:
        raw = mne.io.read_raw(path, preload=True, verbose="error")
    except Exception as exc:  # noqa: BLE001 - MNE raises many types for a bad file
        raise DataError(f"MNE cannot read this file: {_short(exc)}", path) from exc
    picks = mne.pick_types(raw.info, eeg=True, exclude=())
    if len(picks) == 0:
        raise DataError("file has no EEG channels", path)
    raw.pick(picks)
    original = float(raw.info["sfreq"])
    if abs(original - TARGET_SFREQ) > 1e-6:
        raw.resample(TARGET_SFREQ, verbose="error")
    values = to_float32(raw.get_data(units="uV").T, "EEG", path)
    s, t = _frames_meta(len(values))
    prov = {"path": str(path), "loader": "mne", "units": "uV", "original_sfreq": original}
    return EEGData(values, tuple(raw.ch_names), TARGET_SFREQ, s, t, prov)


def _check_companions(path: Path) -> None:
    """BrainVision/EEGLAB headers name their data files; those must be regular files too
    (MNE would block on a FIFO named there)."""
    if _suffix(path) not in (".vhdr", ".set"):
        return
    names = {path.with_suffix(ext) for ext in (".eeg", ".vmrk", ".fdt", ".dat")}
    if _suffix(path) == ".vhdr":
        from eegmi.data.files import open_regular

        with open_regular(path) as fh:
            head = fh.read(1 << 20).decode("latin-1", "replace")
        for line in head.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("DataFile", "MarkerFile") and value.strip():
                names.add(path.parent / value.strip())
    for p in names:
        if p.exists():
            check_regular(p)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def to_montage(data: EEGData, montage: Any, path: Any = None) -> EEGData:
    """Reorder ``data``'s columns into ``montage`` order by name (extra channels dropped).

    A memmap stays a memmap when the order already matches; otherwise the
    selected columns are copied into memory.
    """
    from eegmi.data.montage import get_montage, match_channels

    mont = get_montage(montage)
    idx = match_channels(data.ch_names, mont, path=path)
    values = data.values
    if not (len(idx) == values.shape[1] and np.array_equal(idx, np.arange(len(idx)))):
        from eegmi.data.files import physical_memory

        need = values.shape[0] * len(idx) * 4
        if need > physical_memory() // 2:
            raise DataError(f"reordering the channels into the montage needs "
                            f"{need / 2**30:.1f} GiB in memory; save the file with its "
                            f"columns in {mont.name} order (then it is memory-mapped)", path)
        values = np.ascontiguousarray(values[:, idx], dtype=np.float32)
    prov = dict(data.provenance, montage=mont.name, montage_channels=list(mont.ch_names))
    return EEGData(values, mont.ch_names, data.sfreq, data.subject, data.trial, prov,
                   data.ground_truth)


def load_eeg(path: str | Path, montage: Any = "biosemi32",
             ch_names: Sequence[str] | None = None) -> EEGData:
    """Load a file or a folder of DEAP files, in ``montage`` channel order.

    Parameters
    ----------
    path
        A file of a supported type, or a folder of ``sNN.dat`` DEAP files.
    montage
        Montage name, electrode file or :class:`~eegmi.data.montage.Montage`.
    ch_names
        Column names of a ``.npy`` file (see module docstring).

    Returns
    -------
    EEGData
        ``values (N, n)`` float32 µV in montage order; checked for NaN/Inf and
        flat channels.

    Raises
    ------
    DataError
        One line naming the file and the problem.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        from eegmi.data.convert import is_converted, load_converted

        if is_converted(path):  # ``eegmi data convert`` output: memory-mapped as it is
            return load_converted(path, montage)
        return _load_deap_folder(path, montage)
    data = to_montage(read_native(path, ch_names), montage, path)
    check_values(data.values, data.ch_names, path)
    return data


def _load_deap_folder(folder: Path, montage: Any) -> EEGData:
    from eegmi.data.deap import DEAP_SFREQ, build_folder_cache
    from eegmi.data.montage import DEAP_CHANNELS, get_montage, match_channels
    from eegmi.data.synthetic import cache_dir

    mont = get_montage(montage)
    order = match_channels(DEAP_CHANNELS, mont, path=folder)
    paths = build_folder_cache(folder, order, mont.ch_names, cache_dir())
    try:
        meta = json.loads(paths["meta"].read_text())
        values = np.load(paths["values"], mmap_mode="r", allow_pickle=False)
        subject = np.load(paths["subject"], mmap_mode="r", allow_pickle=False)
        trial = np.load(paths["trial"], mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"DEAP cache is damaged ({_short(exc)}); delete it and retry",
                        paths["values"]) from exc
    prov = {"path": str(folder), "loader": "deap-folder", "units": "uV",
            "original_sfreq": DEAP_SFREQ, "cache": str(paths["values"]),
            "files": meta["files"], "montage": mont.name,
            "montage_channels": list(mont.ch_names)}
    return EEGData(values, mont.ch_names, DEAP_SFREQ, subject, trial, prov)


def load_dataset(spec: str | Path, montage: Any = "biosemi32") -> EEGData:
    """``"synthetic"`` (the embedded default set) or a path for :func:`load_eeg`."""
    if str(spec).strip().lower() == "synthetic":
        from eegmi.data.montage import get_montage
        from eegmi.data.synthetic import default_dataset

        data = default_dataset()
        if get_montage(montage).ch_names == data.ch_names:
            return data  # the cached object itself, no copy
        return to_montage(data, montage, "synthetic")
    return load_eeg(spec, montage)


def save_npz(data: EEGData, path: str | Path) -> Path:
    """Write ``data`` as an ``.npz`` that :func:`load_eeg` reads back (atomic, no pickle)."""
    from eegmi.paths import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, data=np.asarray(data.values, dtype=np.float32),
                     ch_names=np.array(data.ch_names, dtype=str),
                     sfreq=np.float64(data.sfreq), subject=np.asarray(data.subject, np.int16),
                     trial=np.asarray(data.trial, np.int32))
    return path
