"""The sweep folder on disk and how far each trial got; torch-free.

::

    SWEEP/
      plan.json              the trials (id, kind, parameters, epochs), the analyses asked for
      sweep.toml             a copy of the spec that made the plan
      status.json            trials whose last attempt failed, with the error line
      results.json           the final table (what ``eegmi sweep --json`` prints)
      experiments/ID.toml    a train trial's full experiment (``eegmi train --experiment``)
      trials/ID/             the trial's ordinary run folder (``eegmi train --out`` /
                             ``eegmi sae train --out``); ``sweep_analyses.json`` beside the card
      logs/ID.log            the trial's commands and their output, appended per attempt

A trial's state is read from its folder only, so a sweep killed at any point resumes:
``pending`` (nothing committed), ``partial`` (a train run with a checkpoint that has not
reached its epochs: continued with ``--resume``; an SAE folder without its card: trained
again), ``trained`` (finished, but analyses the spec asks for are missing or were
computed on other options or another checkpoint) and ``done``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eegmi.errors import CheckpointError, ConfigError
from eegmi.limits import read_json_card

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: sweeps are not locked
    fcntl = None  # type: ignore[assignment]

PLAN, SPEC_COPY, STATUS, RESULTS = "plan.json", "sweep.toml", "status.json", "results.json"
TRIALS, EXPERIMENTS, LOGS = "trials", "experiments", "logs"
ANALYSES_FILE = "sweep_analyses.json"
LOCK = ".eegmi-sweep.lock"
STATES = ("pending", "partial", "trained", "done")


def trial_dir(sweep: Path, trial_id: str) -> Path:
    return Path(sweep) / TRIALS / trial_id


def experiment_file(sweep: Path, trial_id: str) -> Path:
    return Path(sweep) / EXPERIMENTS / f"{trial_id}.toml"


def log_file(sweep: Path, trial_id: str) -> Path:
    return Path(sweep) / LOGS / f"{trial_id}.log"


def read_json(path: Path, default: Any = None) -> Any:
    """A small JSON file of the sweep, or ``default`` when it is missing or unreadable
    (a file being replaced, a card of a run that never finished)."""
    try:
        return read_json_card(path, ConfigError, path.name)
    except ConfigError:
        return default


def train_card(folder: Path) -> dict[str, Any] | None:
    """The run's ``model.json`` (None when there is none, or while a commit is pending)."""
    from eegmi.training.rundir import pending

    if pending(folder):
        return None
    card = read_json(folder / "model.json")
    return card if isinstance(card, dict) else None


def finished(card: dict[str, Any] | None, epochs: int | None) -> bool:
    """A train run that ended: its test split was scored, at its last epoch or early."""
    if card is None:
        return False
    metrics = card.get("metrics")
    if not isinstance(metrics, dict) or "test_mse" not in metrics:
        return False
    ran = card.get("epochs")
    return bool(card.get("stopped_early")) or epochs is None or (
        isinstance(ran, int) and ran >= epochs)


def analyses_current(folder: Path, card: dict[str, Any] | None,
                     wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The analyses in ``wanted`` already computed on this checkpoint with these options."""
    saved = read_json(folder / ANALYSES_FILE, {})
    if not isinstance(saved, dict) or card is None or saved.get("checkpoint") != card.get(
            "checkpoint"):
        return {}
    results = saved.get("results")
    if not isinstance(results, dict):
        return {}
    return {name: results[name] for name, opts in wanted.items()
            if isinstance(results.get(name), dict) and results[name].get("options") == opts}


def trial_state(sweep: Path, trial_id: str, kind: str, epochs: int | None,
                analyses: dict[str, dict[str, Any]]) -> str:
    """One of :data:`STATES` (see the module docstring), read from the trial's folder."""
    folder = trial_dir(sweep, trial_id)
    if kind == "sae":
        if (folder / "sae.json").is_file():
            return "done"
        return "partial" if folder.is_dir() and any(folder.iterdir()) else "pending"
    card = train_card(folder)
    if finished(card, epochs):
        return "done" if len(analyses_current(folder, card, analyses)) == len(analyses) \
            else "trained"
    started = card is not None or (folder / "train_state.safetensors").is_file() or (
        folder / ".checkpoint.pending").exists()
    return "partial" if started else "pending"


def epochs_logged(sweep: Path, trial_id: str) -> int:
    """Epochs a train trial has logged so far (its ``history.jsonl`` lines): the
    progress shown while it runs."""
    try:
        with open(trial_dir(sweep, trial_id) / "history.jsonl", "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (strict: non-finite numbers become null)."""
    from eegmi.limits import finite_json
    from eegmi.paths import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(finite_json(obj), indent=1, allow_nan=False) + "\n",
                       encoding="utf-8")


class SweepLock:
    """Exclusive lock on a sweep folder: two drivers never schedule the same trials.

    (Each trial's run folder has its own writer lock besides.)
    """

    def __init__(self, sweep: Path) -> None:
        self.sweep = Path(sweep)
        self._fd: int | None = None

    def __enter__(self) -> SweepLock:
        try:
            self.sweep.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.sweep / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise CheckpointError(f"cannot use the sweep folder ({exc.strerror or exc})",
                                  self.sweep) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError("another eegmi sweep is running on this folder; wait for it "
                                  "or use another --out", self.sweep) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
