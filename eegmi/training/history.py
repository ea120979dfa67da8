"""The per-epoch training log ``history.jsonl`` (one JSON object per line)."""

from __future__ import annotations

import json
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


def append_history(directory: str | Path, record: dict[str, Any]) -> None:
    """Append one epoch record (flushed before returning)."""
    path = Path(directory) / HISTORY
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def truncate_history(directory: str | Path, last_epoch: int) -> list[dict[str, Any]]:
    """Keep only records with ``epoch <= last_epoch`` (used on resume); returns them."""
    kept = [r for r in read_history(directory) if int(r.get("epoch", 0)) <= last_epoch]
    with atomic_path(Path(directory) / HISTORY) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    return kept
