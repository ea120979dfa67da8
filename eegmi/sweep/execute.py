"""One trial, run as child processes: the same code on every runner.

A trial is an ordinary ``python -m eegmi train --experiment SWEEP/experiments/ID.toml
--out SWEEP/trials/ID`` (``--resume`` when its folder holds an unfinished run) or
``python -m eegmi sae train ...``, then, when the spec asks for analyses the trial does
not have yet, ``python -m eegmi.sweep.analyse``.  Child processes keep trials apart
(memory, torch threads, a crash) and leave exactly the folder a user's own command
would; the run folder's lock and journal make a killed trial resumable.

:func:`run_trial` decides what a trial still needs from its folder (so a Ray worker
re-checks what the driver saw) and returns a small JSON-able outcome.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eegmi.limits import one_line
from eegmi.sweep.layout import experiment_file, log_file, trial_dir, trial_state
from eegmi.sweep.spec import Trial

#: seconds a child gets to stop on SIGINT before it is killed
STOP_GRACE_S = 20.0


def train_argv(trial: Trial, sweep: Path, resume: bool, threads: int | str,
               device: str | None) -> list[str]:
    """The child command line of a trial's training (train or SAE)."""
    out = str(trial_dir(sweep, trial.id))
    argv = [sys.executable, "-m", "eegmi"]
    if trial.kind == "train":
        argv += ["train", "--experiment", str(experiment_file(sweep, trial.id)), "--out", out]
        if resume:
            argv.append("--resume")
    else:
        assert trial.sae is not None
        o = trial.sae["options"]
        argv += ["sae", "train", trial.sae["model"], "--layer", o["layer"], "--mode", o["mode"],
                 "--dict-size", str(o["dict_size"]), "--steps", str(o["steps"]),
                 "--batch-size", str(o["batch_size"]), "--lr", repr(o["lr"]),
                 "--max-frames", str(o["max_frames"]), "--seed", str(o["seed"]), "--out", out]
        argv += ["--k", str(o["k"])] if o["sparsity"] == "topk" else ["--l1", repr(o["l1"])]
        if o.get("filter"):
            argv += ["--filter", o["filter"]]
        if trial.sae.get("data"):
            argv += ["--data", trial.sae["data"]]
    argv += ["--threads", str(threads)]
    if device:
        argv += ["--device", device]
    return argv


def analyse_argv(trial: Trial, sweep: Path, analyses: dict[str, dict[str, Any]],
                 threads: int | str, device: str | None) -> list[str]:
    """The child command line of a finished train trial's analyses."""
    argv = [sys.executable, "-m", "eegmi.sweep.analyse", str(trial_dir(sweep, trial.id)),
            "--options", json.dumps(analyses), "--threads", str(threads)]
    source = (trial.experiment or {}).get("data", {}).get("source")
    if source and source != "synthetic":
        argv += ["--data", source]
    if device:
        argv += ["--device", device]
    return argv


def run_child(argv: list[str], log: Path, tick: Callable[[], None] | None = None) -> int:
    """Run ``argv`` with its output appended to ``log``; returns its exit status.

    ``tick`` is called about once a second while the child runs (progress).

    Interrupted (Ctrl-C, a cancelled Ray task), the child gets SIGINT (``eegmi train``
    then stops at the next batch and keeps its last checkpoint) and is killed only if
    it has not stopped after :data:`STOP_GRACE_S`.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        shown = " ".join(argv[1:]) if argv and argv[0] == sys.executable else " ".join(argv)
        out.write(f"\n$ python {shown}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            while True:
                try:
                    return proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    if tick is not None:
                        tick()
        finally:
            if proc.poll() is None:
                _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass  # the child has already exited: nothing to stop


def error_line(log: Path) -> str:
    """The reason a child failed: its last ``eegmi: error:`` line, else its last line."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - 20_000))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return "failed (no log)"
    lines = [ln for ln in lines if ln and not ln.startswith("$ ")]
    for ln in reversed(lines):
        if ln.startswith("eegmi: error:"):
            return one_line(ln.removeprefix("eegmi: error:").strip())
    return one_line(lines[-1]) if lines else "failed without output"


def run_trial(trial: Trial, sweep: str | Path, analyses: dict[str, dict[str, Any]],
              threads: int | str = "auto", device: str | None = None,
              tick: Callable[[], None] | None = None) -> dict[str, Any]:
    """Bring one trial to ``done``: train (or resume), then the missing analyses.

    ``tick``: called about once a second while a child runs (the local runner's progress).

    Returns
    -------
    dict
        ``id``, ``state`` (``"done"`` or ``"failed"``), ``error`` (one line or ``""``),
        ``ran`` (``"train"``, ``"resume"``, ``"analyse"`` in order), ``seconds``, and the
        ``host`` and ``pid`` of the process that ran it (a Ray worker's, or the driver's).
    """
    sweep = Path(sweep)
    log = log_file(sweep, trial.id)
    start = time.monotonic()
    ran: list[str] = []

    def outcome(state: str, error: str = "") -> dict[str, Any]:
        return {"id": trial.id, "state": state, "error": error, "ran": ran,
                "seconds": round(time.monotonic() - start, 3), "host": socket.gethostname(),
                "pid": os.getpid()}

    state = trial_state(sweep, trial.id, trial.kind, trial.epochs, analyses)
    if state in ("pending", "partial"):
        resume = state == "partial" and trial.kind == "train"
        code = run_child(train_argv(trial, sweep, resume, threads, device), log, tick)
        ran.append("resume" if resume else "train")
        if code != 0:
            return outcome("failed", error_line(log))
        state = trial_state(sweep, trial.id, trial.kind, trial.epochs, analyses)
        if state in ("pending", "partial"):
            return outcome("failed", "the run ended without reaching its epochs")
    if state == "trained":
        code = run_child(analyse_argv(trial, sweep, analyses, threads, device), log, tick)
        ran.append("analyse")
        if code != 0:
            return outcome("failed", error_line(log))
        state = trial_state(sweep, trial.id, trial.kind, trial.epochs, analyses)
    return outcome("done" if state == "done" else "failed",
                   "" if state == "done" else f"ended as {state}")
