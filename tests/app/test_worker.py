"""ModelWorker: job handles, latest-wins, long jobs with progress/pause/cancel,
interactive requests between job steps, failures leave it working."""

from __future__ import annotations

import contextvars
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


def _block(qtbot, worker):
    """Hold the worker thread until the returned event is set."""
    gate = threading.Event()
    handle = worker.submit(gate.wait, "block")
    with qtbot.waitSignal(handle.started, timeout=5000):
        pass
    return gate, handle


def test_latest_wins_runs_few_and_delivers_last(qtbot, worker) -> None:
    gate, _ = _block(qtbot, worker)
    ran: list[int] = []
    handles = [worker.submit(lambda k=k: ran.append(k) or k, "forward", key="forward")
               for k in range(50)]
    assert worker.pending() == 1
    with qtbot.waitSignal(handles[-1].finished, timeout=5000) as blocker:
        gate.set()
    assert ran == [49] and blocker.args == [49]
    assert worker.replaced == 49
    # every replaced request's handle ended as cancelled: no handle is left hanging
    qtbot.waitUntil(lambda: all(h.done for h in handles), timeout=5000)
    assert [h.state for h in handles[:-1]] == ["cancelled"] * 49


def test_results_arrive_on_gui_thread(qtbot, worker) -> None:
    seen: list[bool] = []
    gui = threading.current_thread()
    handle = worker.submit(lambda: threading.current_thread().name, "probe")
    handle.finished.connect(lambda _r: seen.append(threading.current_thread() is gui))
    with qtbot.waitSignal(handle.finished, timeout=5000) as blocker:
        pass
    assert blocker.args[0] != gui.name  # fn ran elsewhere
    assert seen == [True] and handle.result == blocker.args[0]


def test_failure_reports_message_and_worker_keeps_running(qtbot, worker) -> None:
    def boom() -> None:
        raise DataError("bad frame", path="x.npz")

    bad = worker.submit(boom, "forward")
    with qtbot.waitSignal(bad.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["x.npz: bad frame"]
    assert bad.state == "failed" and "DataError" in bad.traceback
    ok = worker.submit(lambda: 7, "forward")
    with qtbot.waitSignal(ok.finished, timeout=5000) as done:
        pass
    assert done.args == [7]


def test_job_progress_and_result(qtbot, worker) -> None:
    def job(token):
        for i in range(3):
            token.raise_if_cancelled()
            yield Progress(i + 1, 3, f"step {i}")
        return "done"

    handle = worker.submit_job(job, "job")
    reports = []
    handle.progress.connect(lambda p: reports.append(p.done))
    with qtbot.waitSignal(handle.finished, timeout=5000) as blocker:
        pass
    assert blocker.args == ["done"]
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

    handle = worker.submit_job(job, "job")
    assert started.wait(5)
    with qtbot.waitSignal(handle.cancelled, timeout=5000):
        assert handle.cancel()
    assert closed.wait(5)
    assert handle.state == "cancelled" and not handle.cancel()
    after = worker.submit(lambda: 1, "after")
    with qtbot.waitSignal(after.finished, timeout=5000):
        pass


def test_cancel_queued_request(qtbot, worker) -> None:
    gate, block = _block(qtbot, worker)
    ran = []
    later = worker.submit(lambda: ran.append(1), "later")
    with qtbot.waitSignal(later.cancelled, timeout=5000):
        assert later.cancel()
    with qtbot.waitSignal(block.finished, timeout=5000):
        gate.set()
    flush = worker.submit(lambda: None, "flush")
    with qtbot.waitSignal(flush.finished, timeout=5000):
        pass
    assert ran == []


def test_interactive_requests_run_between_steps_of_a_long_job(qtbot, worker) -> None:
    """A click is served while an analysis runs: the worker takes it between two steps."""
    steps = threading.Semaphore(0)
    order: list[str] = []

    def job(_token):
        for i in range(3):
            steps.acquire(timeout=5)
            order.append(f"step{i}")
            yield Progress(i + 1, 3, "")
        return "job"

    handle = worker.submit_job(job, "long")
    steps.release()
    qtbot.waitUntil(lambda: order == ["step0"], timeout=5000)
    click = worker.submit(lambda: order.append("click") or "clicked", "forward", key="forward")
    steps.release()
    steps.release()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert click.result == "clicked"
    assert order.index("click") < order.index("step2")


def test_pause_parks_a_job_and_the_worker_serves_others(qtbot, worker) -> None:
    steps: list[int] = []
    stop = threading.Event()

    def job(_token):
        while not stop.is_set():
            steps.append(len(steps))
            yield Progress(0, 0, "")
        return len(steps)

    handle = worker.submit_job(job, "training")
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    with qtbot.waitSignal(handle.paused, timeout=5000):
        assert handle.pause()
    frozen = len(steps)
    other = worker.submit(lambda: "free", "other")
    with qtbot.waitSignal(other.finished, timeout=5000):
        pass
    assert len(steps) == frozen and handle.state == "paused"
    assert handle.resume()
    qtbot.waitUntil(lambda: len(steps) > frozen, timeout=5000)
    with qtbot.waitSignal(handle.finished, timeout=10000) as blocker:
        stop.set()
    assert blocker.args[0] == len(steps)


def test_cancel_a_paused_job_closes_its_generator(qtbot, worker) -> None:
    closed = threading.Event()

    def job(_token):
        try:
            while True:
                yield Progress(0, 0, "")
        finally:
            closed.set()

    handle = worker.submit_job(job, "job")
    with qtbot.waitSignal(handle.progress, timeout=5000):
        pass  # started: its generator holds a finally block
    with qtbot.waitSignal(handle.paused, timeout=5000):
        handle.pause()
    with qtbot.waitSignal(handle.cancelled, timeout=5000):
        assert handle.cancel()
    assert closed.wait(5)


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="none")


