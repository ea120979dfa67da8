"""Torch threads on a shared machine: training steps with one thread, with every core,
and with the automatic choice (:func:`eegmi.devices.choose_threads`), while other
processes keep cores busy.

``--competitors N`` (default 1) CPU-bound busy-loop processes run during the whole
measurement (on a machine that is already loaded, pass 0).  Each round times the
same number of training steps of the paper-size VAE (batch 256, topomaps rendered
per batch) under each thread count in turn (interleaved).  Reports steps/s (min
and median over rounds), the ratios to one thread, and what ``auto`` chose.

Usage: ``python benchmarks/threads.py [--competitors 1] [--rounds 5] [--steps 8]``;
prints the load average and one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, load_average, ratio  # noqa: E402


def _spin() -> None:  # pragma: no cover - runs in the competitor processes
    x = 0
    while True:
        x += 1


def main() -> None:
    from eegmi.data.dataset import TopomapBatches
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import get_operator
    from eegmi.devices import choose_threads, cpu_threads
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.steps import train_epoch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--competitors", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    print("load average:", load_average(), file=sys.stderr)
    auto_before = choose_threads()  # what a command started now would choose
    procs = [mp.Process(target=_spin, daemon=True) for _ in range(args.competitors)]
    for p in procs:
        p.start()
    try:
        rng = np.random.default_rng(0)
        values = rng.normal(size=(256 * args.steps, 32)).astype(np.float32)
        op = get_operator("biosemi32", 40, "cubic")
        scaler = ClipScaler.fit(values)
        torch.manual_seed(0)
        model = build_model(ModelConfig(kind="vae"))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        batches = TopomapBatches(values, np.arange(len(values)), op, scaler, batch_size=256)
        cores = cpu_threads()

        def steps(n: int):
            def run() -> None:
                torch.set_num_threads(n)
                train_epoch(model, batches, opt, None, 1e-6)
            return run

        counts = {"one_thread": 1, f"all_{cores}_threads": cores, "auto": auto_before}
        times = interleaved({k: steps(n) for k, n in counts.items()}, args.rounds)
    finally:
        for p in procs:
            p.terminate()
    result = {"benchmark": "threads", "cores": cores, "competitors": args.competitors,
              "auto_threads": auto_before, "steps_per_round": args.steps, "rounds": args.rounds,
              "load_average": load_average(),
              "steps_per_s": {k: {"min_time": args.steps / t["min_s"],
                                  "median_time": args.steps / t["median_s"]}
                              for k, t in times.items()},
              "speed_vs_one_thread": {k: ratio(times["one_thread"], t) for k, t in times.items()}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
