"""A sweep's progress on stderr: trials done, running (with their epoch) and failed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from eegmi.sweep.layout import epochs_logged, log_file
from eegmi.sweep.spec import Trial


class Monitor:
    """Prints one line whenever the sweep's progress changes (at most every
    ``interval`` seconds for epoch changes; a trial starting or ending always prints).

    Parameters
    ----------
    sweep
        The sweep folder (running trials' epochs are read from their ``history.jsonl``).
    name
        The sweep's name.
    total, done
        Trials in the sweep and trials already done before this run.
    """

    def __init__(self, sweep: Path, name: str, total: int, done: int = 0,
                 stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.sweep, self.name, self.total = sweep, name, total
        self.done, self.failed = done, 0
        self.running: dict[str, Trial] = {}
        self.queued: dict[str, Trial] = {}
        #: size of each queued trial's log when it was queued (-1: none): the log is
        #: appended to across runs, so growth, not existence, says the trial started
        self._log_sizes: dict[str, int] = {}
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last_text = ""
        self._last_time = 0.0

    def start(self, trial: Trial) -> None:
        self.queued.pop(trial.id, None)
        self.running[trial.id] = trial
        self._show(force=True)

    def queue(self, trial: Trial) -> None:
        """A trial handed to a scheduler: running once its log shows its first command."""
        self.queued[trial.id] = trial
        self._log_sizes[trial.id] = self._log_size(trial.id)

    def end(self, trial: Trial, outcome: dict[str, Any]) -> None:
        self.queued.pop(trial.id, None)
        self.running.pop(trial.id, None)
        if outcome.get("state") == "done":
            self.done += 1
        else:
            self.failed += 1
            self.stream.write(f"eegmi: sweep: {trial.id} failed: {outcome.get('error', '')}\n")
        self._show(force=True)

    def tick(self) -> None:
        started = [t for tid, t in self.queued.items() if self._has_started(tid)]
        for t in started:
            self.start(t)
        self._show(force=False)

    def _log_size(self, trial_id: str) -> int:
        try:
            return log_file(self.sweep, trial_id).stat().st_size
        except OSError:
            return -1

    def _has_started(self, trial_id: str) -> bool:
        # sizes, not modification times: a file's mtime comes from a coarser clock than
        # time.time() and can read earlier than a moment taken just before the write
        return self._log_size(trial_id) > self._log_sizes.get(trial_id, -1)

    def line(self) -> str:
        """``sweep NAME: 3/10 done, 2 running, 5 queued, 0 failed | E3-seed1 epoch 4/25, ...``"""
        text = (f"sweep {self.name}: {self.done}/{self.total} done, {len(self.running)} "
                f"running, " + (f"{len(self.queued)} queued, " if self.queued else "")
                + f"{self.failed} failed")
        parts = []
        for tid, trial in self.running.items():
            if trial.epochs:
                parts.append(f"{tid} epoch {epochs_logged(self.sweep, tid)}/{trial.epochs}")
            else:
                parts.append(tid)
        return text + (" | " + ", ".join(parts) if parts else "")

    def _show(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_time < self.interval:
            return
        text = self.line()
        if text != self._last_text:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_text, self._last_time = text, now
