"""The Qt adapter of the workbench state, and the one place that submits model work.

:class:`eegmi.workbench.Workbench` (Qt-free) holds the current input, model and
data; :class:`Session` owns it and the model worker. It turns the workbench's
change notifications into Qt signals and into model requests: every input change
queues a forward pass (latest-wins under the key ``"forward"``), a baseline or
model change a baseline pass, a latent vector a decoder call (``"decode"``).
With a second model pinned (:meth:`Session.pin_model`), every change also queues
one call running both models on the input (``"compare"``, ``compare_ready``).
Panels read ``session.workbench`` and change it through its methods; they submit
their own long jobs with :meth:`Session.submit` and follow the returned
:class:`app.jobs.JobHandle`. Panels never call torch, never poke each other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.jobs import JobHandle
from app.worker import JobFactory, ModelWorker
from eegmi.errors import DataError
from eegmi.workbench import InputState, Workbench


def _load_model_job(name_or_path: str, device: str) -> tuple[Any, Any]:
    from eegmi.inference import Inference
    from eegmi.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(name_or_path, device=device)
    return loaded, Inference(loaded, loaded.operator, device)


def _load_data_job(spec: str, montage: Any) -> tuple[Any, Any]:
    from eegmi.data.loaders import load_dataset
    from eegmi.data.preprocess import ClipScaler

    data = load_dataset(spec, montage=montage)
    if data.n_frames == 0:
        raise DataError("dataset has no frames", path=spec)
    # the data's own percentiles scale frames until a model brings its training scaler
    return data, ClipScaler.fit(np.asarray(data.values))


class Session(QObject):
    """Current model, dataset and input (a :class:`Workbench`); submits all model work.

    Signals
    -------
    input_changed(InputState): the input (mode, electrodes, frame, baseline) changed
    model_changed(), data_changed(), forward_ready(ForwardResult),
    baseline_ready(ForwardResult), decode_ready(DecodeResult), error(str),
    busy(str message, float fraction): the newest long job's progress (1.0: none left),
    job_submitted(JobHandle): a long job or load was queued, device_changed(str),
    pinned_changed(): a model was pinned for comparison or unpinned,
    compare_ready(ForwardComparison): both models on the current input
    """

    input_changed = Signal(object)
    model_changed = Signal()
    data_changed = Signal()
    forward_ready = Signal(object)
    baseline_ready = Signal(object)
    decode_ready = Signal(object)
    error = Signal(str)
    busy = Signal(str, float)
    job_submitted = Signal(object)
    device_changed = Signal(str)
    pinned_changed = Signal()
    compare_ready = Signal(object)

    def __init__(self, worker: ModelWorker | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from eegmi.data.topomap import get_operator

        self.worker = worker if worker is not None else ModelWorker()
        self.operator = get_operator("biosemi32", 40, "cubic")
        self.workbench = Workbench(self.operator.montage)
        self.inference: Any = None
        #: the pinned model's ``Inference`` (None: nothing pinned)
        self.pinned_inference: Any = None
        self.last_compare: Any = None
        self.device = "cpu"
        self.last_forward: Any = None
        #: the values of the newest forward request (what the views are about to show)
        self.values = np.zeros(self.operator.montage.n_channels, dtype=np.float32)
        #: (inference, input bytes, ForwardResult) of the newest prefetched input
        self._prefetched: tuple[Any, bytes, Any] | None = None
        # forward requests are numbered; results older than the one shown are dropped
        self._forward_seq = 0
        self._shown_seq = 0
        #: long jobs still running, newest last (the status bar follows the newest)
        self._jobs: list[JobHandle] = []
        self.workbench.subscribe(self._on_workbench)
        self.call(self._pick_device, "device").finished.connect(self._on_device)
        self.request_forward()  # the first views show the (zero) baseline input

    # -- what the panels read ----------------------------------------------------------
    @property
    def input(self) -> InputState:
        return self.workbench.input

    @property
    def model(self) -> Any:
        """The ``LoadedModel`` shown, or None."""
        return self.workbench.loaded

    @property
    def model_name(self) -> str:
        return self.workbench.model_name

    @property
    def pinned(self) -> Any:
        """The ``LoadedModel`` pinned for comparison, or None."""
        return self.workbench.pinned

    @property
    def pinned_name(self) -> str:
        return self.workbench.pinned_name

    @property
    def data(self) -> Any:
        """The ``EEGData`` loaded, or None."""
        return self.workbench.data

    @property
    def data_name(self) -> str:
        return self.workbench.data_name

    @property
    def adapter(self) -> Any:
        """The :class:`eegmi.models.adapter.ModelAdapter` of the model, or None."""
        return None if self.inference is None else self.inference.adapter

    @property
    def scaler(self) -> Any:
        """The scaler for raw frames: the model's training scaler, else the data's own."""
        return self.workbench.scaler

    @property
    def injection_config(self) -> Any:
        return None if self.model is None else getattr(self.model, "injection_config", None)

    @property
    def baseline(self) -> str:
        return self.workbench.input.baseline

    @property
    def frame_index(self) -> int:
        return self.workbench.input.frame

    @property
    def input_source(self) -> str:
        """``"inject"`` or ``"dataset"`` (the input mode)."""
        return self.workbench.input.mode

    def frame_values(self, i: int) -> np.ndarray:
        """Scaled electrode vector (n,) of dataset frame ``i``."""
        return self.workbench.frame_values(i)

    def baseline_values(self) -> np.ndarray:
        """The baseline input (n,): zeros, or the mean scaled frame of the dataset."""
        return self.workbench.baseline_values()

    def state(self) -> dict[str, Any]:
        """JSON-able description of what produces the current views."""
        return {**self.workbench.state(), "device": self.device}

    # -- changing the model and data (loads run on the worker) ------------------------------
    def set_model(self, name_or_path: str | Path) -> JobHandle:
        """Load a bundled model by name (``E1``..) or a checkpoint folder, on the worker."""
        spec = str(name_or_path)
        device = self.device
        handle = self._long(self.call(lambda: _load_model_job(spec, device), f"load model {spec}"))
        handle.finished.connect(lambda result: self._install_model(spec, *result))
        return handle

    def clear_model(self) -> None:
        """Forget the model: views fall back to the input side only."""
        self.inference = None
        self.workbench.set_model("", None)

    def pin_model(self, name_or_path: str | Path) -> JobHandle:
        """Load a second model (bundled name or checkpoint folder) on the worker and pin
        it beside the current one; the comparison then follows every input change."""
        spec = str(name_or_path)
        device = self.device
        handle = self._long(self.call(lambda: _load_model_job(spec, device), f"pin model {spec}"))
        handle.finished.connect(lambda result: self._install_pinned(spec, *result))
        return handle

    def unpin_model(self) -> None:
        """Forget the pinned model (the comparison stops)."""
        self.pinned_inference = None
        self.last_compare = None
        self.workbench.unpin()

    def _install_pinned(self, spec: str, loaded: Any, inference: Any) -> None:
        self.pinned_inference = inference
        self.last_compare = None
        self.workbench.pin(spec, loaded)

    def set_data(self, spec: str | Path) -> JobHandle:
        """Load ``"synthetic"`` or a data file on the worker."""
        spec = str(spec)
        montage = self.operator.montage
        handle = self._long(self.call(lambda: _load_data_job(spec, montage), f"load data {spec}"))
        handle.finished.connect(lambda result: self.workbench.set_data(spec, *result))
        return handle

    def use_model(self, name: str, loaded: Any, inference: Any) -> None:
        """Show a model loaded elsewhere (scripts, tests): ``loaded`` with its ``Inference``."""
        self._install_model(name, loaded, inference)

    def use_data(self, name: str, data: Any, scaler: Any = None) -> None:
        """Use a recording loaded elsewhere (scripts, tests); ``scaler`` defaults to one
        fitted on the recording's own percentiles."""
        if scaler is None:
            from eegmi.data.preprocess import ClipScaler

            scaler = ClipScaler.fit(np.asarray(data.values))
        self.workbench.set_data(name, data, scaler)

    def _install_model(self, spec: str, loaded: Any, inference: Any) -> None:
        self.inference = inference
        self.operator = inference.operator
        self.workbench.set_model(spec, loaded, self.operator.montage)

    # -- shortcuts to the workbench (scripts, tests) -----------------------------------------
    def set_frame(self, i: int) -> None:
        """Use frame ``i`` of the dataset (scaled) as the input."""
        self.workbench.set_frame(i)

    def set_baseline(self, which: str) -> None:
        self.workbench.set_baseline(which)

    def set_values(self, values: np.ndarray) -> None:
        """Inject the vector ``values (n,)`` as it is: every non-zero electrode with its
        value, on the zero baseline (a script's or test's way to set any input)."""
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
        names = self.workbench.montage.ch_names
        if arr.shape[0] != len(names):
            raise DataError(f"input needs {len(names)} values, got {arr.shape[0]}")
        self.workbench.set_baseline("zero")
        self.workbench.inject({n: float(v) for n, v in zip(names, arr, strict=True) if v != 0})

    # -- reacting to the workbench ------------------------------------------------------------
    def _on_workbench(self, changed: frozenset[str]) -> None:
        if "model" in changed:
            self.model_changed.emit()
        if "data" in changed:
            self.data_changed.emit()
        if "pinned" in changed:
            self.pinned_changed.emit()
        if changed & {"input", "model", "data"}:
            self.input_changed.emit(self.workbench.input)
        if changed - {"pinned"}:
            self.request_forward()
        if changed & {"baseline", "model", "data"}:
            self._request_baseline()
        self.request_compare()

    # -- model requests -----------------------------------------------------------------------
    def request_forward(self) -> JobHandle | None:
        """Forward the current input on the worker (latest-wins); the result arrives as
        ``forward_ready``. Returns the request's handle, or None when a prefetched
        result for exactly this input and model is delivered instead (still
        asynchronously)."""
        try:
            values = self.workbench.input_values()
        except Exception as exc:  # noqa: BLE001 - a bad frame must not break the session
            from app.worker import error_message

            self.error.emit(error_message(exc))
            return None
        self.values = values
        self._forward_seq += 1
        seq = self._forward_seq
        hit = self._prefetched
        if hit is not None and hit[0] is self.inference and hit[1] == values.tobytes():
            # computed while the pointer rested on the electrode: the click only paints
            used, result = hit[0], hit[2]
            QTimer.singleShot(0, lambda: self._deliver_forward(used, result, seq))
            return None
        handle = self.call(lambda: self._forward(values), "forward", key="forward")
        handle.finished.connect(lambda result: self._deliver_forward(*result, seq))
        handle.failed.connect(self.error)
        return handle

    def prefetch(self, values: np.ndarray) -> None:
        """Compute the forward pass of an input the user is about to choose.

        The scalp map calls this when the pointer comes to rest on an electrode: the
        worker is idle then, and the click that usually follows finds its result
        ready (:meth:`request_forward`). Only the newest prefetch is kept; a failed
        guess reports nothing (the click itself will).
        """
        if self.inference is None:
            return
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
        if arr.shape[0] != self.operator.montage.n_channels or np.array_equal(arr, self.values):
            return
        hit = self._prefetched
        if hit is not None and hit[0] is self.inference and hit[1] == arr.tobytes():
            return
        v = arr.copy()
        handle = self.call(lambda: self._forward(v), "prefetch", key="prefetch")
        handle.finished.connect(self._keep_prefetch)

    def _keep_prefetch(self, result: tuple[Any, Any]) -> None:
        used, res = result
        if used is self.inference:
            self._prefetched = (used, np.asarray(res.values, np.float32).tobytes(), res)

    def _deliver_forward(self, used: Any, res: Any, seq: int) -> None:
        if used is not self.inference:
            return  # computed with the previous model; a fresh request is queued
        if seq < self._shown_seq:
            # asked for before the input already on screen (a prefetched result can
            # overtake a running request): showing it would step back in time
            return
        self._shown_seq = seq
        self.last_forward = res
        self.forward_ready.emit(res)

    def request_compare(self) -> JobHandle | None:
        """Run the current and the pinned model on the current input in one worker call
        (latest-wins key ``"compare"``); the result arrives as ``compare_ready``.

        Returns None (nothing queued) without both models, or when the pinned model
        cannot see this input (``workbench.pin_problem()``).
        """
        a, b = self.inference, self.pinned_inference
        if a is None or b is None or self.workbench.pin_problem():
            return None
        try:
            va, vb = self.workbench.input_values(), self.workbench.pinned_values()
        except Exception as exc:  # noqa: BLE001 - a bad frame must not break the session
            from app.worker import error_message

            self.error.emit(error_message(exc))
            return None

        def both() -> tuple[Any, Any, Any]:
            from eegmi.analysis.compare import compare_forward

            return a, b, compare_forward(a, b, va, vb)

        handle = self.call(both, "compare", key="compare")
        handle.finished.connect(self._deliver_compare)
        handle.failed.connect(self.error)
        return handle

    def _deliver_compare(self, result: tuple[Any, Any, Any]) -> None:
        a, b, comparison = result
        if a is self.inference and b is self.pinned_inference:  # else a newer one is queued
            self.last_compare = comparison
            self.compare_ready.emit(comparison)

    def request_decode(self, z: np.ndarray) -> JobHandle:
        """Drive the decoder with ``z (d,)``; the result arrives as ``decode_ready``."""
        inf = self.inference
        if inf is None:
            raise DataError("no model loaded")
        zz = np.asarray(z, dtype=np.float32).copy()
        handle = self.call(lambda: inf.decode(zz), "decode", key="decode")
        handle.finished.connect(self.decode_ready)
        handle.failed.connect(self.error)
        return handle

    def _request_baseline(self) -> None:
        values = self.workbench.baseline_values()
        handle = self.call(lambda: self._forward(values), "baseline", key="baseline")
        handle.finished.connect(self._deliver_baseline)
        handle.failed.connect(self.error)

    def _deliver_baseline(self, result: tuple[Any, Any]) -> None:
        used, res = result
        if used is self.inference:  # else computed with the previous model; a fresh one is queued
            self.baseline_ready.emit(res)

    # -- submitting work ------------------------------------------------------------------------
    def call(self, fn: Callable[[], Any], label: str, key: str | None = None) -> JobHandle:
        """Run ``fn()`` on the worker; with ``key``, latest-wins among requests with that key."""
        return self.worker.submit(fn, label, key=key)

    def submit(self, factory: JobFactory, label: str) -> JobHandle:
        """Run a long job ``factory(token)`` (a generator yielding ``Progress``) on the
        worker; the status bar follows it and its Cancel button cancels it."""
        return self._long(self.worker.submit_job(factory, label))

    def _long(self, handle: JobHandle) -> JobHandle:
        self._jobs.append(handle)
        handle.progress.connect(lambda report, h=handle: self._on_progress(h, report))
        handle.ended.connect(lambda h=handle: self._on_ended(h))
        handle.failed.connect(self.error)  # the status bar; the owner shows it in full
        self.busy.emit(f"{handle.label}: queued", -1.0)
        self.job_submitted.emit(handle)
        return handle

    def current_job(self) -> JobHandle | None:
        """The newest long job still active (the one the status bar shows)."""
        return self._jobs[-1] if self._jobs else None

    def shutdown(self) -> None:
        self.worker.stop()

    # -- worker plumbing --------------------------------------------------------
    def _pick_device(self) -> str:
        from eegmi.devices import pick_device
        from eegmi.inference import configure_worker_threads

        configure_worker_threads()
        return pick_device().type

    def _on_device(self, device: str) -> None:
        self.device = str(device)
        self.device_changed.emit(self.device)

    def _forward(self, values: np.ndarray) -> tuple[Any, Any]:
        # reads the model at run time and returns it with the result: a forward run
        # between a model load finishing and the GUI thread installing it is stale
        inf = self.inference
        if inf is not None:
            return inf, inf.forward_values(values)
        from eegmi.inference import preview

        return None, preview(self.operator, values, None)

    def _on_progress(self, handle: JobHandle, report: Any) -> None:
        if handle is self.current_job():
            frac = report.fraction
            self.busy.emit(f"{handle.label}: {report.message}" if report.message else handle.label,
                           -1.0 if frac is None else float(frac))

    def _on_ended(self, handle: JobHandle) -> None:
        if handle in self._jobs:
            self._jobs.remove(handle)
        nxt = self.current_job()
        if nxt is None:
            self.busy.emit("", 1.0)
        else:
            self.busy.emit(nxt.label, -1.0)
