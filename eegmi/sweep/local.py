"""The sequential runner: trials one after another in child processes of this one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eegmi.sweep.execute import run_trial
from eegmi.sweep.monitor import Monitor
from eegmi.sweep.spec import Trial

#: printed once when a sweep runs without Ray
NO_RAY_HINT = ("eegmi: sweep: Ray is not installed, so trials run one after another; "
               "pip install 'eegmi[cluster]' runs them in parallel (or on a cluster: --address)")


def run_local(trials: list[Trial], sweep: Path, analyses: dict[str, dict[str, Any]],
              monitor: Monitor, threads: int | str = "auto",
              device: str | None = None) -> list[dict[str, Any]]:
    """Run ``trials`` in order; returns one outcome per trial (see ``run_trial``).

    An interrupt (Ctrl-C) stops the running trial's child at its next batch (its last
    checkpoint is kept for ``--resume``) and propagates.
    """
    outcomes = []
    for trial in trials:
        monitor.start(trial)
        outcome = run_trial(trial, sweep, analyses, threads, device, tick=monitor.tick)
        monitor.end(trial, outcome)
        outcomes.append(outcome)
    return outcomes
