"""The model worker: one QThread that runs every model call.

Every submission returns a :class:`app.jobs.JobHandle` whose signals concern that
request only. Interactive requests (clicks, slider drags) carry a ``key``; a newer
request with the same key replaces an older one still waiting in the queue, so a
burst of 50 slider events runs only a handful of forward passes and the last one
is always executed (latest-wins).

Long jobs are generators yielding :class:`eegmi.jobs.Progress`. The worker
advances them one step (one ``next``) at a time: between steps it runs any waiting
interactive request first, so a click stays responsive while an analysis runs, and
a paused job is simply parked until resumed. A job stops at its next ``yield`` once
cancelled. Each job runs in its own ``contextvars`` context and keeps its own torch
grad mode across steps, so interleaved requests never see a job's hook recorders or
``no_grad`` state.

Results are handed back on the GUI thread: the worker thread emits an internal
signal with a queued connection to a slot of :class:`ModelWorker` (which lives on
the GUI thread), and that slot hands the event to the request's handle, so any
connected callable, lambdas included, runs on the GUI thread.
"""

from __future__ import annotations

import atexit
import contextvars
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.heap import release_free_memory
from app.jobs import JobHandle
from eegmi.errors import Cancelled, EegmiError
from eegmi.jobs import CancelToken, Progress

PROGRESS_INTERVAL_S = 0.03
#: seconds without any request after a job or a model load before the worker hands
#: freed memory back once more (the GUI thread frees the previous result only after
#: it has taken in the new one, later than the trim that follows the job)
QUIET_TRIM_S = 2.0
JobFactory = Callable[[CancelToken], Generator[Progress, None, Any]]


@dataclass
class _Request:
    id: int
    label: str
    key: str | None
    fn: Callable[[], Any] | None = None
    job: JobFactory | None = None
    token: CancelToken = field(default_factory=CancelToken)
    #: the running generator of a long job between steps
    gen: Generator[Progress, None, Any] | None = None
    context: contextvars.Context | None = None
    grad: bool = True
    last_report: float = 0.0
    pause: bool = False


def error_message(exc: BaseException) -> str:
    """One line describing ``exc`` for the status bar / message box."""
    if isinstance(exc, EegmiError):
        return exc.line()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


#: workers not stopped yet; stopped at interpreter exit so no QThread is destroyed
#: while running (Qt aborts the process when that happens)
_LIVE: weakref.WeakSet[ModelWorker] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for worker in list(_LIVE):
        worker.stop(wait_ms=5000)


#: Python's cyclic garbage collector, run on the GUI thread only (see _collect_on_gui_thread)
_GC: Any = None


def _collect_on_gui_thread() -> None:
    """Run cyclic garbage collection on the GUI thread only, never on the worker.

    An automatic collection runs in whichever thread happens to allocate; on the worker
    it can free Qt objects that belong to the GUI thread (widgets, graphics items caught
    in reference cycles), which crashes the process (seen as a segfault "Garbage-collecting"
    while the worker imported a module). pyqtgraph's collector disables the automatic one
    and collects on a GUI-thread timer instead; reference counting still frees
    everything that is not in a cycle immediately.
    """
    global _GC
    if _GC is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GC = GarbageCollector(interval=0.5)


class _Relay(QObject):
    """Carries events from the worker thread to the GUI thread."""

    # payloads travel wrapped in a 1-tuple: PySide6 mis-counts references to a bare
    # None sent through an ``object`` argument across threads (crash at exit)
    event = Signal(str, int, object)


class _Thread(QThread):
    def __init__(self, owner: ModelWorker) -> None:
        super().__init__()
        self._owner = owner

    def run(self) -> None:  # noqa: D401 - Qt override
        self._owner._loop()


