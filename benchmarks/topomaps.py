"""Topomap throughput: the cached linear operator versus a per-sample griddata loop.

Measures, in one run and on the same random electrode vectors (biosemi32,
40x40, cubic):

- ``griddata``: ``scipy.interpolate.griddata(method="cubic")`` called per sample
  (the obvious baseline, what the paper's pipeline does);
- ``numpy``: ``TopomapOperator.render`` (one float32 matmul per batch);
- ``torch_cpu``: ``TopomapOperator.render_torch`` on CPU;
- ``torch_cuda``: the same on the GPU when ``torch.cuda.is_available()``.

Prints one JSON object (last line) with images/s for each, the speed-up ratios
over griddata, the operator build time and the max abs difference between the
operator and griddata on the timed samples. ``--quick`` makes a short run.

All CPU paths run on ``--threads`` threads (default 1, set for numpy's BLAS via
threadpoolctl and for torch), so the ratios compare like with like per core:
griddata is single-threaded, and on a shared machine multi-threaded BLAS
timings swing with the load.

Usage: ``python benchmarks/topomaps.py [--quick] [--size 40] [--batch 1024] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.interpolate import griddata
from threadpoolctl import threadpool_limits

from eegmi.data.montage import get_montage
from eegmi.data.topomap import FILL_VALUE, TopomapOperator


def _rate(fn: Callable[[], object], n_images: int, min_time: float) -> float:
    """Images per second of ``fn`` (which renders ``n_images``), best of repeats."""
    fn()  # warm-up (allocations, CUDA context, caches)
    best = float("inf")
    spent = 0.0
    repeats = 0
    while spent < min_time or repeats < 3:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        repeats += 1
    return n_images / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for numpy and torch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        result = run(args)
    print(json.dumps(result))


def run(args: argparse.Namespace) -> dict[str, object]:
    """Time every path; returns the JSON-ready result."""
    n_grid = 10 if args.quick else 100
    min_time = 0.2 if args.quick else 1.0

    montage = get_montage("biosemi32")
    t0 = time.perf_counter()
    op = TopomapOperator(montage, args.size, "cubic")  # uncached: measures the build
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    values = rng.random((args.batch, montage.n_channels)).astype(np.float32)
    xi = (op.grid_x, op.grid_y)

    def grid_loop() -> np.ndarray:
        return np.stack([griddata(op.projected, v, xi, method="cubic", fill_value=FILL_VALUE)
                         for v in values[:n_grid]])

    ref = grid_loop()
    max_err = float(np.max(np.abs(op.render(values[:n_grid]) - ref)))
    result: dict[str, object] = {
        "benchmark": "topomaps",
        "montage": montage.name,
        "size": args.size,
        "method": "cubic",
        "batch": args.batch,
        "quick": args.quick,
        "operator_build_s": round(build_s, 4),
        "max_abs_err_vs_griddata": max_err,
        "threads": args.threads,
    }
    rates: dict[str, float] = {"griddata": _rate(grid_loop, n_grid, min_time)}
    rates["numpy"] = _rate(lambda: op.render(values), args.batch, min_time)
    tv = torch.from_numpy(values)
    with torch.inference_mode():
        rates["torch_cpu"] = _rate(lambda: op.render_torch(tv), args.batch, min_time)
        if torch.cuda.is_available():
            tc = tv.cuda()

            def cuda_render() -> None:
                op.render_torch(tc)
                torch.cuda.synchronize()

            rates["torch_cuda"] = _rate(cuda_render, args.batch, min_time)
            result["cuda_device"] = torch.cuda.get_device_name()
    result["images_per_s"] = {k: round(v, 1) for k, v in rates.items()}
    result["speedup_vs_griddata"] = {
        k: round(v / rates["griddata"], 1) for k, v in rates.items() if k != "griddata"
    }
    return result


if __name__ == "__main__":
    main()
