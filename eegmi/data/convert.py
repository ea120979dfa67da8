"""A folder of DEAP files converted once into a memory-mapped set, read back in no time.

``eegmi data convert FOLDER --out DIR`` decodes every ``sNN.dat`` once (the strict
opcode reader of :mod:`eegmi.data.deap`, about 1 s per 100 MB file) and writes ``DIR``:

- ``values.npy`` ``(N, n)`` float32, channels in the montage's order (``biosemi32`` is
  DEAP's own order), frames of each file's trials one after the other;
- ``subject.npy`` ``(N,)`` int16 and ``trial.npy`` ``(N,)`` int32;
- ``eegmi-set.json``: format, channel names, rate, frame count and the source files
  (name, size, modification time).

Every value is checked while it is written (finite, within float32, no flat
channel), so loading ``DIR`` (``--data DIR`` anywhere, :func:`load_converted`) only
reads the header and memory-maps the arrays: 10.3 M frames open in milliseconds and
never sit in memory whole.

Atomic: the set is written into a hidden sibling folder ``.DIR.partial-PID`` and
renamed onto ``DIR`` when complete, so a kill leaves no ``DIR`` (the partial folder of
a dead process is swept by the next conversion).  Converting the same files again into
the same ``DIR`` reuses it; a ``DIR`` holding anything else is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.recording import EEGData, check_values
from eegmi.errors import DataError
from eegmi.jobs import CancelToken, Job, Progress

#: The marker file of a converted set.
META = "eegmi-set.json"
FORMAT = "eegmi-memmap-1"
_ARRAYS = {"values": np.float32, "subject": np.int16, "trial": np.int32}


@dataclass
class Converted:
    """What :func:`convert_deap` did: the set's folder, its size, and whether an
    identical earlier conversion was reused."""

    out_dir: Path
    n_frames: int
    n_files: int
    ch_names: tuple[str, ...]
    seconds: float
    reused: bool

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out_dir), "n_frames": self.n_frames, "n_files": self.n_files,
                "channels": len(self.ch_names), "bytes": self.n_frames * len(self.ch_names) * 4,
                "seconds": round(self.seconds, 3), "reused": self.reused}


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` holds a converted set (its marker file)."""
    return (Path(folder) / META).is_file()


