"""The application state shared by every panel.

The session owns the model worker and is the only place that submits model
work: loading a model or a dataset, forward passes (latest-wins under the key
``"forward"``) and decoder calls (latest-wins under ``"decode"``).  Panels read
its attributes and listen to its signals; they never call torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.worker import ModelWorker
from eegmi.errors import DataError

#: kinds of requests a user fires many times a second; failures go to the status bar only
INTERACTIVE_KINDS = frozenset({"forward", "baseline", "decode", "prefetch"})


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
    """Current model, dataset, input vector and frame; submits all model work.

    Signals
    -------
    model_changed(), data_changed(), forward_ready(ForwardResult),
    baseline_ready(ForwardResult), decode_ready(DecodeResult), error(str),
    busy(str message, float fraction), device_changed(str)
    """

    model_changed = Signal()
    data_changed = Signal()
    forward_ready = Signal(object)
    baseline_ready = Signal(object)
    decode_ready = Signal(object)
    error = Signal(str)
    busy = Signal(str, float)
    device_changed = Signal(str)
    input_changed = Signal()

    def __init__(self, worker: ModelWorker | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from eegmi.data.topomap import get_operator

        self.worker = worker if worker is not None else ModelWorker()
        self.model: Any = None
        self.model_name = ""
        self.data: Any = None
        self.data_name = ""
        self.inference: Any = None
        self.operator = get_operator("biosemi32", 40, "cubic")
        self.values = np.zeros(self.operator.montage.n_channels, dtype=np.float32)
        self.baseline = "zero"
        self.frame_index = 0
        #: "inject" (clicked electrodes) or "dataset" (real frames)
        self.input_source = "inject"
        self.device = "cpu"
        self.last_forward: Any = None
        #: (inference, input bytes, ForwardResult) of the newest prefetched input
        self._prefetched: tuple[Any, bytes, Any] | None = None
        # forward requests are numbered; results older than the one shown are dropped
        self._forward_seq = 0
        self._shown_seq = 0
        self._data_scaler: Any = None
        self._pending: dict[int, str] = {}
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.progress.connect(self._on_progress)
        self.worker.cancelled.connect(self._on_cancelled)
        self._submit(self._pick_device, "device")

    # -- public API ------------------------------------------------------------
    @property
    def scaler(self) -> Any:
        """The scaler for raw frames: the model's training scaler, else one fitted on the data."""
        if self.model is not None and getattr(self.model, "scaler", None) is not None:
            return self.model.scaler
        return self._data_scaler

    @property
    def injection_config(self) -> Any:
        return None if self.model is None else getattr(self.model, "injection_config", None)

    def set_model(self, name_or_path: str | Path) -> int:
        """Load a bundled model by name (``E1``..) or a checkpoint folder, on the worker."""
        spec = str(name_or_path)
        device = self.device
        return self._submit(lambda: _load_model_job(spec, device), "load_model", tag=spec)

    def clear_model(self) -> None:
        """Forget the model: views fall back to the input side only."""
        self.model, self.inference, self.model_name = None, None, ""
        if self.input_source == "dataset" and self.data is not None:
            self.values = self.frame_values(self.frame_index)
        self.model_changed.emit()
        self.request_forward()
        self._request_baseline()

    def set_data(self, spec: str | Path) -> int:
        """Load ``"synthetic"`` or a data file on the worker."""
        spec = str(spec)
        montage = self.operator.montage
        return self._submit(lambda: _load_data_job(spec, montage), "load_data", tag=spec)

    def set_values(self, values: np.ndarray) -> int:
        """Use ``values (n,)`` (scaled electrode vector) as the input; forward latest-wins."""
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
        if arr.shape[0] != self.operator.montage.n_channels:
            raise DataError(f"input needs {self.operator.montage.n_channels} values, got {arr.shape[0]}")
        self.values = arr.copy()
        self.input_changed.emit()
        return self.request_forward()

    def set_frame(self, i: int) -> int:
        """Use frame ``i`` of the dataset (scaled) as the input."""
        if self.data is None:
            raise DataError("no dataset loaded")
        i = int(np.clip(i, 0, self.data.n_frames - 1))
        self.frame_index = i
        self.input_source = "dataset"
        return self.set_values(self.frame_values(i))

    def frame_values(self, i: int) -> np.ndarray:
        """Scaled electrode vector (n,) of dataset frame ``i``."""
        raw = np.asarray(self.data.values[i], dtype=np.float32)
        return np.asarray(self.scaler.transform(raw), dtype=np.float32)

    def baseline_values(self) -> np.ndarray:
        """The baseline input (n,): zeros, or the mean scaled frame of the dataset."""
        n = self.operator.montage.n_channels
        if self.baseline == "mean" and self.data is not None and self.scaler is not None:
            raw = np.asarray(self.data.values[:: max(1, self.data.n_frames // 4096)], dtype=np.float32)
            return np.asarray(self.scaler.transform(raw), dtype=np.float32).mean(axis=0)
        return np.zeros(n, dtype=np.float32)

    def set_baseline(self, which: str) -> None:
        if which not in ("zero", "mean"):
            raise ValueError(f"baseline must be 'zero' or 'mean', not {which!r}")
        self.baseline = which
        self._request_baseline()

    def request_forward(self) -> int:
        """Forward the current input on the worker (latest-wins); the result arrives
        as ``forward_ready``.  Returns the request id, or 0 when a prefetched result
        for exactly this input and model is delivered instead (still asynchronously)."""
        values = self.values.copy()
        self._forward_seq += 1
        seq = self._forward_seq
        hit = self._prefetched
        if hit is not None and hit[0] is self.inference and hit[1] == values.tobytes():
            # computed while the pointer rested on the electrode: the click only paints
            used, result = hit[0], hit[2]
            QTimer.singleShot(0, lambda: self._deliver_forward(used, result, seq))
            return 0
        return self._submit(lambda: (*self._forward(values), seq), "forward", key="forward")

    def prefetch(self, values: np.ndarray) -> None:
        """Compute the forward pass of an input the user is about to choose.

        The scalp map calls this when the pointer comes to rest on an electrode: the
        worker is idle then, and the click that usually follows finds its result
        ready (:meth:`request_forward`).  Only the newest prefetch is kept.
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
        self._submit(lambda: self._forward(v), "prefetch", key="prefetch")

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

    def request_decode(self, z: np.ndarray) -> int:
        """Drive the decoder with ``z (d,)``; the result arrives as ``decode_ready``."""
        inf = self.inference
        if inf is None:
            raise DataError("no model loaded")
        zz = np.asarray(z, dtype=np.float32).copy()
        return self._submit(lambda: inf.decode(zz), "decode", key="decode")

    def run_job(self, gen_factory: Any, kind: str) -> int:
        """Run a long job on the worker; progress is reported through ``busy``."""
        rid = self.worker.submit_job(gen_factory, kind)
        self._pending[rid] = kind
        return rid

    def state(self) -> dict[str, Any]:
        """JSON-able description of what produces the current views."""
        return {
            "model": self.model_name, "data": self.data_name, "device": self.device,
            "input_source": self.input_source, "frame_index": int(self.frame_index),
            "baseline": self.baseline, "values": [float(v) for v in self.values],
            "channels": list(self.operator.montage.ch_names),
        }

    def shutdown(self) -> None:
        self.worker.stop()

    # -- worker plumbing --------------------------------------------------------
    def _pick_device(self) -> str:
        from eegmi.devices import pick_device
        from eegmi.inference import configure_worker_threads

        configure_worker_threads()
        return pick_device().type

    def _forward(self, values: np.ndarray) -> tuple[Any, Any]:
        # reads the model at run time and returns it with the result: a forward run
        # between a model load finishing and the GUI thread installing it is stale
        inf = self.inference
        if inf is not None:
            return inf, inf.forward_values(values)
        from eegmi.inference import preview

        return None, preview(self.operator, values, None)

    def _request_baseline(self) -> None:
        values = self.baseline_values()
        self._submit(lambda: self._forward(values), "baseline", key="baseline")

    def _submit(self, fn: Any, kind: str, key: str | None = None, tag: str = "") -> int:
        rid = self.worker.submit(fn, kind=kind, key=key)
        self._pending[rid] = tag or kind
        if kind not in INTERACTIVE_KINDS and kind != "device":
            self.busy.emit(f"{kind.replace('_', ' ')} {tag}".strip(), -1.0)
        return rid

    def _on_finished(self, rid: int, kind: str, result: Any) -> None:
        tag = self._pending.pop(rid, kind)
        if kind == "device":
            self.device = str(result)
            self.device_changed.emit(self.device)
        elif kind == "load_model":
            loaded, inference = result
            self.model, self.inference, self.model_name = loaded, inference, tag
            self.operator = inference.operator
            if self.input_source == "dataset" and self.data is not None:
                self.values = self.frame_values(self.frame_index)
            self.model_changed.emit()
            self.busy.emit("", 1.0)
            self.request_forward()
            self._request_baseline()
        elif kind == "load_data":
            self.data, self._data_scaler = result
            self.data_name = tag
            self.frame_index = 0
            self.data_changed.emit()
            self.busy.emit("", 1.0)
            if self.input_source == "dataset":
                self.set_frame(0)
            self._request_baseline()
        elif kind == "forward":
            self._deliver_forward(*result)
        elif kind == "prefetch":
            used, res = result
            if used is self.inference:
                self._prefetched = (used, np.asarray(res.values, np.float32).tobytes(), res)
        elif kind == "baseline":
            used, res = result
            if used is not self.inference:
                return  # computed with the previous model; a fresh request is queued
            self.baseline_ready.emit(res)
        elif kind == "decode":
            self.decode_ready.emit(result)
        elif kind not in INTERACTIVE_KINDS:
            # a panel's own job (run_job): its result goes to the panel, the status clears
            self.busy.emit("", 1.0)

    def _on_failed(self, rid: int, kind: str, message: str) -> None:
        self._pending.pop(rid, None)
        if kind == "prefetch":
            return  # a guess that failed: the click itself will report the problem
        if kind not in INTERACTIVE_KINDS:
            self.busy.emit("", 1.0)
        self.error.emit(message)

    def _on_cancelled(self, rid: int, kind: str) -> None:
        self._pending.pop(rid, None)
        self.busy.emit("", 1.0)

    def _on_progress(self, rid: int, kind: str, report: Any) -> None:
        frac = report.fraction
        self.busy.emit(report.message or kind, -1.0 if frac is None else float(frac))
