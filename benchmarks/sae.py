"""SAE benchmarks: training throughput and gallery-data time.

1. Training throughput (activation vectors per second) of ``eegmi.sae.train_sae``
   (batched, decoder-norm constraint, dead-feature tracking, progress) on CPU and,
   when present, CUDA; baseline: a minimal hand-written torch loop of the same
   architecture (:func:`handwritten_sae`), same steps, batch and dictionary size.
   The two whole calls (setup included) alternate round by round in one run;
   ratio = baseline time / ours (> 1: eegmi is faster), on the min and the median.
2. Gallery data (``eegmi.sae.features.feature_gallery``: frequency, mean,
   selectivity, top-k frames, histograms, top-frame maps) for every feature of a
   per-position TopK SAE (1024 features, k=16) on ``enc.act3`` of a paper-size
   (32, 64, 128 filters) untrained VAE over 10 000 topomap frames (random
   electrode values through the cubic operator), interleaved with three baselines
   over the same pre-rendered frames: a plain forward pass to that layer (the
   encoder's first three blocks, as a user would write it), the same plus the
   SAE's encoder (the least any gallery must compute), and the whole model.
   Ratios = gallery time / baseline time.

``--quick`` shrinks everything for a smoke run.  Prints the load average and one
JSON object last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, load_average, ratio  # noqa: E402


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    # planted sparse structure (like real post-ReLU channel vectors): non-negative, sparse mixtures
    from eegmi.sae.synthetic import planted_features

    x, _ = planted_features(n_samples=n, d=d, n_features=4 * d, active=6.0, seed=seed)
    return np.maximum(x, 0.0)


def handwritten_sae(x: np.ndarray, n_features: int, steps: int, batch: int, device: str,
                    l1: float = 0.02, lr: float = 3e-3, seed: int = 0) -> torch.nn.Module:
    """The baseline: the minimal torch SAE loop a competent user writes, same architecture.

    Tied pre-encoder bias, ReLU encoder, unit-norm decoder columns renormalised after
    every Adam step, MSE + decoder-norm-weighted L1, inputs scaled once to E||x||^2 = d.
    No dead-feature tracking, no progress, no gradient projection.
    """
    gen = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(x).to(device)
    data = data / data.pow(2).sum(-1).mean().div(x.shape[1]).sqrt()
    d = x.shape[1]
    w = torch.randn(d, n_features, generator=gen)
    w_dec = (w / w.norm(dim=0, keepdim=True)).to(device).requires_grad_()
    w_enc = w_dec.detach().t().clone().requires_grad_()
    b_enc = torch.zeros(n_features, device=device, requires_grad=True)
    b_dec = data[:8192].mean(0).clone().requires_grad_()
    opt = torch.optim.Adam([w_dec, w_enc, b_enc, b_dec], lr=lr)
    for _ in range(steps):
        xb = data[torch.randint(0, len(data), (batch,), generator=gen).to(device)]
        f = torch.relu((xb - b_dec) @ w_enc.t() + b_enc)
        x_hat = f @ w_dec.t() + b_dec
        loss = (x_hat - xb).pow(2).mean() + l1 * (f * w_dec.norm(dim=0)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            w_dec /= w_dec.norm(dim=0, keepdim=True)
    return torch.nn.ParameterList([w_dec, w_enc, b_enc, b_dec])


def bench_train(x: np.ndarray, n_features: int, steps: int, batch: int, device: str,
                rounds: int) -> dict[str, object]:
    """eegmi's ``train_sae`` against :func:`handwritten_sae`, interleaved, whole calls timed."""
    from eegmi.jobs import run_job
    from eegmi.sae import SAEConfig, TrainConfig, train_sae

    cfg = SAEConfig(d_in=x.shape[1], n_features=n_features, kind="l1")

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def ours() -> None:
        run_job(train_sae(x, cfg, TrainConfig(steps=steps, batch_size=batch, device=device,
                                              report_every=50)))
        sync()

    def base() -> None:
        handwritten_sae(x, n_features, steps, batch, device)
        sync()

    times = interleaved({"eegmi": ours, "handwritten": base}, rounds)
    per_s = {k: {"min": steps * batch / t["min_s"], "median": steps * batch / t["median_s"]}
             for k, t in times.items()}
    return {"steps": steps, "rounds": rounds, "vectors_per_s": per_s,
            "speedup_vs_handwritten": ratio(times["handwritten"], times["eegmi"])}


