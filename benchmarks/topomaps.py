"""Topomap throughput: the cached linear operator versus what a user of scipy would write.

Measures, in one run, interleaved round by round, on the same random electrode
vectors (biosemi32, 40x40, cubic):

- ``griddata``: ``scipy.interpolate.griddata(method="cubic")`` called per sample
  (the obvious baseline, what the paper's pipeline does);
- ``clough_tocher_batch``: the competent baseline: the Delaunay triangulation
  built once, then one ``CloughTocher2DInterpolator`` per batch with the batch's
  samples as value columns, evaluated on the grid once (the same interpolant as
  griddata cubic; its gradient estimate depends on the values, so it is rebuilt
  per batch);
- ``numpy``: ``TopomapOperator.render`` (one float32 matmul per batch);
- ``torch_cpu``: ``TopomapOperator.render_torch`` on CPU;
- ``torch_cuda``: the same on the GPU when ``torch.cuda.is_available()``.

Prints the load average and one JSON object (last line) with images/s (from the
min and the median round) for each, the speed-up ratios over both baselines,
the operator build time and the max abs difference between the operator and
griddata on the timed samples. ``--quick`` makes a short run.

All CPU paths run on ``--threads`` threads (default 1, set for numpy's BLAS via
threadpoolctl and for torch), so the ratios compare like with like per core:
griddata is single-threaded, and on a shared machine multi-threaded BLAS
timings swing with the load.

Usage: ``python benchmarks/topomaps.py [--quick] [--size 40] [--batch 1024] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CloughTocher2DInterpolator, griddata
from scipy.spatial import Delaunay
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, load_average  # noqa: E402

from eegmi.data.montage import get_montage  # noqa: E402
from eegmi.data.topomap import FILL_VALUE, TopomapOperator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for numpy and torch")
    args = parser.parse_args()
    print("load average:", load_average(), file=sys.stderr)
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        result = run(args)
    print(json.dumps(result))


def run(args: argparse.Namespace) -> dict[str, object]:
    """Time every path, interleaved; returns the JSON-ready result."""
    n_grid = 10 if args.quick else 50
    rounds = 3 if args.quick else 7

    montage = get_montage("biosemi32")
    t0 = time.perf_counter()
    op = TopomapOperator(montage, args.size, "cubic")  # uncached: measures the build
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    values = rng.random((args.batch, montage.n_channels)).astype(np.float32)
    xi = (op.grid_x, op.grid_y)
    pixels = np.column_stack([op.grid_x.ravel(), op.grid_y.ravel()])
    tri = Delaunay(op.projected)  # built once, as a careful user would

    def grid_loop() -> np.ndarray:
        return np.stack([griddata(op.projected, v, xi, method="cubic", fill_value=FILL_VALUE)
                         for v in values[:n_grid]])

    def clough_tocher_batch() -> np.ndarray:
        interp = CloughTocher2DInterpolator(tri, values.T, fill_value=FILL_VALUE)
        return interp(pixels).T.reshape(len(values), *op.grid_x.shape)

    ref = grid_loop()
    max_err = float(np.max(np.abs(op.render(values[:n_grid]) - ref)))
    ct_err = float(np.max(np.abs(clough_tocher_batch()[:n_grid] - ref)))
    result: dict[str, object] = {
        "benchmark": "topomaps",
        "load_average": load_average(),
        "montage": montage.name,
        "size": args.size,
        "method": "cubic",
        "batch": args.batch,
        "quick": args.quick,
        "rounds": rounds,
        "operator_build_s": round(build_s, 4),
        "max_abs_err_vs_griddata": max_err,
        "clough_tocher_batch_max_abs_err_vs_griddata": ct_err,
        "threads": args.threads,
    }
    tv = torch.from_numpy(values)
    fns = {"griddata": grid_loop, "clough_tocher_batch": clough_tocher_batch,
           "numpy": lambda: op.render(values)}
    n_images = {"griddata": n_grid}

    def torch_cpu() -> None:
        with torch.inference_mode():
            op.render_torch(tv)

    fns["torch_cpu"] = torch_cpu
    if torch.cuda.is_available():
        tc = tv.cuda()

        def cuda_render() -> None:
            with torch.inference_mode():
                op.render_torch(tc)
            torch.cuda.synchronize()

        fns["torch_cuda"] = cuda_render
        result["cuda_device"] = torch.cuda.get_device_name()
    times = interleaved(fns, rounds)
    rates = {k: {"min": n_images.get(k, args.batch) / t["min_s"],
                 "median": n_images.get(k, args.batch) / t["median_s"]} for k, t in times.items()}
    result["images_per_s"] = {k: {q: round(r, 1) for q, r in v.items()} for k, v in rates.items()}
    for base in ("griddata", "clough_tocher_batch"):
        result[f"speedup_vs_{base}"] = {
            k: {q: round(v[q] / rates[base][q], 1) for q in ("min", "median")}
            for k, v in rates.items() if k not in ("griddata", base)}
    result["load_average_end"] = load_average()
    return result


if __name__ == "__main__":
    main()
