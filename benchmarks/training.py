"""Training throughput: our loop (electrode vectors rendered per batch on the device)
against a baseline loop over pre-rendered images, plus the memory either layout needs
for a DEAP-sized dataset.

Run ``python benchmarks/training.py [--quick]``; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from types import SimpleNamespace

import numpy as np
import torch

from eegmi.data.dataset import TopomapBatches
from eegmi.data.preprocess import ClipScaler
from eegmi.data.topomap import get_operator
from eegmi.models import ModelConfig, build_model
from eegmi.training.steps import train_epoch

DEAP_FRAMES = 32 * 40 * 63 * 128  # subjects x trials x seconds x Hz = 10.3M frames


def _frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(6, 32))
    amps = np.cumsum(rng.normal(size=(n, 6)), axis=0) * 0.1
    return (amps @ patterns + 0.3 * rng.normal(size=(n, 32))).astype(np.float32)


def _model(device: torch.device, seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind="vae", latent_dim=32)).to(device)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0)


def _baseline_batches(images: torch.Tensor, batch_size: int, seed: int):
    """The straightforward loop: slice a pre-rendered image tensor in shuffled order."""
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(images)))
    for start in range(0, len(images), batch_size):
        img = images[order[start:start + batch_size]]
        yield SimpleNamespace(values=None, images=img, target=img)


def bench(device: torch.device, n: int, batch_size: int, epochs: int) -> dict[str, float]:
    values = _frames(n)
    op = get_operator("biosemi32", 40, "cubic")
    scaler = ClipScaler.fit(values)
    idx = np.arange(n)
    # baseline: render all images up front (what a loader of stored images would hold)
    t0 = time.perf_counter()
    with torch.no_grad():
        pre = op.render_torch(scaler.transform(torch.from_numpy(values)).float()).to(device)
    prerender_s = time.perf_counter() - t0

    def run(make_batches) -> float:
        model, opt = _model(device)
        train_epoch(model, make_batches(0), opt, None, 1e-6)  # warm-up pass, not timed
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for e in range(epochs):
            train_epoch(model, make_batches(e + 1), opt, None, 1e-6)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n * epochs / (time.perf_counter() - t)

    ours = run(lambda e: TopomapBatches(values, idx, op, scaler, None, batch_size=batch_size,
                                        shuffle=True, seed=e, device=device))
    base = run(lambda e: _baseline_batches(pre, batch_size, e))
    return {"ours_samples_per_s": ours, "baseline_samples_per_s": base,
            "ratio_ours_over_baseline": ours / base, "baseline_prerender_s": prerender_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small run (1024 frames, 1 epoch)")
    args = ap.parse_args()
    n, epochs = (1024, 1) if args.quick else (8192, 2)
    batch_size = 256
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    result: dict[str, object] = {"frames": n, "epochs": epochs, "batch_size": batch_size,
                                 "threads": torch.get_num_threads()}
    result["cpu"] = bench(torch.device("cpu"), n, batch_size, epochs)
    if torch.cuda.is_available():
        result["cuda"] = bench(torch.device("cuda"), n * 4, batch_size, epochs)
    vec_bytes = DEAP_FRAMES * 32 * 4
    img_bytes = DEAP_FRAMES * 40 * 40 * 4
    result["deap_memory"] = {"frames": DEAP_FRAMES, "electrode_vectors_gb": vec_bytes / 1e9,
                             "images_40x40_gb": img_bytes / 1e9,
                             "ratio_images_over_vectors": img_bytes / vec_bytes}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
