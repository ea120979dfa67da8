"""One-hot propagation sweep: batched ``run_with_cache`` versus a forward pass per input.

Measures, in one run on the same model and inputs (a paper-sized ConvVAE: 40x40
biosemi32 cubic topomaps, filters 32/64/128, 32 latents, random weights, every hook
point cached):

- ``batched``: the zero input plus all 32 one-hots x all amplitudes through
  ``eegmi.analysis.propagation.forward_cache`` in one batch (what ``propagation`` does);
- ``per_input``: the obvious baseline, one ``run_with_cache`` call per electrode per
  amplitude (and one for the zero input);
- ``analysis``: the whole ``propagation`` job (batched forward plus selectivity,
  counts, sweep norms) for reference.

Prints one JSON object (last line) with the seconds of each (best of repeats), the
speed-up ``ratio`` = per_input / batched, and the max abs difference between the two
caches (they must agree).  ``--quick`` sweeps 2 amplitudes instead of 8.

Usage: ``python benchmarks/analysis_propagation.py [--quick] [--threads 1] [--device cpu]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from eegmi.analysis.propagation import InputPipeline, forward_cache, one_hot_batch, propagation
from eegmi.data.topomap import get_operator
from eegmi.jobs import run_job
from eegmi.models import ConvVAE, ModelConfig


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(quick: bool, threads: int = 1, device: str = "cpu") -> dict[str, Any]:
    """Time the batched sweep against the per-input loop; returns the JSON-able figures."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    op = get_operator("biosemi32", size=40, method="cubic")
    model = ConvVAE(ModelConfig(kind="vae")).to(device).eval()
    pipe = InputPipeline("vae", op)
    amplitudes = [0.5, 1.0] if quick else [0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0]
    names = model.hook_names()
    rows = one_hot_batch(op.montage.n_channels, amplitudes)
    repeats = 2 if quick else 5

    def batched() -> dict[str, np.ndarray]:
        return run_job(forward_cache(model, pipe, rows, names, batch_size=len(rows)))

    def per_input() -> dict[str, np.ndarray]:
        chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
        with torch.no_grad():
            for row in rows:
                x = pipe.model_input(torch.as_tensor(row[None]).to(device))
                _, cache = model.run_with_cache(x, names)
                for n in names:
                    chunks[n].append(cache[n].float().cpu().numpy())
        return {n: np.concatenate(v) for n, v in chunks.items()}

    t_batch, a = _best(batched, repeats)
    t_loop, b = _best(per_input, repeats)
    t_full, _ = _best(lambda: run_job(propagation(model, pipe, amplitudes, batch_size=len(rows))),
                      repeats)
    diff = max(float(np.abs(a[n] - b[n]).max()) for n in names)
    return {
        "benchmark": "analysis_propagation",
        "quick": quick,
        "device": device,
        "threads": threads,
        "inputs": int(len(rows)),
        "amplitudes": amplitudes,
        "hook_points": len(names),
        "batched_s": t_batch,
        "per_input_s": t_loop,
        "analysis_s": t_full,
        "ratio": t_loop / t_batch,
        "max_abs_diff": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (2 amplitudes)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.threads, args.device)))


if __name__ == "__main__":
    main()
