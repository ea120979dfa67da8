"""Native memory kept per input shape by torch's CPU kernels, and what eegmi's two
remedies save and cost: convolutions run eval batches in power-of-two pieces
(``eegmi.models.batch_buckets``) and MKL's memory manager is off
(``MKL_DISABLE_FAST_MM``, set by ``import eegmi``).

A bundled VAE (E3) runs forward passes with batch sizes 2..K+1 (every size new),
then the same sizes again, then one size many times; after each phase the C heap
in use (glibc ``mallinfo2``: allocated and not freed, all arenas) is printed.
Each configuration runs in its own process:

* ``shipped``: as eegmi runs it (both remedies);
* ``plain``: plain ``nn.Conv2d``/``nn.ConvTranspose2d`` (every batch size reaches
  oneDNN) and MKL's memory manager on (torch imported before eegmi), the baseline;
* ``pieces_only`` and ``mkl_fast_mm_off_only``: one remedy each;
* ``plain_primitive_cache_0``: plain, with oneDNN's primitive cache off
  (``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``);
* ``plain_no_mkldnn``: plain, with ``torch.backends.mkldnn`` disabled.

Growth in the first phase that does not recur in the second is memory kept per
shape seen (caches keyed by shape), not a leak per call.  ``mb_per_new_size`` is
that growth divided by the number of sizes.

Speed: in one more process, the model in pieces and the plain model run the same
jobs (n inputs in batches of 256, as the analyses take them, n = 1..K*7 in steps
of 7), interleaved per job and repeated; ``time_ratio_pieces_over_plain`` is the
ratio of their median total times (each job is run once before timing).  MKL's
memory manager cannot be switched within a process: ``training_step_seconds``
times E3 training steps (batch 256) in alternating processes with it on and off.

Usage: ``python benchmarks/shape_caches.py [--sizes 60]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: configuration -> environment of its process (None: variable removed)
CONFIGS: dict[str, dict[str, str | None]] = {
    "shipped": {},
    "plain": {"EEGMI_BENCH_PLAIN": "1", "EEGMI_BENCH_FAST_MM": "1"},
    "pieces_only": {"EEGMI_BENCH_FAST_MM": "1"},
    "mkl_fast_mm_off_only": {"EEGMI_BENCH_PLAIN": "1"},
    "plain_primitive_cache_0": {"EEGMI_BENCH_PLAIN": "1", "EEGMI_BENCH_FAST_MM": "1",
                                "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "0"},
    "plain_no_mkldnn": {"EEGMI_BENCH_PLAIN": "1", "EEGMI_BENCH_FAST_MM": "1",
                        "EEGMI_BENCH_NO_MKLDNN": "1"},
}


def _import_torch() -> Any:
    """torch, loaded before eegmi (MKL's memory manager on) under ``EEGMI_BENCH_FAST_MM``,
    else after it, as eegmi's commands and the GUI load it."""
    if not os.environ.get("EEGMI_BENCH_FAST_MM"):
        import eegmi  # noqa: F401
    import torch

    return torch


def _load(plain: bool) -> Any:
    """E3 in eval mode; with ``plain`` its bucketed layers become the torch classes."""
    from eegmi.models.batch_buckets import use_plain_layers
    from eegmi.training.checkpoint import load_checkpoint

    model = load_checkpoint("E3").model.eval()
    return use_plain_layers(model) if plain else model


def measure(n_sizes: int) -> dict[str, float]:
    """Heap in use (MiB) at start, after every new size, after repeating them, after
    one size 300 times."""
    torch = _import_torch()
    from _soak_trace import heap_mb

    torch.set_num_threads(1)
    if os.environ.get("EEGMI_BENCH_NO_MKLDNN"):
        torch.backends.mkldnn.enabled = False
    model = _load(bool(os.environ.get("EEGMI_BENCH_PLAIN")))
    out = {"start": heap_mb()["in_use"]}
    with torch.no_grad():
        model(torch.rand(1, 1, 40, 40))
        out["first_pass"] = heap_mb()["in_use"]
        for phase in ("new_sizes", "same_sizes_again"):
            for b in range(2, n_sizes + 2):
                model(torch.rand(b, 1, 40, 40))
            out[phase] = heap_mb()["in_use"]
        x = torch.rand(7, 1, 40, 40)
        for _ in range(300):
            model(x)
        out["one_size_300_times"] = heap_mb()["in_use"]
    return {k: round(v, 1) for k, v in out.items()}


def time_jobs(n_sizes: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds for the jobs of n = 1, 8, ..., 7*K inputs in batches of 256, the
    model in pieces vs plain, interleaved per job."""
    torch = _import_torch()

    torch.set_num_threads(1)
    models = {"pieces": _load(False), "plain": _load(True)}
    jobs = list(range(1, 7 * n_sizes + 1, 7))
    inputs = {n: torch.rand(n, 1, 40, 40) for n in jobs}

    def run(model: Any, n: int) -> None:
        for start in range(0, n, 256):
            model(inputs[n][start:start + 256])

    totals: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():  # every shape once: first-use costs are not timed
            for n in jobs:
                run(model, n)
        for _ in range(repeats):
            spent = dict.fromkeys(models, 0.0)
            for n in jobs:
                for name, model in models.items():
                    t0 = time.perf_counter()
                    run(model, n)
                    spent[name] += time.perf_counter() - t0
            for name, s in spent.items():
                totals[name].append(s)
    med = {name: statistics.median(v) for name, v in totals.items()}
    return {"seconds_pieces": round(med["pieces"], 4), "seconds_plain": round(med["plain"], 4),
            "time_ratio_pieces_over_plain": round(med["pieces"] / med["plain"], 3)}


def time_training(steps: int = 40) -> dict[str, float]:
    """Seconds for ``steps`` E3 training steps (batch 256, Adam) after 5 warm-up steps."""
    torch = _import_torch()

    torch.manual_seed(0)
    model = _load(False).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(256, 1, 40, 40)

    def step() -> None:
        loss = ((model(x).recon - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {"seconds": time.perf_counter() - t0}


def _child(args: list[str], env: dict[str, str | None]) -> dict[str, Any]:
    full = {k: v for k, v in os.environ.items() if k != "MKL_DISABLE_FAST_MM"}
    full.update({k: v for k, v in env.items() if v is not None})
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=full, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, default=60, help="distinct batch sizes")
    ap.add_argument("--child", choices=["memory", "time", "train"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if args.child:
        if args.child == "train":
            print(json.dumps(time_training()))
        else:
            fn = measure if args.child == "memory" else time_jobs
            print(json.dumps(fn(args.sizes)))
        return 0
    results = {}
    for name, env in CONFIGS.items():
        r = _child(["--child", "memory", "--sizes", str(args.sizes)], env)
        r["mb_per_new_size"] = round((r["new_sizes"] - r["first_pass"]) / args.sizes, 3)
        results[name] = r
        print(name, r, file=sys.stderr)
    timing = _child(["--child", "time", "--sizes", str(args.sizes)], {})
    train: dict[str, list[float]] = {"mkl_fast_mm_on": [], "mkl_fast_mm_off": []}
    for _ in range(3):  # alternating processes, so drifting machine load hits both
        train["mkl_fast_mm_on"].append(_child(["--child", "train"], {"EEGMI_BENCH_FAST_MM": "1"})["seconds"])
        train["mkl_fast_mm_off"].append(_child(["--child", "train"], {})["seconds"])
    med = {k: statistics.median(v) for k, v in train.items()}
    timing["training_step_seconds"] = {k: round(v / 40, 4) for k, v in med.items()}
    timing["training_time_ratio_fast_mm_off_over_on"] = round(
        med["mkl_fast_mm_off"] / med["mkl_fast_mm_on"], 3)
    print("time", timing, file=sys.stderr)
    print(json.dumps({"benchmark": "shape_caches", "sizes": args.sizes, "results": results,
                      "time": timing}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
