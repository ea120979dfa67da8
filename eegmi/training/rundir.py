"""A run folder on disk: the writer's lock and checkpoints committed as one unit.

Lock
    ``eegmi train`` holds an exclusive ``flock`` on ``.eegmi-train.lock`` inside the
    run folder for as long as it writes there.  A second writer is refused; the
    kernel drops the lock when its holder dies, so a stale lock file left by a
    killed process is simply taken over.

Commit
    The files of one checkpoint (``model.safetensors``, ``model.json``, optionally
    ``train_state.safetensors``) are first written and flushed under temporary
    names, then a small journal ``.checkpoint.pending`` listing the renames is put
    in place atomically, then the renames are done and the journal is removed.  A
    kill before the journal exists leaves the previous checkpoint untouched (the
    temporaries are swept away later); a kill after it is rolled forward by
    :func:`recover` (run by the next writer, or by a reader that can take the
    lock).  So weights, card and state always belong to the same epoch.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from eegmi.errors import CheckpointError, ConfigError
from eegmi.limits import one_line

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK = ".eegmi-train.lock"
JOURNAL = ".checkpoint.pending"
#: The files a journal may rename onto (nothing else is ever touched by recovery).
COMMITTED = ("model.safetensors", "model.json", "train_state.safetensors")
#: Temporaries left by a killed writer: ``atomic_path`` and commit temporaries.
_TEMP = re.compile(r"\.(model\.safetensors|model\.json|train_state\.safetensors|history\.jsonl|"
                   r"checkpoint\.pending)\.[A-Za-z0-9_]+\.tmp")


class RunLock:
    """Exclusive writer lock on a run folder (see module docstring).

    Parameters
    ----------
    directory
        The run folder; created if missing (``created`` tells whether it was).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self.created = False
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`ConfigError` naming the folder."""
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError("is not a folder (a run is written into a folder)", self.directory)
        try:
            self.created = not self.directory.exists()
            self.directory.mkdir(parents=True, exist_ok=True)
            while self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                if fcntl is None:  # pragma: no cover
                    self._fd = fd
                    break
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 32).decode("ascii", "replace").strip()
                    os.close(fd)
                    who = f" (pid {holder})" if holder.isdigit() else ""
                    raise ConfigError(f"is being written by another eegmi train{who}; wait for it "
                                      "or use another --out", self.directory) from None
                # the file may have been removed by its previous holder in between
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                self._fd = fd
            os.ftruncate(self._fd, 0)
            os.write(self._fd, str(os.getpid()).encode())
        except OSError as exc:
            if self._fd is not None:
                self.release(discard=True)
            elif self.created:
                try:
                    self.directory.rmdir()
                except OSError:
                    pass
            raise CheckpointError(f"cannot lock the run folder ({one_line(exc.strerror or exc)})",
                                  self.directory) from None
        return self

    def release(self, discard: bool = False) -> None:
        """Drop the lock; with ``discard`` also remove the lock file and, if this lock
        created the folder and it is now empty, the folder."""
        if self._fd is None:
            return
        try:
            if discard:
                self.path.unlink(missing_ok=True)
                if self.created:
                    try:
                        self.directory.rmdir()
                    except OSError:
                        pass  # not empty: something else lives there
            else:
                os.ftruncate(self._fd, 0)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def commit(directory: str | Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Write several files of ``directory`` as one unit.

    Parameters
    ----------
    directory
        The run folder (must exist; the caller holds its :class:`RunLock`).
    writers
        ``{file name: write(tmp_path)}`` for names in :data:`COMMITTED`; each writer
        fills the temporary path it is given.

    Raises
    ------
    CheckpointError
        A write failed (disk full, read-only...): nothing was replaced and no
        temporary is left.
    """
    directory = Path(directory)
    temps: dict[str, Path] = {}
    journal_tmp: Path | None = None
    current = directory  # what a failure is reported on: the file, not its temporary
    try:
        for name, write in writers.items():
            current = directory / name
            if name not in COMMITTED:
                raise ValueError(f"not a checkpoint file: {name}")
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            os.close(fd)
            temps[name] = Path(tmp)
            write(temps[name])
            os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        current = directory
        plan = {"renames": [[tmp.name, name] for name, tmp in temps.items()]}
        fd, jt = tempfile.mkstemp(prefix=f"{JOURNAL}.", suffix=".tmp", dir=directory)
        journal_tmp = Path(jt)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(plan))
            f.flush()
            os.fsync(f.fileno())
        os.replace(journal_tmp, directory / JOURNAL)
        journal_tmp = None
    except Exception as exc:  # noqa: BLE001 - OSError, or a writer's own (SafetensorError)
        for leftover in [*temps.values(), journal_tmp]:
            if leftover is not None:
                leftover.unlink(missing_ok=True)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise CheckpointError(f"cannot write the checkpoint ({why}); nothing was replaced",
                              current) from None
    except BaseException:
        for leftover in [*temps.values(), journal_tmp]:
            if leftover is not None:
                leftover.unlink(missing_ok=True)
        raise
    # from here on the journal makes the commit happen even if this process dies
    _fsync_dir(directory)
    _roll_forward(directory)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _roll_forward(directory: Path) -> None:
    journal = directory / JOURNAL
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        renames = plan["renames"]
        ok = isinstance(renames, list) and all(
            isinstance(r, list) and len(r) == 2 and r[1] in COMMITTED
            and isinstance(r[0], str) and _TEMP.fullmatch(r[0]) for r in renames)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        ok = False
    if not ok:
        raise CheckpointError("unreadable checkpoint journal; delete it to keep the files as "
                              "they are", journal)
    try:
        for tmp, final in renames:
            if (directory / tmp).is_file():
                os.replace(directory / tmp, directory / final)
        _fsync_dir(directory)
        journal.unlink()
    except OSError as exc:
        raise CheckpointError(f"cannot finish the checkpoint ({one_line(exc.strerror or exc)})",
                              directory) from None


def recover(directory: str | Path) -> None:
    """Finish a checkpoint a killed writer committed, and sweep its temporaries.

    The caller must hold the folder's :class:`RunLock`.
    """
    directory = Path(directory)
    if (directory / JOURNAL).exists():
        _roll_forward(directory)
    try:
        for entry in directory.iterdir():
            if _TEMP.fullmatch(entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)
    except OSError:
        pass  # a sweep that fails leaves only hidden temporaries


def pending(directory: str | Path) -> bool:
    """True when a commit of ``directory`` was started but not finished."""
    return (Path(directory) / JOURNAL).exists()


def recover_for_reading(directory: str | Path) -> None:
    """Before reading a checkpoint: finish a commit interrupted by a killed writer.

    Raises
    ------
    CheckpointError
        A writer is alive and in the middle of a commit.
    """
    directory = Path(directory)
    if not pending(directory):
        return
    lock = RunLock(directory)
    try:
        lock.acquire()
    except ConfigError:
        raise CheckpointError("a checkpoint is being written here right now; try again",
                              directory) from None
    try:
        recover(directory)
    finally:
        lock.release()
