"""The GPU check: eegmi's own code paths on one CUDA device, DEAP-sized, in one command.

``python benchmarks/gpu.py`` (about 5-8 minutes on an H100/H200) measures, on CUDA:

- **data**: a DEAP-sized synthetic recording (``--frames``, default 32 subjects x 40
  trials x 63 s x 128 Hz = 10.3 M frames of 32 float32 electrode values, 1.3 GB),
  generated on the device in 1 M-frame chunks (smooth maps: 6 random patterns mixed by
  random amplitudes, plus noise) and written to a **temporary .npy memmap** (what the
  DEAP folder cache is), so training reads it exactly as it reads a real DEAP set;
- **training**: one epoch of the E3 preset through the real loop
  (:func:`eegmi.training.loop.train`: ``prepare_data``, ``TopomapBatches`` rendering on
  the device, ``train_steps``, validation, checkpoint) with and without mixed precision
  (the preset's ``training.amp``: bf16 autocast, CUDA only), at the preset's batch size
  and at ``--big-batch``; an epoch longer than ``--epoch-budget-s`` is cut there and its
  time extrapolated from the measured seconds per batch (``epoch_complete: false``).
  Achieved TFLOP/s use the FLOPs of the model's own convolution and linear layers,
  counted from their shapes on one batch (training = forward + input-gradient +
  weight-gradient = 3x forward, less the first layer's input gradient, never computed);
- **topomap operator**: frames/s of ``render_torch`` on the device against the CPU
  operator (``TopomapOperator.render``) on the same frames, and their largest difference;
- **interactive**: ``eegmi.inference.Inference`` on the device as the GUI's worker calls
  it (one click = ``forward_values`` of a one-hot mix; a slider = ``decode``), median
  and p95 ms per call, beside the same on CPU;
- **SAE**: activation collection (``eegmi.sae.activations.collect_activations`` over
  ``TopomapBatches``) in frames/s and SAE training (``train_sae``) in vectors/s;
- **checks**: the bundled E3 on a small batch on the device against CPU: largest
  absolute difference of the reconstruction and of the loss, in float32 (TF32
  convolutions are cuDNN's default: tolerance 2e-3 on [0, 1] images, 1e-3 relative on
  the loss) and under bf16 autocast (tolerance 5e-2 and 2e-2 relative).

Without CUDA it prints ``{"skipped": "no CUDA device"}`` and exits 0.  ``--dry-run``
(= ``--device cpu`` with small sizes) runs every code path above on the CPU, for a
machine without a GPU and for the test suite.  The last line printed is one JSON object;
the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_average  # noqa: E402

DEAP_FRAMES = 32 * 40 * 63 * 128  # subjects x trials x seconds x Hz
TRIAL_FRAMES = 63 * 128
TOL = {"recon_fp32": 2e-3, "loss_fp32_rel": 1e-3, "recon_bf16": 5e-2, "loss_bf16_rel": 2e-2}


def _sync(dev: Any) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# -- data ---------------------------------------------------------------------------
def write_recording(folder: Path, n_frames: int, dev: Any, chunk: int = 1 << 20) -> dict[str, Any]:
    """``values.npy`` ``(N, 32)`` float32 memmap, ``subject.npy``, ``trial.npy`` in ``folder``.

    Trials are DEAP's 63 s when there are enough frames for 40 trials, else shorter
    (at least 20 trials, so the split by trial has groups to split)."""
    import torch

    t0 = time.perf_counter()
    values = np.lib.format.open_memmap(folder / "values.npy", mode="w+", dtype=np.float32,
                                       shape=(n_frames, 32))
    gen = torch.Generator(device=dev).manual_seed(0)
    patterns = torch.randn(6, 32, generator=gen, device=dev)
    for start in range(0, n_frames, chunk):
        k = min(chunk, n_frames - start)
        amps = torch.randn(k, 6, generator=gen, device=dev)
        block = amps @ patterns + 0.3 * torch.randn(k, 32, generator=gen, device=dev)
        values[start:start + k] = block.cpu().numpy()
    values.flush()
    del values
    per_trial = TRIAL_FRAMES if n_frames >= 40 * TRIAL_FRAMES else max(8, n_frames // 20)
    trial_id = np.arange(n_frames) // per_trial
    np.save(folder / "subject.npy", (trial_id // 40).astype(np.int16))
    np.save(folder / "trial.npy", (trial_id % 40).astype(np.int32))
    return {"frames": n_frames, "trial_frames": per_trial, "bytes": n_frames * 32 * 4,
            "generated_on": dev.type, "stored_as": "temporary .npy memmap",
            "seconds": time.perf_counter() - t0}


def load_recording(folder: Path) -> Any:
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData

    return EEGData(values=np.load(folder / "values.npy", mmap_mode="r"), ch_names=DEAP_CHANNELS,
                   sfreq=128.0, subject=np.load(folder / "subject.npy"),
                   trial=np.load(folder / "trial.npy"), provenance={"path": str(folder)})


# -- FLOPs --------------------------------------------------------------------------
def layer_flops(model: Any, x: Any) -> dict[str, float]:
    """Forward multiply-add FLOPs (2 per MAC) per frame of every Conv2d, ConvTranspose2d
    and Linear layer, from the shapes one forward pass of ``x (B, ...)`` gives them."""
    import torch
    from torch import nn

    flops: dict[str, float] = {}
    handles = []

    def hook_for(name: str):
        def hook(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
            b = out.shape[0]
            if isinstance(m, nn.Conv2d):
                kh, kw = m.kernel_size
                macs = out.numel() / b * (m.in_channels // m.groups) * kh * kw
            elif isinstance(m, nn.ConvTranspose2d):
                kh, kw = m.kernel_size
                macs = inp[0].numel() / b * (m.out_channels // m.groups) * kh * kw
            else:
                macs = out.numel() / b * m.in_features
            flops[name] = flops.get(name, 0.0) + 2.0 * macs
        return hook

    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            handles.append(m.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return flops


def training_flops_per_frame(model: Any, x: Any) -> dict[str, float]:
    per = layer_flops(model, x)
    forward = sum(per.values())
    first = next(iter(per.values())) if per else 0.0
    # backward = input gradient + weight gradient, each one forward's worth; the first
    # layer's input gradient (the image's) is never computed
    return {"forward": forward, "train": 3.0 * forward - first, "layers": per}


# -- training through the real loop -------------------------------------------------
def time_epoch(data: Any, dev: Any, amp: bool, batch_size: int, budget_s: float,
               tmp: Path, flops_per_frame: float, train_frames: int) -> dict[str, Any]:
    """One epoch of E3 through ``eegmi.training.loop.train`` (cut at ``budget_s``)."""
    from eegmi.training.experiments import load_experiment
    from eegmi.training.loop import train

    exp = copy.deepcopy(load_experiment("E3"))
    exp.training.epochs = 1
    exp.training.amp = amp
    exp.training.batch_size = batch_size
    out = Path(tempfile.mkdtemp(prefix=f"train-{batch_size}-{int(amp)}-", dir=tmp))
    job = train(exp, data, out, device=dev)
    t_start = time.perf_counter()
    stamps: list[tuple[int, float]] = []
    per_epoch = 0
    complete = False
    t_end_train = None
    try:
        for p in job:
            now = time.perf_counter()
            pay = p.payload or {}
            if "batch" in pay:
                stamps.append((int(pay["batch"]), now))
                per_epoch = int(pay["batches"])
                if stamps[-1][0] == per_epoch:
                    t_end_train = now
                elif now - stamps[0][1] > budget_s:
                    break
            elif p.keep:
                complete = True
    finally:
        job.close()  # a cut run leaves no checkpoint (the loop discards it)
    t_done = time.perf_counter()
    if len(stamps) < 2:
        raise RuntimeError(f"an epoch of {per_epoch} batch(es) cannot be timed: use more --frames")
    (b0, t0), (b1, t1) = stamps[0], stamps[-1]
    s_per_batch = (t1 - t0) / (b1 - b0)  # batch 1 (warm-up, cuDNN autotune) left out
    epoch_s = s_per_batch * per_epoch
    res: dict[str, Any] = {
        "train_frames": train_frames, "amp": amp, "amp_effective": bool(amp and dev.type == "cuda"), "batch_size": batch_size,
        "batches_per_epoch": per_epoch, "batches_timed": b1 - b0 + 1,
        "epoch_complete": t_end_train is not None,
        "setup_s": t0 - t_start, "ms_per_batch": 1e3 * s_per_batch,
        "epoch_train_s": epoch_s, "frames_per_s": batch_size / s_per_batch,
        "tflops": flops_per_frame * train_frames / epoch_s / 1e12}
    if t_end_train is not None:
        res["epoch_train_s_measured"] = t_end_train - stamps[0][1] + s_per_batch
        if complete:
            res["validation_test_checkpoint_s"] = t_done - t_end_train
    return res


# -- topomap operator ---------------------------------------------------------------
def topomap_throughput(dev: Any, n_dev: int, n_cpu: int) -> dict[str, Any]:
    import torch

    from eegmi.data.topomap import get_operator

    op = get_operator("biosemi32", 40, "cubic")
    rng = np.random.default_rng(1)
    vals = rng.uniform(0, 1, size=(n_dev, 32)).astype(np.float32)
    chunk = 65536
    t_vals = torch.from_numpy(vals).to(dev)
    op.render_torch(t_vals[:chunk])  # operator matrix onto the device, kernels warm
    _sync(dev)
    reps = []
    for _ in range(3):
        t0 = time.perf_counter()
        for s in range(0, n_dev, chunk):
            op.render_torch(t_vals[s:s + chunk])
        _sync(dev)
        reps.append(time.perf_counter() - t0)
    dev_fps = n_dev / min(reps)
    cpu_vals = vals[:n_cpu]
    op.render(cpu_vals[:1024])
    t0 = time.perf_counter()
    cpu_img = np.concatenate([op.render(cpu_vals[s:s + chunk]) for s in range(0, n_cpu, chunk)])
    cpu_fps = n_cpu / (time.perf_counter() - t0)
    dev_img = op.render_torch(t_vals[:n_cpu]).cpu().numpy()[:, 0]
    return {"device_frames": n_dev, "cpu_frames": n_cpu,
            "device_frames_per_s": dev_fps, "cpu_frames_per_s": cpu_fps,
            "ratio_device_over_cpu": dev_fps / cpu_fps,
            "max_abs_diff_vs_cpu": float(np.abs(dev_img - cpu_img).max())}


# -- interactive latency ------------------------------------------------------------
def _percentiles(ms: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95)),
            "calls": len(ms)}


def click_latency(dev: Any, clicks: int) -> dict[str, Any]:
    from eegmi.data.injection import one_hot
    from eegmi.inference import Inference
    from eegmi.training.checkpoint import load_checkpoint

    inf = Inference(load_checkpoint("E3", device=dev), device=str(dev))
    rng = np.random.default_rng(2)
    n = inf.operator.montage.n_channels

    def forward(i: int) -> None:
        inf.forward_values(one_hot(n, i % n, float(rng.uniform(0.2, 2.0))))

    def decode(_i: int) -> None:
        inf.decode(rng.normal(size=inf.latent_dim).astype(np.float32))

    out: dict[str, Any] = {}
    for name, fn in (("forward_values", forward), ("decode", decode)):
        for i in range(5):
            fn(i)
        ms = []
        for i in range(clicks):
            t0 = time.perf_counter()
            fn(i)  # results come back as numpy: the call is synchronous
            ms.append(1e3 * (time.perf_counter() - t0))
        out[name] = _percentiles(ms)
    return out


# -- SAE ----------------------------------------------------------------------------
def sae_throughput(data: Any, dev: Any, frames: int, steps: int, batch: int) -> dict[str, Any]:
    from eegmi.data.dataset import TopomapBatches
    from eegmi.jobs import run_job
    from eegmi.models.adapter import adapt
    from eegmi.sae.activations import collect_activations
    from eegmi.sae.model import SAEConfig
    from eegmi.sae.train import TrainConfig, train_sae
    from eegmi.training.checkpoint import load_checkpoint

    loaded = load_checkpoint("E3", device=dev)
    adapter = adapt(loaded)
    idx = np.sort(np.random.default_rng(3).choice(data.n_frames, size=frames, replace=False))
    batches = TopomapBatches(data.values, idx, adapter.operator, loaded.scaler, adapter.injection,
                             batch_size=1024, device=dev)
    _sync(dev)
    t0 = time.perf_counter()
    acts = run_job(collect_activations(adapter.model, batches, "enc.act3", "spatial"))
    _sync(dev)
    collect_s = time.perf_counter() - t0
    cfg = SAEConfig(d_in=acts.x.shape[1], n_features=512, kind="topk", k=8)
    tcfg = TrainConfig(steps=steps, batch_size=batch, device=str(dev), report_every=steps)
    run_job(train_sae(acts.x, cfg, TrainConfig(steps=2, batch_size=batch, device=str(dev))))
    _sync(dev)
    t0 = time.perf_counter()
    run_job(train_sae(acts.x, cfg, tcfg))
    _sync(dev)
    train_s = time.perf_counter() - t0
    return {"layer": "enc.act3", "mode": "spatial", "frames": frames, "vectors": int(len(acts.x)),
            "d_in": int(acts.x.shape[1]), "n_features": 512, "k": 8,
            "collect_frames_per_s": frames / collect_s, "train_steps": steps,
            "train_batch": batch, "train_vectors_per_s": steps * batch / train_s}


# -- device against CPU -------------------------------------------------------------
def check_against_cpu(dev: Any, n: int = 256) -> dict[str, Any]:
    import torch

    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint
    from eegmi.training.evaluation import vae_loss

    loaded = load_checkpoint("E3", device="cpu")
    adapter = adapt(loaded)
    vals = torch.from_numpy(np.random.default_rng(4).uniform(0, 1, size=(n, 32)).astype(np.float32))
    model = loaded.model.eval()

    def run(device: Any, amp: bool) -> tuple[np.ndarray, float]:
        model.to(device)
        with torch.no_grad():
            v = vals.to(device)
            target = adapter.operator.render_torch(v)  # made outside autocast, as batches are
            inp = adapter.model_input(v)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(inp)
                loss, _, _ = vae_loss(out, target, None, 1e-6)
        return out.recon.float().cpu().numpy(), float(loss)

    ref_recon, ref_loss = run(torch.device("cpu"), False)
    res: dict[str, Any] = {"frames": n, "tolerances": TOL}
    for tag, amp in (("fp32", False), ("bf16", True)):
        recon, loss = run(dev, amp)
        d_recon = float(np.abs(recon - ref_recon).max())
        d_loss = abs(loss - ref_loss) / abs(ref_loss)
        res[tag] = {"recon_max_abs_diff": d_recon, "loss_rel_diff": d_loss,
                    "ok": d_recon <= TOL[f"recon_{tag}"] and d_loss <= TOL[f"loss_{tag}_rel"]}
    model.to("cpu")
    res["passed"] = bool(res["fp32"]["ok"] and res["bf16"]["ok"])
    return res


# -- main ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--dry-run", action="store_true",
                    help="every code path on the CPU with small sizes (no GPU needed)")
    ap.add_argument("--frames", type=int, help=f"recording frames (default {DEAP_FRAMES}; "
                                               "dry run 8000)")
    ap.add_argument("--batch-size", type=int,
                    help="first training batch size (default: the E3 preset's, 256)")
    ap.add_argument("--big-batch", type=int,
                    help="second training batch size (default 4096, dry run 512; 0: only the "
                         "preset's)")
    ap.add_argument("--epoch-budget-s", type=float,
                    help="cut each timed epoch after this many seconds and extrapolate "
                         "(default 60, dry run 2)")
    ap.add_argument("--clicks", type=int, default=200)
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=("train", "topomap", "click", "sae", "check"))
    args = ap.parse_args(argv)
    import torch

    if args.dry_run:
        args.device = "cpu"
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return 0
    small = dev.type == "cpu"
    n_frames = args.frames or (8_000 if small else DEAP_FRAMES)
    if args.big_batch is None:
        args.big_batch = 512 if small else 4096
    if args.epoch_budget_s is None:
        args.epoch_budget_s = 2.0 if small else 60.0
    result: dict[str, Any] = {"benchmark": "gpu", "device": str(dev),
                              "device_name": (torch.cuda.get_device_name(dev)
                                              if dev.type == "cuda" else "cpu"),
                              "torch": torch.__version__, "load_average": load_average()}
    if dev.type == "cuda":
        result["tf32_conv"] = bool(torch.backends.cudnn.allow_tf32)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eegmi-gpu-") as tmp_name:
        tmp = Path(tmp_name)
        result["data"] = write_recording(tmp, n_frames, dev)
        data = load_recording(tmp)
        if "train" not in args.skip:
            from eegmi.models import build_model
            from eegmi.training.experiments import load_experiment

            model = build_model(load_experiment("E3").model)
            fl = training_flops_per_frame(model, torch.zeros(2, 1, 40, 40))
            result["flops_per_frame"] = {"forward": fl["forward"], "train": fl["train"],
                                         "layers": fl["layers"]}
            from eegmi.data.dataset import split_frames

            d = load_experiment("E3").data
            n_train = len(split_frames(data, by=d.split_by, fractions=tuple(d.fractions),
                                       seed=d.split_seed).train)
            runs = []
            sizes = [args.batch_size or load_experiment("E3").training.batch_size]
            if args.big_batch and args.big_batch not in sizes:
                sizes.append(args.big_batch)
            for bs in sizes:
                for amp in (False, True):
                    runs.append(time_epoch(data, dev, amp, bs, args.epoch_budget_s, tmp,
                                           fl["train"], n_train))
            # the train split (80 % of trials); ``all_frames_flops``: every frame of the set
            result["train_frames_per_epoch"] = runs[0]["train_frames"]
            result["epoch_flops"] = fl["train"] * runs[0]["train_frames"]
            result["all_frames_flops"] = fl["train"] * n_frames
            result["training"] = runs
        if "topomap" not in args.skip:
            result["topomap"] = topomap_throughput(dev, min(n_frames, 4_000_000),
                                                   min(n_frames, 500_000))
        if "click" not in args.skip:
            clicks = 10 if small else args.clicks
            result["click"] = {str(dev): click_latency(dev, clicks)}
            if dev.type == "cuda":
                result["click"]["cpu"] = click_latency(torch.device("cpu"), min(clicks, 50))
        if "sae" not in args.skip:
            result["sae"] = sae_throughput(data, dev, min(n_frames, 500 if small else 100_000),
                                           5 if small else 500, 256 if small else 4096)
        if "check" not in args.skip:
            result["check"] = check_against_cpu(dev, 16 if small else 256)
    result["seconds"] = time.perf_counter() - t_all
    print(json.dumps(result))
    return 0 if result.get("check", {}).get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
