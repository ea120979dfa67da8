"""Native memory kept per input shape by torch's CPU convolutions (what the GUI soak grows by).

A bundled VAE (E3) runs forward passes with batch sizes 1..K (every size new),
then the same sizes again, then one size many times; after each phase the C heap
in use (glibc ``mallinfo2``: allocated and not freed, all arenas) is printed.
Each configuration runs in its own process: oneDNN (mkldnn) as shipped, oneDNN
with its primitive cache off (``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``), and
``torch.backends.mkldnn`` disabled.

Growth in the first phase that does not recur in the second is memory kept per
shape seen (caches keyed by shape), not a leak per call. The soak's jobs take
random sizes (propagation 66-200 inputs, spectra 50-400, SAE 50-400 frames),
so every finished job can bring new shapes.

Usage: ``python benchmarks/shape_caches.py [--sizes 60]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "mkldnn": {},
    "mkldnn_primitive_cache_0": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "0"},
    "no_mkldnn": {"EEGMI_BENCH_NO_MKLDNN": "1"},
}


def measure(n_sizes: int) -> dict[str, float]:
    """Heap in use (MiB) at start, after every new size, after repeating them, after
    one size 300 times."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from _soak_trace import heap_mb

    from eegmi.training.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    if os.environ.get("EEGMI_BENCH_NO_MKLDNN"):
        torch.backends.mkldnn.enabled = False
    model = load_checkpoint("E3").model.eval()
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, default=60, help="distinct batch sizes")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.sizes)))
        return 0
    results = {}
    for name, env in CONFIGS.items():
        proc = subprocess.run([sys.executable, __file__, "--child", "--sizes", str(args.sizes)],
                              capture_output=True, text=True, env={**os.environ, **env},
                              check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["mb_per_new_size"] = round((r["new_sizes"] - r["first_pass"]) / args.sizes, 3)
        results[name] = r
        print(name, r, file=sys.stderr)
    print(json.dumps({"benchmark": "shape_caches", "sizes": args.sizes, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
