"""The model worker: one QThread that runs every model call.

Interactive requests (clicks, slider drags) carry a ``key``; a newer request
with the same key replaces an older one still waiting in the queue, so a burst
of 50 slider events runs only a handful of forward passes and the last one is
always executed (latest-wins).  Long jobs are generators yielding
:class:`eegmi.jobs.Progress`; they stop at their next ``yield`` once cancelled.

Results are handed back on the GUI thread: the worker thread emits an internal
signal with a queued connection to a slot of :class:`ModelWorker` (which lives
on the GUI thread), and that slot emits the public signals, so any connected
callable, lambdas included, runs on the GUI thread.
"""

from __future__ import annotations

import atexit
import ctypes
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from eegmi.errors import Cancelled, EegmiError
from eegmi.jobs import CancelToken, Progress

PROGRESS_INTERVAL_S = 0.03
JobFactory = Callable[[CancelToken], Generator[Progress, None, Any]]


@dataclass
class _Request:
    id: int
    kind: str
    key: str | None
    fn: Callable[[], Any] | None = None
    job: JobFactory | None = None
    token: CancelToken = field(default_factory=CancelToken)


def _heap_trimmer() -> Callable[[], None]:
    """``malloc_trim(0)`` where the C library has it (glibc), else a no-op."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)  # ctypes lets go of the GIL meanwhile

    return release


#: hands freed heap pages back to the system.  Jobs and model loads allocate and free
#: hundreds of MB in blocks that glibc keeps in its arenas once its adaptive mmap
#: threshold has risen: without this the resident size only ever steps up, by tens
#: of MB per job, although nothing is kept alive.
release_free_memory = _heap_trimmer()


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
    """Carries results from the worker thread to the GUI thread."""

    # payloads travel wrapped in a 1-tuple: PySide6 mis-counts references to a bare
    # None sent through an ``object`` argument across threads (crash at exit)
    event = Signal(str, int, str, object)


class _Thread(QThread):
    def __init__(self, owner: ModelWorker) -> None:
        super().__init__()
        self._owner = owner

    def run(self) -> None:  # noqa: D401 - Qt override
        self._owner._loop()


class ModelWorker(QObject):
    """Runs callables and job generators on one dedicated thread.

    Signals
    -------
    finished(id, kind, result), failed(id, kind, message), progress(id, kind, Progress),
    cancelled(id, kind), started(id, kind)
    """

    finished = Signal(int, str, object)
    failed = Signal(int, str, str)
    progress = Signal(int, str, object)
    cancelled = Signal(int, str)
    started = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        _collect_on_gui_thread()  # before the worker thread runs any Python
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._running: _Request | None = None
        self._next_id = 1
        self._stopping = False
        #: counts for diagnostics and tests: requests run, and replaced before running
        self.executed = 0
        self.replaced = 0
        self._relay = _Relay()
        self._relay.event.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._thread = _Thread(self)
        self._thread.setObjectName("eegmi-model-worker")
        self._thread.start()
        _LIVE.add(self)

    # -- submission (GUI thread) -------------------------------------------------
    def submit(self, fn: Callable[[], Any], *, kind: str, key: str | None = None) -> int:
        """Queue ``fn()``; with ``key``, replace a queued request with the same key.

        Returns the request id carried by the result signals (-1 once stopped).
        """
        return self._enqueue(_Request(self._take_id(), kind, key, fn=fn))

    def submit_job(self, gen_factory: JobFactory, kind: str) -> int:
        """Queue a long job ``gen_factory(token)`` whose progress reports are forwarded."""
        return self._enqueue(_Request(self._take_id(), kind, None, job=gen_factory))

    def cancel(self, request_id: int) -> bool:
        """Cancel a queued or running request; True when it was found."""
        with self._cond:
            for req in self._queue:
                if req.id == request_id:
                    self._queue.remove(req)
                    self._relay.event.emit("cancelled", req.id, req.kind, (None,))
                    return True
            if self._running is not None and self._running.id == request_id:
                self._running.token.cancel()
                return True
        return False

    def running_job(self) -> tuple[int, str] | None:
        """(id, kind) of the request being executed, if any."""
        with self._cond:
            run = self._running
            return None if run is None else (run.id, run.kind)

    def pending(self) -> int:
        """Requests waiting in the queue (not counting the running one)."""
        with self._cond:
            return len(self._queue)

    def stop(self, wait_ms: int = 30000) -> None:
        """Cancel everything and end the thread (called when the window closes)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            if self._running is not None:
                self._running.token.cancel()
            self._cond.notify_all()
        if self._thread.isRunning():
            self._thread.wait(wait_ms)
        _LIVE.discard(self)

    def _take_id(self) -> int:
        with self._cond:
            rid = self._next_id
            self._next_id += 1
            return rid

    def _enqueue(self, req: _Request) -> int:
        with self._cond:
            if self._stopping:
                return -1  # the window is closing: late requests are dropped
            if req.key is not None:
                for i, old in enumerate(self._queue):
                    if old.key == req.key:
                        # keep the queue position so interactive work is not starved
                        self._queue[i] = req
                        self.replaced += 1
                        break
                else:
                    self._queue.append(req)
            else:
                self._queue.append(req)
            self._cond.notify_all()
        return req.id

    # -- worker thread -----------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                req = self._queue.pop(0)
                self._running = req
            self._execute(req)
            with self._cond:
                self._running = None
                idle = not self._queue
            if idle and req.key is None:
                # after a job or a load (never between interactive requests: a click's
                # forward pass must not wait for this), once nothing else waits
                release_free_memory()

    def _execute(self, req: _Request) -> None:
        emit = self._relay.event.emit
        emit("started", req.id, req.kind, (None,))
        try:
            if req.job is not None:
                result = self._drive(req)
            else:
                assert req.fn is not None
                result = req.fn()
        except Cancelled:
            emit("cancelled", req.id, req.kind, (None,))
            return
        except BaseException as exc:  # noqa: BLE001 - any failure must leave the app working
            emit("failed", req.id, req.kind, ((error_message(exc), traceback.format_exc()),))
            return
        finally:
            self.executed += 1
        emit("finished", req.id, req.kind, (result,))

    def _drive(self, req: _Request) -> Any:
        assert req.job is not None
        gen = req.job(req.token)
        last = 0.0
        try:
            while True:
                if req.token.cancelled:
                    raise Cancelled()
                report = next(gen)
                now = time.monotonic()
                # at most ~30 reports a second reach the GUI; the final one always does
                if now - last >= PROGRESS_INTERVAL_S or (report.fraction or 0.0) >= 1.0:
                    last = now
                    self._relay.event.emit("progress", req.id, req.kind, (report,))
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()

    # -- GUI thread delivery -----------------------------------------------------
    @Slot(str, int, str, object)
    def _deliver(self, what: str, rid: int, kind: str, boxed: object) -> None:
        if self._stopping:
            return  # results arriving while the window closes reach no one
        payload = boxed[0]  # type: ignore[index]
        if what == "finished":
            self.finished.emit(rid, kind, payload)
        elif what == "failed":
            message, tb = payload  # type: ignore[misc]
            self.last_traceback = tb
            self.failed.emit(rid, kind, message)
        elif what == "progress":
            self.progress.emit(rid, kind, payload)
        elif what == "cancelled":
            self.cancelled.emit(rid, kind)
        elif what == "started":
            self.started.emit(rid, kind)