def _sources(files: list[Path]) -> list[dict[str, Any]]:
    out = []
    for p in files:
        st = p.stat()
        out.append({"name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"converted set header is unreadable ({exc})", path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"not a converted set of this version (format {FORMAT} expected)", path)
    names = meta.get("ch_names")
    if (not isinstance(names, list) or not names or len(names) > 1024
            or not all(isinstance(n, str) and 0 < len(n) <= 64 for n in names)):
        raise DataError("converted set header: 'ch_names' is not a list of channel names", path)
    for key in ("n_frames",):
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 1:
            raise DataError(f"converted set header: {key!r} is not a positive count", path)
    sfreq = meta.get("sfreq")
    if isinstance(sfreq, bool) or not isinstance(sfreq, int | float) or not sfreq > 0:
        raise DataError("converted set header: 'sfreq' is not a positive rate", path)
    return meta


def _sweep_partials(out_dir: Path) -> None:
    """Remove ``.NAME.partial-PID`` folders of processes that are gone."""
    for p in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)
            continue  # its writer still runs
        except ProcessLookupError:
            pass  # its writer is gone: the partial folder is stale
        except PermissionError:
            continue
        shutil.rmtree(p, ignore_errors=True)


def convert_deap(folder: str | Path, out_dir: str | Path, montage: Any = "biosemi32",
                 cancel: CancelToken | None = None) -> Job[Converted]:
    """Convert the DEAP files of ``folder`` into the memory-mapped set ``out_dir``.

    Parameters
    ----------
    folder
        A folder of ``sNN.dat`` files (or one such file).
    out_dir
        The set's folder; must not exist, be empty, or hold the same conversion.
    montage
        Channels kept and their order (matched to DEAP's names).
    cancel
        Polled between files; a cancelled conversion leaves nothing behind.

    Yields
    ------
    Progress
        Bytes of DEAP files done of the total, naming the file.

    Raises
    ------
    DataError
        A file that is not valid DEAP data (one line naming it), or an ``out_dir``
        that holds something else.
    """
    from eegmi.data.deap import deap_files, subject_id
    from eegmi.data.montage import DEAP_CHANNELS, get_montage, match_channels

    t0 = time.perf_counter()
    src, out = Path(folder).expanduser(), Path(out_dir).expanduser()
    if src.is_dir():
        files = deap_files(src)
    elif subject_id(src) is not None and src.is_file():
        files = [src]
    else:
        raise DataError("not a folder of DEAP files (sNN.dat) or one such file", src)
    if not files:
        raise DataError("folder holds no DEAP files named sNN.dat", src)
    mont = get_montage(montage)
    order = match_channels(DEAP_CHANNELS, mont, path=src)
    sources = _sources(files)
    if out.exists():
        if is_converted(out):
            meta = _read_meta(out)
            if meta.get("sources") == sources and meta["ch_names"] == list(mont.ch_names):
                return Converted(out, int(meta["n_frames"]), len(files), mont.ch_names,
                                 time.perf_counter() - t0, True)
            raise DataError("already holds a converted set of other files or channels; "
                            "remove it or choose another --out", out)
        if not out.is_dir() or any(out.iterdir()):
            raise DataError("exists and is not an empty folder; choose another --out", out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_partials(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        n_total, sizes = yield from _write(files, order, mont.ch_names, tmp, sources, cancel)
        meta = {"format": FORMAT, "ch_names": list(mont.ch_names), "montage": mont.name,
                "sfreq": 128.0, "n_frames": n_total, "units": "uV", "loader": "deap",
                "source": str(src.resolve()), "sources": sources,
                "trials": [[int(a), int(b)] for a, b in sizes]}
        (tmp / META).write_text(json.dumps(meta), encoding="utf-8")
        _fsync_dir(tmp)
        if out.exists():
            out.rmdir()  # empty (checked above): the rename needs the name free
        os.rename(tmp, out)
        _fsync_dir(out.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Converted(out, n_total, len(files), mont.ch_names, time.perf_counter() - t0, False)


def _write(files: list[Path], order: np.ndarray, ch_names: tuple[str, ...], tmp: Path,
           sources: list[dict[str, Any]], cancel: CancelToken | None
           ) -> Job[tuple[int, list[tuple[int, int]]]]:
    """Stream every file's frames after a fixed-size ``.npy`` header whose shape is
    written last: each file is decoded once, and only one file is in memory."""
    from eegmi.data.deap import _npy_header, read_deap_file, write_frame_index

    n = len(order)
    total_bytes = float(sum(s["size"] for s in sources)) or 1.0
    done_bytes = 0.0
    sizes: list[tuple[int, int]] = []
    yield Progress(0.0, total_bytes, f"{files[0].name} (1/{len(files)})")
    with open(tmp / "values.npy", "wb") as fh:
        fh.write(_npy_header((0, n)))
        for i, (p, s) in enumerate(zip(files, sources, strict=True)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            eeg, _ = read_deap_file(p)
            n_tr, _, n_s = eeg.shape
            block = np.ascontiguousarray(eeg[:, order, :].transpose(0, 2, 1)).reshape(-1, n)
            del eeg
            check_values(block, ch_names, p)
            fh.write(block.astype("<f4", copy=False).tobytes())
            del block
            sizes.append((n_tr, n_s))
            done_bytes += s["size"]
            nxt = f"{files[i + 1].name} ({i + 2}/{len(files)})" if i + 1 < len(files) else "done"
            yield Progress(done_bytes, total_bytes, nxt)
        n_total = sum(a * b for a, b in sizes)
        fh.seek(0)
        fh.write(_npy_header((n_total, n)))
        fh.flush()
        os.fsync(fh.fileno())
    write_frame_index(tmp / "subject.npy", tmp / "trial.npy", files, sizes)
    return n_total, sizes


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)


def load_converted(folder: str | Path, montage: Any = "biosemi32") -> EEGData:
    """Open a converted set: its arrays memory-mapped (checked against the header, not
    read), channels in ``montage`` order.

    Raises
    ------
    DataError
        A damaged set: one line naming the file.
    """
    from eegmi.data.loaders import to_montage

    folder = Path(folder).expanduser()
    meta = _read_meta(folder)
    n, names = int(meta["n_frames"]), tuple(meta["ch_names"])
    arrays: dict[str, np.ndarray] = {}
    for key, dtype in _ARRAYS.items():
        path = folder / f"{key}.npy"
        want = (n, len(names)) if key == "values" else (n,)
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"converted set is damaged ({str(exc)[:120]}); convert again",
                            path) from None
        if arr.shape != want or arr.dtype != np.dtype(dtype):
            raise DataError(f"converted set is damaged: {key} is {arr.dtype} {arr.shape}, the "
                            f"header says {np.dtype(dtype)} {want}; convert again", path)
        arrays[key] = arr
    prov = {"path": str(folder), "loader": "converted", "units": str(meta.get("units", "uV")),
            "original_sfreq": float(meta["sfreq"]), "source": str(meta.get("source", ""))[:4096],
            "files": [str(s.get("name", ""))[:256] for s in meta.get("sources", [])
                      if isinstance(s, dict)][:4096]}
    data = EEGData(arrays["values"], names, float(meta["sfreq"]), arrays["subject"],
                   arrays["trial"], prov)
    return to_montage(data, montage, folder)
