"""SAE benchmarks: training throughput and gallery-data time.

1. Training throughput (activation vectors per second) of ``eegmi.sae.train_sae``
   (batched, decoder-norm constraint, dead-feature tracking) on CPU and, when
   present, CUDA; baseline: scikit-learn ``MiniBatchDictionaryLearning`` (the
   obvious off-the-shelf sparse dictionary learner) on the same vectors, same
   dictionary size and batch size, on CPU.  Ratio = ours / baseline.
2. Gallery data (``eegmi.sae.features.feature_gallery``: frequency, mean,
   selectivity, top-k frames, histograms, top-frame maps) for every feature of a
   per-position SAE on ``enc.act3`` of a paper-size (32, 64, 128 filters)
   untrained VAE over 100 000 topomap frames (random electrode values through the
   cubic operator); baseline: the model's plain forward pass over the same frames.
   Ratio = gallery time / forward time (the streaming statistics' overhead).

``--quick`` shrinks everything for a smoke run.  Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    # planted sparse structure (like real post-ReLU channel vectors): non-negative, sparse mixtures
    from eegmi.sae.synthetic import planted_features

    x, _ = planted_features(n_samples=n, d=d, n_features=4 * d, active=6.0, seed=seed)
    return np.maximum(x, 0.0)


def bench_train(x: np.ndarray, n_features: int, steps: int, batch: int, device: str) -> float:
    from eegmi.jobs import run_job
    from eegmi.sae import SAEConfig, TrainConfig, train_sae

    cfg = SAEConfig(d_in=x.shape[1], n_features=n_features, kind="l1")
    # warm-up (allocations, CUDA context) outside the timing
    run_job(train_sae(x[:4096], cfg, TrainConfig(steps=5, batch_size=batch, device=device)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run_job(train_sae(x, cfg, TrainConfig(steps=steps, batch_size=batch, device=device, report_every=50)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def bench_sklearn(x: np.ndarray, n_features: int, n_batches: int, batch: int) -> float:
    from sklearn.decomposition import MiniBatchDictionaryLearning

    sub = x[: n_batches * batch].astype(np.float64)
    dl = MiniBatchDictionaryLearning(n_components=n_features, batch_size=batch, max_iter=1,
                                     alpha=0.1, random_state=0, fit_algorithm="cd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        dl.fit(sub)
        dt = time.perf_counter() - t0
    return len(sub) / dt


def bench_gallery(n_frames: int, n_features: int, batch: int, device: str) -> dict[str, float]:
    from eegmi.data.topomap import get_operator
    from eegmi.models import ConvVAE, ModelConfig
    from eegmi.sae import SAEConfig, SparseAutoencoder
    from eegmi.sae.features import feature_gallery

    torch.manual_seed(0)
    model = ConvVAE(ModelConfig(kind="vae")).to(device).eval()
    sae = SparseAutoencoder(SAEConfig(d_in=128, n_features=n_features, kind="topk", k=16),
                            generator=torch.Generator().manual_seed(0)).to(device).eval()
    op = get_operator("biosemi32", 40, "cubic")
    gen = torch.Generator().manual_seed(0)
    values = torch.rand((n_frames, 32), generator=gen)

    def batches():
        for i in range(0, n_frames, batch):
            yield op.render_torch(values[i: i + batch].to(device))

    from eegmi.jobs import run_job

    with torch.no_grad():  # baseline: forward pass only
        t0 = time.perf_counter()
        for b in batches():
            model(b)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    gal = run_job(feature_gallery(model, sae, batches(), "enc.act3", "spatial",
                                  max_frames=n_frames, top_k=16))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t_gal = time.perf_counter() - t0
    assert gal.n_frames == n_frames
    return {"frames": n_frames, "features": n_features, "gallery_s": t_gal, "forward_only_s": t_fwd,
            "gallery_over_forward": t_gal / t_fwd}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run")
    args = ap.parse_args()
    q = args.quick
    # quick: a smaller layer and dictionary; full: enc.act3's 128 channels, 8x dictionary
    d, n_features, batch = (64, 256, 256) if q else (128, 1024, 1024)
    steps = 20 if q else 200
    x = _vectors(20_000 if q else 200_000, d)
    out: dict[str, object] = {"quick": q, "d": d, "n_features": n_features, "batch": batch,
                              "torch_threads": torch.get_num_threads()}
    ours_cpu = bench_train(x, n_features, steps, batch, "cpu")
    base = bench_sklearn(x, n_features, 1 if q else 2, 256 if q else 512)
    out["train_vectors_per_s_cpu"] = ours_cpu
    out["sklearn_minibatch_dl_vectors_per_s"] = base
    out["train_speedup_vs_sklearn_cpu"] = ours_cpu / base
    if torch.cuda.is_available():
        ours_gpu = bench_train(x, n_features, steps * 5, batch, "cuda")
        out["train_vectors_per_s_cuda"] = ours_gpu
        out["train_speedup_vs_sklearn_cuda"] = ours_gpu / base
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    out["gallery"] = {"device": dev, **bench_gallery(1_000 if q else 100_000, n_features, 500, dev)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
