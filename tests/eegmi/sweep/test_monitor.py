"""Progress lines: queued trials become running when their first command is logged."""

from __future__ import annotations

import io

from eegmi.sweep.layout import log_file, trial_dir
from eegmi.sweep.monitor import Monitor
from eegmi.sweep.spec import Trial


def _trial(tid: str) -> Trial:
    return Trial(tid, "train", {}, experiment={"training": {"epochs": 5}})


def test_progress_lines(tmp_path) -> None:
    out = io.StringIO()
    m = Monitor(tmp_path, "demo", total=3, done=1, stream=out, interval=0.0)
    a, b = _trial("a"), _trial("b")
    m.queue(a)
    m.queue(b)
    m.tick()
    assert m.line() == "sweep demo: 1/3 done, 0 running, 2 queued, 0 failed"
    log = log_file(tmp_path, "a")
    log.parent.mkdir(parents=True)
    log.write_text("$ python -m eegmi train ...\n")
    trial_dir(tmp_path, "a").mkdir(parents=True)
    (trial_dir(tmp_path, "a") / "history.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    m.tick()
    assert m.line() == "sweep demo: 1/3 done, 1 running, 1 queued, 0 failed | a epoch 2/5"
    m.end(a, {"state": "done"})
    m.end(b, {"state": "failed", "error": "no data"})
    assert m.line() == "sweep demo: 2/3 done, 0 running, 1 failed"
    text = out.getvalue()
    assert "eegmi: sweep: b failed: no data" in text
    assert text.strip().splitlines()[-1] == m.line()


def test_a_resumed_trials_old_log_is_not_a_start(tmp_path) -> None:
    """The log of an earlier run is appended to: a trial starts when its log grows, however
    the file's timestamp compares with the clock (it came from a coarser one)."""
    import os

    log = log_file(tmp_path, "a")
    log.parent.mkdir(parents=True)
    log.write_text("$ python -m eegmi train ...\nepoch 1\n")
    m = Monitor(tmp_path, "demo", total=1, stream=io.StringIO(), interval=0.0)
    m.queue(_trial("a"))
    os.utime(log, (1e10, 1e10))  # a timestamp later than now: still the old log
    m.tick()
    assert list(m.queued) == ["a"] and not m.running
    with open(log, "a") as f:
        f.write("$ python -m eegmi train ... --resume\n")
    os.utime(log, (1.0, 1.0))  # and one long past: the log grew, so it started
    m.tick()
    assert list(m.running) == ["a"] and not m.queued
