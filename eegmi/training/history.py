"""The per-epoch training log ``history.jsonl`` (one JSON object per line)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eegmi.paths import atomic_path

HISTORY = "history.jsonl"


def read_history(directory: str | Path) -> list[dict[str, Any]]:
    """Epoch records of a run, oldest first; a torn last line (crash mid-write) is skipped."""
    path = Path(directory) / HISTORY
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_history(directory: str | Path, record: dict[str, Any]) -> int:
    """Append one epoch record (flushed before returning).

    Returns the file's size before the append, for :func:`cut_history`.  A failed
    write (disk full) is undone, so no torn line is left behind.
    """
    path = Path(directory) / HISTORY
    before = path.stat().st_size if path.exists() else 0
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
    except OSError:
        cut_history(directory, before)
        raise
    return before


def cut_history(directory: str | Path, size: int) -> None:
    """Undo appends: cut ``history.jsonl`` back to ``size`` bytes (removed when 0)."""
    path = Path(directory) / HISTORY
    try:
        if size == 0:
            path.unlink(missing_ok=True)
        elif path.exists():
            os.truncate(path, size)
    except OSError:
        pass  # a torn last line is skipped by read_history and cut by the next resume


def truncate_history(directory: str | Path, last_epoch: int) -> list[dict[str, Any]]:
    """Keep only records with ``epoch <= last_epoch`` (used on resume); returns them."""
    kept = [r for r in read_history(directory) if int(r.get("epoch", 0)) <= last_epoch]
    with atomic_path(Path(directory) / HISTORY) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    return kept