def _grad_mode() -> tuple[Callable[[], bool], Callable[[bool], Any]] | None:
    """torch's grad-mode getter and setter once torch is imported (the worker never
    imports it itself: the first model load does)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return torch.is_grad_enabled, torch.set_grad_enabled


class ModelWorker(QObject):
    """Runs callables and job generators on one dedicated thread.

    Signals
    -------
    submitted(JobHandle): every request, as it is queued (status bars, diagnostics)
    """

    submitted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        _collect_on_gui_thread()  # before the worker thread runs any Python
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._parked: dict[int, _Request] = {}
        self._running: _Request | None = None
        self._handles: dict[int, JobHandle] = {}
        self._next_id = 1
        self._stopping = False
        #: counts for diagnostics and tests: requests finished, and replaced before running
        self.executed = 0
        self.replaced = 0
        #: freed memory handed back after a quiet spell (diagnostics and tests)
        self.quiet_trims = 0
        self._relay = _Relay()
        self._relay.event.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._thread = _Thread(self)
        self._thread.setObjectName("eegmi-model-worker")
        self._thread.start()
        _LIVE.add(self)

    # -- submission (GUI thread) -------------------------------------------------
    def submit(self, fn: Callable[[], Any], label: str = "", *, key: str | None = None) -> JobHandle:
        """Queue ``fn()``; with ``key``, replace a queued request with the same key
        (latest-wins; such a request is *interactive*). Returns its handle."""
        return self._enqueue(_Request(self._take_id(), label, key, fn=fn))

    def submit_job(self, gen_factory: JobFactory, label: str = "") -> JobHandle:
        """Queue a long job ``gen_factory(token)``; its progress reaches the handle,
        and it can be paused and cancelled through it."""
        return self._enqueue(_Request(self._take_id(), label, None, job=gen_factory))

    def cancel(self, handle: JobHandle) -> bool:
        """Cancel a queued, parked or running request; True when it was found."""
        with self._cond:
            for req in self._queue:
                if req.id == handle.id:
                    self._queue.remove(req)
                    self._close_later(req)
                    return True
            req = self._parked.pop(handle.id, None)
            if req is not None:
                self._close_later(req)
                return True
            if self._running is not None and self._running.id == handle.id:
                self._running.token.cancel()
                return True
        return False

    def pause(self, handle: JobHandle) -> bool:
        """Ask a long job to park at its next progress report."""
        with self._cond:
            req = self._find(handle.id)
            if req is None or req.job is None:
                return False
            req.pause = True
            if req is not self._running and req in self._queue:
                # waiting (not started, or between two steps): park it straight away
                self._queue.remove(req)
                self._parked[req.id] = req
                self._relay.event.emit("paused", req.id, (None,))
            return True

    def pause_requested(self, handle: JobHandle) -> bool:
        with self._cond:
            req = self._find(handle.id)
            return req is not None and req.pause

    def resume(self, handle: JobHandle) -> bool:
        """Queue a parked job again, ahead of the other long jobs."""
        with self._cond:
            req = self._parked.pop(handle.id, None)
            if req is None:
                req = self._find(handle.id)
                if req is None:
                    return False
                req.pause = False  # asked to pause but not parked yet
                return True
            req.pause = False
            self._queue.insert(0, req)
            self._cond.notify_all()
            return True

    def running(self) -> JobHandle | None:
        """The handle of the request being executed, if any."""
        with self._cond:
            run = self._running
        return None if run is None else self._handles.get(run.id)

    def pending(self) -> int:
        """Requests waiting in the queue (not counting the running or parked ones)."""
        with self._cond:
            return len(self._queue)

    def stop(self, wait_ms: int = 30000) -> None:
        """Cancel everything and end the thread (called when the window closes)."""
        with self._cond:
            self._stopping = True
            leftovers = self._queue + list(self._parked.values())
            self._queue.clear()
            self._parked.clear()
            if self._running is not None:
                self._running.token.cancel()
            self._cond.notify_all()
        if self._thread.isRunning():
            self._thread.wait(wait_ms)
        for req in leftovers:
            if req.gen is not None:
                req.gen.close()  # its finally blocks release files and locks
        _LIVE.discard(self)

    def _find(self, rid: int) -> _Request | None:
        if self._running is not None and self._running.id == rid:
            return self._running
        for req in self._queue:
            if req.id == rid:
                return req
        return self._parked.get(rid)

    def _close_later(self, req: _Request) -> None:
        # a started generator is closed on the worker thread (its finally blocks may
        # touch the model); the handle learns it was cancelled either way
        if req.gen is not None:
            gen = req.gen
            self._queue.insert(0, _Request(self._take_id_locked(), "close", None, fn=gen.close))
            self._cond.notify_all()
        self._relay.event.emit("cancelled", req.id, (None,))

    def _take_id_locked(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _take_id(self) -> int:
        with self._cond:
            return self._take_id_locked()

    def _enqueue(self, req: _Request) -> JobHandle:
        handle = JobHandle(self, req.id, req.label, interactive=req.key is not None,
                           pausable=req.job is not None)
        with self._cond:
            if self._stopping:
                handle.state = "cancelled"  # the window is closing: late requests are dropped
                return handle
            self._handles[req.id] = handle
            if req.key is not None:
                for i, old in enumerate(self._queue):
                    if old.key == req.key:
                        # keep the queue position so interactive work is not starved
                        self._queue[i] = req
                        self.replaced += 1
                        self._relay.event.emit("replaced", old.id, (None,))
                        break
                else:
                    self._queue.append(req)
            else:
                self._queue.append(req)
            self._cond.notify_all()
        self.submitted.emit(handle)
        return handle

    # -- worker thread -----------------------------------------------------------
    def _take_next(self) -> _Request:
        # interactive requests first: a click is served between two steps of a long job
        for i, req in enumerate(self._queue):
            if req.key is not None:
                return self._queue.pop(i)
        return self._queue.pop(0)

    def _loop(self) -> None:
        #: when to hand freed memory back again if no request comes (after a job or load)
        trim_due: float | None = None
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    if trim_due is None:
                        self._cond.wait()
                        continue
                    left = trim_due - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                if not self._queue:  # quiet since trim_due was set: no click is waiting
                    trim_due = None
                    req = None
                else:
                    req = self._take_next()
                    self._running = req
            if req is None:
                release_free_memory()
                self.quiet_trims += 1
                continue
            final = self._execute(req)
            with self._cond:
                self._running = None
                if not final:
                    if req.token.cancelled:
                        final = True
                        if req.gen is not None:
                            req.gen.close()  # its finally blocks run on this thread
                        self._relay.event.emit("cancelled", req.id, (None,))
                    elif req.pause:
                        self._parked[req.id] = req
                        self._relay.event.emit("paused", req.id, (None,))
                    else:
                        # back at the head of the long jobs; interactive ones still go first
                        self._queue.insert(0, req)
                idle = not self._queue
            if final and req.key is None:
                trim_due = time.monotonic() + QUIET_TRIM_S
                if idle:
                    # after a job or a load (never between interactive requests: a click's
                    # forward pass must not wait for this), once nothing else waits
                    release_free_memory()
            elif trim_due is not None:
                trim_due = time.monotonic() + QUIET_TRIM_S  # still busy: wait for quiet

    def _execute(self, req: _Request) -> bool:
        """Run a call, or one step of a job; True when the request is over."""
        emit = self._relay.event.emit
        try:
            if req.job is not None:
                return self._step(req)
            emit("started", req.id, (None,))
            assert req.fn is not None
            result = req.fn()
        except Cancelled:
            emit("cancelled", req.id, (None,))
            return True
        except BaseException as exc:  # noqa: BLE001 - any failure must leave the app working
            emit("failed", req.id, ((error_message(exc), traceback.format_exc()),))
            return True
        self.executed += 1
        emit("finished", req.id, (result,))
        return True

    def _step(self, req: _Request) -> bool:
        """Advance a long job by one progress report; True when it ended."""
        emit = self._relay.event.emit
        grad = _grad_mode()
        if req.gen is None:
            emit("started", req.id, (None,))
            req.context = contextvars.copy_context()
            assert req.job is not None and req.context is not None
            req.gen = req.context.run(req.job, req.token)
        assert req.gen is not None and req.context is not None
        if grad is not None:
            grad[1](req.grad)
        try:
            if req.token.cancelled:
                raise Cancelled()
            report = req.context.run(next, req.gen)
        except StopIteration as stop:
            self.executed += 1
            emit("finished", req.id, (stop.value,))
            return True
        except Cancelled:
            req.gen.close()
            emit("cancelled", req.id, (None,))
            return True
        except BaseException as exc:  # noqa: BLE001 - any failure must leave the app working
            req.gen.close()
            emit("failed", req.id, ((error_message(exc), traceback.format_exc()),))
            return True
        finally:
            grad = _grad_mode()  # the job may have imported torch in this step
            if grad is not None:
                req.grad = grad[0]()
                grad[1](True)
        now = time.monotonic()
        # at most ~30 reports a second reach the GUI; the final one and records always do
        if (now - req.last_report >= PROGRESS_INTERVAL_S or (report.fraction or 0.0) >= 1.0
                or getattr(report, "keep", False)):
            req.last_report = now
            emit("progress", req.id, (report,))
        return False

    # -- GUI thread delivery -----------------------------------------------------
    @Slot(str, int, object)
    def _deliver(self, what: str, rid: int, boxed: object) -> None:
        if self._stopping:
            return  # results arriving while the window closes reach no one
        payload = boxed[0]  # type: ignore[index]
        if what == "replaced":
            what, payload = "cancelled", None  # a newer request with the same key took its place
        handle = self._handles.get(rid)
        if handle is None:
            return
        if what in ("finished", "failed", "cancelled"):
            del self._handles[rid]
        handle._deliver(what, payload)
