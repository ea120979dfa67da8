"""ModelWorker: latest-wins, long jobs with progress/cancel, failures leave it working."""

from __future__ import annotations

import threading

import pytest

from app.worker import ModelWorker
from eegmi.errors import DataError
from eegmi.jobs import Progress


@pytest.fixture
def worker(qtbot):
    w = ModelWorker()
    yield w
    w.stop()


def test_latest_wins_runs_few_and_delivers_last(qtbot, worker) -> None:
    gate = threading.Event()
    with qtbot.waitSignal(worker.started, timeout=5000):
        worker.submit(gate.wait, kind="block")  # holds the thread while the burst is queued
    ran: list[int] = []
    results: list[int] = []
    worker.finished.connect(lambda _i, kind, r: results.append(r) if kind == "forward" else None)
    ids = [worker.submit(lambda k=k: ran.append(k) or k, kind="forward", key="forward")
           for k in range(50)]
    assert worker.pending() == 1
    with qtbot.waitSignal(worker.finished, check_params_cb=lambda i, *_: i == ids[-1],
                          timeout=5000):
        gate.set()
    assert ran == [49]
    assert results[-1] == 49
    assert worker.replaced == 49


def test_results_arrive_on_gui_thread(qtbot, worker) -> None:
    seen: list[bool] = []
    gui = threading.current_thread()
    worker.finished.connect(lambda *_: seen.append(threading.current_thread() is gui))
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.submit(lambda: threading.current_thread().name, kind="probe")
    assert blocker.args[2] != gui.name  # fn ran elsewhere
    assert seen == [True]


def test_failure_reports_message_and_worker_keeps_running(qtbot, worker) -> None:
    def boom() -> None:
        raise DataError("bad frame", path="x.npz")

    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.submit(boom, kind="forward")
    assert blocker.args[1:] == ["forward", "x.npz: bad frame"]
    with qtbot.waitSignal(worker.finished, timeout=5000) as ok:
        worker.submit(lambda: 7, kind="forward")
    assert ok.args[2] == 7


def test_job_progress_and_result(qtbot, worker) -> None:
    def job(token):
        for i in range(3):
            token.raise_if_cancelled()
            yield Progress(i + 1, 3, f"step {i}")
        return "done"

    reports = []
    worker.progress.connect(lambda _i, _k, p: reports.append(p.done))
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.submit_job(job, "job")
    assert blocker.args[2] == "done"
    # reports are rate-limited, but arrive in order and the final one always arrives
    assert reports[0] == 1 and reports[-1] == 3 and reports == sorted(reports)


def test_cancel_running_job(qtbot, worker) -> None:
    started = threading.Event()
    closed = threading.Event()

    def job(token):
        try:
            started.set()
            while True:
                yield Progress(0, 0, "spinning")
                token.raise_if_cancelled()
        finally:
            closed.set()

    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        rid = worker.submit_job(job, "job")
        started.wait(5)
        assert worker.cancel(rid)
    assert closed.is_set()
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit(lambda: 1, kind="after")


def test_cancel_queued_request(qtbot, worker) -> None:
    gate = threading.Event()
    with qtbot.waitSignal(worker.started, timeout=5000):
        worker.submit(gate.wait, kind="block")
    ran = []
    rid = worker.submit(lambda: ran.append(1), kind="later")
    assert worker.cancel(rid)
    with qtbot.waitSignal(worker.finished, check_params_cb=lambda _i, k, _r: k == "block",
                          timeout=5000):
        gate.set()
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit(lambda: None, kind="flush")
    assert ran == []


def test_requests_after_stop_are_dropped(qtbot) -> None:
    w = ModelWorker()
    w.stop()
    ran = []
    assert w.submit(lambda: ran.append(1), kind="late") == -1
    assert w.pending() == 0 and ran == []


def test_freed_heap_is_handed_back_after_jobs_not_between_clicks(qtbot, worker, monkeypatch) -> None:
    """Resident memory stepped up with every job (issue 11): once a job or a load is done
    and nothing waits, the worker returns the freed heap; interactive requests never pay."""
    import app.worker as worker_module

    calls: list[str] = []
    monkeypatch.setattr(worker_module, "release_free_memory", lambda: calls.append("trim"))
    gate = threading.Event()
    with qtbot.waitSignal(worker.started, timeout=5000):
        worker.submit(gate.wait, kind="block")
    worker.submit(lambda: 1, kind="load_model")  # waits behind: no trim between the two
    with qtbot.waitSignal(worker.finished, check_params_cb=lambda _i, k, _r: k == "load_model",
                          timeout=5000):
        gate.set()
    qtbot.waitUntil(lambda: calls == ["trim"], timeout=5000)
    for k in range(3):
        with qtbot.waitSignal(worker.finished, timeout=5000):
            worker.submit(lambda k=k: k, kind="forward", key="forward")

    def job(_token):
        yield Progress(1, 1, "done")
        return 2

    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit_job(job, "spectra")
    qtbot.waitUntil(lambda: calls == ["trim", "trim"], timeout=5000)
    worker_module._heap_trimmer()()  # the real one runs (a no-op off glibc)


def test_cyclic_garbage_is_collected_on_the_gui_thread_only(qtbot, worker) -> None:
    """An automatic collection on the worker can free GUI-thread Qt objects (segfault):
    collection runs on a GUI-thread timer instead, and still runs."""
    import gc

    assert not gc.isenabled()
    gui = threading.get_ident()
    threads: list[int] = []

    def record(phase: str, _info: dict) -> None:
        if phase == "start":
            threads.append(threading.get_ident())

    def make_cycles() -> int:
        for _ in range(50_000):  # far past generation 0's threshold
            a: list = []
            a.append(a)
        return 0

    gc.callbacks.append(record)
    try:
        with qtbot.waitSignal(worker.finished, timeout=20000):
            worker.submit(make_cycles, kind="cycles")
        qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    finally:
        gc.callbacks.remove(record)
    assert set(threads) == {gui}