def bench_gallery(n_frames: int, n_features: int, batch: int, device: str,
                  rounds: int) -> dict[str, object]:
    """Gallery data against forward passes over the same frames, interleaved."""
    from eegmi.data.topomap import get_operator
    from eegmi.jobs import run_job
    from eegmi.models import ConvVAE, ModelConfig
    from eegmi.sae import SAEConfig, SparseAutoencoder
    from eegmi.sae.activations import to_vectors
    from eegmi.sae.features import feature_gallery

    torch.manual_seed(0)
    model = ConvVAE(ModelConfig(kind="vae")).to(device).eval()
    sae = SparseAutoencoder(SAEConfig(d_in=128, n_features=n_features, kind="topk", k=16),
                            generator=torch.Generator().manual_seed(0)).to(device).eval()
    op = get_operator("biosemi32", 40, "cubic")
    gen = torch.Generator().manual_seed(0)
    values = torch.rand((n_frames, 32), generator=gen)
    images = [op.render_torch(values[i: i + batch].to(device)) for i in range(0, n_frames, batch)]

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def to_layer(x: torch.Tensor) -> torch.Tensor:
        # what a user writes to reach enc.act3: the encoder's first three blocks
        for k in (1, 2, 3):
            x = getattr(model, f"act{k}")(getattr(model, f"conv{k}")(x))
        return x

    @torch.no_grad()
    def forward_to_layer() -> None:
        for x in images:
            to_layer(x)
        sync()

    @torch.no_grad()
    def full_forward() -> None:
        for x in images:
            model(x)
        sync()

    @torch.no_grad()
    def to_layer_and_encode() -> None:
        for x in images:
            sae.encode(to_vectors(to_layer(x), "spatial"))
        sync()

    def gallery() -> None:
        gal = run_job(feature_gallery(model, sae, iter(images), "enc.act3", "spatial",
                                      max_frames=n_frames, top_k=16))
        sync()
        assert gal.n_frames == n_frames

    times = interleaved({"gallery": gallery, "forward_to_layer": forward_to_layer,
                         "forward_to_layer_and_sae_encode": to_layer_and_encode,
                         "full_forward": full_forward}, rounds)
    return {"frames": n_frames, "features": n_features, "rounds": rounds,
            "seconds": {k: {"min": t["min_s"], "median": t["median_s"]} for k, t in times.items()},
            "gallery_over_forward_to_layer": ratio(times["gallery"], times["forward_to_layer"]),
            "gallery_over_forward_to_layer_and_sae_encode":
                ratio(times["gallery"], times["forward_to_layer_and_sae_encode"]),
            "gallery_over_full_forward": ratio(times["gallery"], times["full_forward"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for both sides (default 1: steady on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    # quick: a smaller layer and dictionary; full: enc.act3's 128 channels, 8x dictionary
    d, n_features, batch = (64, 256, 256) if q else (128, 1024, 1024)
    steps = 30 if q else 100
    x = _vectors(20_000 if q else 200_000, d)
    print("load average:", load_average(), file=sys.stderr)
    out: dict[str, object] = {"quick": q, "d": d, "n_features": n_features, "batch": batch,
                              "torch_threads": torch.get_num_threads(),
                              "load_average": load_average()}
    out["train_cpu"] = bench_train(x, n_features, steps, batch, "cpu", 3 if q else 5)
    if torch.cuda.is_available():
        out["train_cuda"] = bench_train(x, n_features, steps * 5, batch, "cuda", 5)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    out["gallery"] = {"device": dev, **bench_gallery(1_000 if q else 10_000, n_features, 500, dev,
                                                     2 if q else 3)}
    out["load_average_end"] = load_average()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
