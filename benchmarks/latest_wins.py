"""Latest-wins vs first-in-first-out for a burst of interactive forward requests.

A mouse drag over the scalp map or a latent slider fires ~120 events a second,
faster than a paper-size model's forward pass on a CPU.  The model worker keys
interactive requests so that a newer one replaces a queued older one.  This
benchmark replays such a drag (``--events`` requests, one every ``--interval-ms``
on the Qt event loop) through a real :class:`app.worker.ModelWorker` running
:class:`eegmi.inference.Inference` on an untrained paper-size ConvVAE, once with
keys (latest-wins) and once without (FIFO, the obvious baseline), and reports
how many forward passes ran and how long after the last event its result was
shown.  ``lag_ratio`` = FIFO lag / latest-wins lag.

Usage: ``python benchmarks/latest_wins.py [--quick]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.worker import ModelWorker  # noqa: E402
from eegmi.data.topomap import get_operator  # noqa: E402
from eegmi.inference import Inference  # noqa: E402
from eegmi.models import ModelConfig, build_model  # noqa: E402
from eegmi.training.checkpoint import LoadedModel  # noqa: E402


def replay(worker: ModelWorker, inf: Inference, n_events: int, interval_ms: int,
           keyed: bool) -> dict[str, float]:
    """Fire ``n_events`` forward requests on a timer; time the last one's result."""
    rng = np.random.default_rng(0)
    inputs = rng.random((n_events, 32), dtype=np.float32)
    state = {"sent": 0, "done": 0, "t_last_sent": 0.0, "t_last_shown": 0.0, "last": None}
    loop = QEventLoop()

    def on_finished(handle: object) -> None:
        state["done"] += 1
        if state["sent"] == n_events and handle is state["last"]:
            state["t_last_shown"] = time.perf_counter()
            loop.quit()

    def fire() -> None:
        k = state["sent"]
        if k == 0:
            state["t_first_sent"] = time.perf_counter()
        v = inputs[k]
        handle = worker.submit(lambda v=v: inf.forward_values(v), "forward",
                               key="forward" if keyed else None)
        handle.finished.connect(lambda _r, h=handle: on_finished(h))
        state["sent"] += 1
        if state["sent"] == n_events:
            timer.stop()
            state["last"] = handle
            state["t_last_sent"] = time.perf_counter()

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(fire)
    timer.start()
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    return {"forwards_run": state["done"],
            "burst_ms": 1000 * (state["t_last_sent"] - state["t_first_sent"]),
            "lag_ms": 1000 * (state["t_last_shown"] - state["t_last_sent"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (20 events)")
    parser.add_argument("--events", type=int, default=120)
    # events closer together than one forward pass, as in a fast drag or wheel burst
    parser.add_argument("--interval-ms", type=int, default=2)
    args = parser.parse_args()
    n = 20 if args.quick else args.events
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    app = QApplication.instance() or QApplication([])
    op = get_operator("biosemi32", 40, "cubic")
    cfg = ModelConfig()  # paper-size: filters 32/64/128, latent 32
    torch.manual_seed(0)
    loaded = LoadedModel(build_model(cfg).eval(), cfg, {}, None, None, op, Path("untrained"))
    inf = Inference(loaded, op, "cpu")
    inf.forward_values(np.zeros(32, np.float32))  # warm-up (allocations, SSIM import)
    t = time.perf_counter()
    for _ in range(10):
        inf.forward_values(np.zeros(32, np.float32))
    forward_ms = 1000 * (time.perf_counter() - t) / 10
    worker = ModelWorker()
    try:
        latest = replay(worker, inf, n, args.interval_ms, keyed=True)
        fifo = replay(worker, inf, n, args.interval_ms, keyed=False)
    finally:
        worker.stop()
    del app
    print(json.dumps({
        "benchmark": "latest_wins", "events": n, "interval_ms": args.interval_ms,
        "forward_ms": round(forward_ms, 2),
        "latest_wins": {k: round(v, 2) for k, v in latest.items()},
        "fifo": {k: round(v, 2) for k, v in fifo.items()},
        "lag_ratio": round(fifo["lag_ms"] / max(latest["lag_ms"], 1e-6), 2),
        "forwards_ratio": round(fifo["forwards_run"] / max(latest["forwards_run"], 1), 2),
    }))


if __name__ == "__main__":
    main()