def test_a_jobs_context_does_not_leak_into_interleaved_requests(qtbot, worker) -> None:
    """Hook recorders live in a context variable: a job suspended inside a capture block
    must not make the click served between its steps record into the job's cache."""
    seen: list[str] = []
    in_step, click_queued = threading.Event(), threading.Event()

    def job(_token):
        VAR.set("job")
        in_step.set()
        click_queued.wait(5)  # the click is waiting when this step ends: it runs next
        yield Progress(1, 2, "")
        seen.append(VAR.get())
        yield Progress(2, 2, "")
        return None

    handle = worker.submit_job(job, "job")
    assert in_step.wait(5)
    click = worker.submit(lambda: (VAR.get(), list(seen)), "forward", key="forward")
    click_queued.set()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    qtbot.waitUntil(lambda: click.done, timeout=5000)
    # the click ran between the two steps, and saw the worker's context, not the job's
    assert click.result == ("none", []) and seen == ["job"]


def test_requests_after_stop_are_dropped(qtbot) -> None:
    w = ModelWorker()
    w.stop()
    ran = []
    handle = w.submit(lambda: ran.append(1), "late")
    assert handle.state == "cancelled"
    assert w.pending() == 0 and ran == []


def test_freed_heap_is_handed_back_after_jobs_not_between_clicks(qtbot, worker, monkeypatch) -> None:
    """Resident memory stepped up with every job (issue 11): once a job or a load is done
    and nothing waits, the worker returns the freed heap; interactive requests never pay."""
    import app.worker as worker_module

    calls: list[str] = []
    monkeypatch.setattr(worker_module, "release_free_memory", lambda: calls.append("trim"))
    monkeypatch.setattr(worker_module, "QUIET_TRIM_S", 3600.0)  # the quiet trim: next test
    gate, _ = _block(qtbot, worker)
    load = worker.submit(lambda: 1, "load model")  # waits behind: no trim between the two
    with qtbot.waitSignal(load.finished, timeout=5000):
        gate.set()
    qtbot.waitUntil(lambda: calls == ["trim"], timeout=5000)
    for k in range(3):
        h = worker.submit(lambda k=k: k, "forward", key="forward")
        with qtbot.waitSignal(h.finished, timeout=5000):
            pass

    def job(_token):
        yield Progress(1, 1, "done")
        return 2

    h = worker.submit_job(job, "spectra")
    with qtbot.waitSignal(h.finished, timeout=5000):
        pass
    qtbot.waitUntil(lambda: calls == ["trim", "trim"], timeout=5000)
    from app.heap import _heap_trimmer

    _heap_trimmer()()  # the real one runs (a no-op off glibc)


def test_freed_memory_is_handed_back_again_after_a_quiet_spell(qtbot, worker, monkeypatch) -> None:
    """The GUI thread frees the previous result only after taking in the new one, after the
    trim that follows the job: the worker trims once more when nothing has run for
    QUIET_TRIM_S, never while a request runs, and clicks alone never schedule it."""
    import app.worker as worker_module

    calls: list[str] = []
    monkeypatch.setattr(worker_module, "release_free_memory", lambda: calls.append("trim"))
    monkeypatch.setattr(worker_module, "QUIET_TRIM_S", 0.3)
    load = worker.submit(lambda: 1, "load model")
    with qtbot.waitSignal(load.finished, timeout=5000):
        pass
    qtbot.waitUntil(lambda: worker.quiet_trims == 1, timeout=5000)
    assert calls == ["trim", "trim"]  # after the load, and after the quiet spell
    # a click holding the worker past the quiet time: no trim while it runs, one after it
    h = worker.submit_job(lambda _t: (yield Progress(1, 1, "done")) or 2, "spectra")
    with qtbot.waitSignal(h.finished, timeout=5000):
        pass
    gate = threading.Event()
    click = worker.submit(gate.wait, "forward", key="forward")
    with qtbot.waitSignal(click.started, timeout=5000):
        pass
    qtbot.wait(800)
    assert worker.quiet_trims == 1
    with qtbot.waitSignal(click.finished, timeout=5000):
        gate.set()
    qtbot.waitUntil(lambda: worker.quiet_trims == 2, timeout=5000)
    # clicks alone schedule nothing
    for k in range(3):
        h = worker.submit(lambda k=k: k, "forward", key="forward")
        with qtbot.waitSignal(h.finished, timeout=5000):
            pass
    qtbot.wait(800)
    assert worker.quiet_trims == 2


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
        h = worker.submit(make_cycles, "cycles")
        with qtbot.waitSignal(h.finished, timeout=20000):
            pass
        qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    finally:
        gc.callbacks.remove(record)
    assert set(threads) == {gui}


def test_an_ended_handle_is_freed_with_its_result(qtbot, worker) -> None:
    """Slots that keep their handle (``lambda r, h=handle: ...``) made a cycle through Qt
    that the collector could not free: every job's handle and result stayed alive."""
    import gc
    import weakref

    def job(_token):
        yield Progress(1, 1, "")
        return bytearray(10_000_000)

    handle = worker.submit_job(job, "big")
    handle.finished.connect(lambda _r, h=handle: h.label)
    handle.progress.connect(lambda _p, h=handle: h.label)
    ref = weakref.ref(handle)
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert len(handle.result) == 10_000_000
    del handle
    gc.collect()
    assert ref() is None
