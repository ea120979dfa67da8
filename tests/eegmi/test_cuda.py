"""CUDA paths against CPU: inference, one training step, SAE training, the topomap operator.

Run wherever CUDA exists, skipped elsewhere.  Tolerances: cuDNN convolutions use TF32
by default (10-bit mantissa, ~1e-3 relative), so model outputs are compared at 2e-3
absolute on [0, 1] images; the topomap operator is a float32 matmul (no TF32 for
matmuls by default in torch) and is compared at 1e-5.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MODEL_TOL = 2e-3


def _values(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 32)).astype(np.float32)


def test_inference_on_cuda_equals_cpu() -> None:
    from eegmi.data.injection import one_hot
    from eegmi.inference import Inference
    from eegmi.training.checkpoint import load_checkpoint

    cpu = Inference(load_checkpoint("E3", device="cpu"), device="cpu")
    gpu = Inference(load_checkpoint("E3", device="cuda"), device="cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    for values in (one_hot(32, 5, 1.5), _values(1, 1)[0]):
        a, b = cpu.forward_values(values), gpu.forward_values(values)
        np.testing.assert_allclose(b.image, a.image, atol=1e-5)
        np.testing.assert_allclose(b.recon, a.recon, atol=MODEL_TOL)
        np.testing.assert_allclose(b.mu, a.mu, atol=MODEL_TOL * 10, rtol=MODEL_TOL)
        assert set(b.activations) == set(a.activations)
    z = np.random.default_rng(2).normal(size=cpu.latent_dim).astype(np.float32)
    np.testing.assert_allclose(gpu.decode(z).recon, cpu.decode(z).recon, atol=MODEL_TOL)


def test_cuda_convolutions_run_whole_eval_batches(monkeypatch) -> None:
    """The power-of-two pieces (eegmi.models.batch_buckets) are for oneDNN on the CPU;
    on CUDA a batch of 37 reaches cuDNN whole."""
    import torch.nn.modules.conv as conv_module

    from eegmi.models import ModelConfig, build_model

    seen: list[int] = []
    original = conv_module.F.conv2d

    def record(x, *args, **kw):
        seen.append(int(x.shape[0]))
        return original(x, *args, **kw)

    monkeypatch.setattr(conv_module.F, "conv2d", record)
    model = build_model(ModelConfig(filters=(4, 8, 8))).eval().cuda()
    with torch.no_grad():
        model(torch.rand(37, 1, 40, 40, device="cuda"))
    assert seen == [37, 37, 37]


def test_one_training_step_on_cuda_matches_cpu(monkeypatch) -> None:
    from eegmi.data.dataset import TopomapBatches
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import get_operator
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.steps import train_epoch

    values = _values(64)
    op = get_operator("biosemi32", 40, "cubic")
    scaler = ClipScaler.fit(values)
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", latent_dim=32))
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # the VAE's sampling noise comes from each device's own generator: z = mu here, so
    # both devices take the same step
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    losses, steps = {}, {}
    for dev in ("cpu", "cuda"):
        m = copy.deepcopy(model).to(dev)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1.0)
        batches = TopomapBatches(values, np.arange(64), op, scaler, None, batch_size=64,
                                 device=dev)
        losses[dev] = train_epoch(m, batches, opt, None, 1e-6)
        assert next(m.parameters()).device.type == dev
        steps[dev] = torch.cat([(v.detach().cpu() - start[k]).reshape(-1)
                                for k, v in m.state_dict().items()])
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-3)
    assert float(steps["cpu"].norm()) > 0
    cos = float(torch.nn.functional.cosine_similarity(steps["cuda"], steps["cpu"], dim=0))
    assert cos > 0.99
    # bf16 autocast (the preset's ``amp``) on CUDA: a finite loss, float32 weights
    m = copy.deepcopy(model).cuda()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    amp_loss = train_epoch(m, TopomapBatches(values, np.arange(64), op, scaler, None,
                                             batch_size=64, device="cuda"),
                           opt, None, 1e-6, amp=True)
    assert amp_loss == pytest.approx(losses["cpu"], rel=5e-2)
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_sae_training_on_cuda_recovers_planted_features() -> None:
    from eegmi.sae.model import SAEConfig
    from eegmi.sae.synthetic import planted_features, recovery_score
    from eegmi.sae.train import TrainConfig, train_sae

    x, true = planted_features(n_samples=4096)
    cfg = SAEConfig(d_in=32, n_features=128, kind="l1", l1=0.05)
    tcfg = TrainConfig(steps=600, batch_size=256, lr=5e-3, seed=0, dead_steps=100,
                       resample_every=50, report_every=50, device="cuda")
    job = train_sae(x, cfg, tcfg)
    while True:
        try:
            next(job)
        except StopIteration as stop:
            result = stop.value
            break
    assert next(result.sae.parameters()).device.type == "cpu"  # handed back on CPU
    assert recovery_score(result.sae.decoder_directions.numpy(), true) >= 0.9


def test_topomap_operator_on_cuda_equals_cpu() -> None:
    from eegmi.data.topomap import get_operator

    values = _values(4096, 3)
    for method in ("cubic", "linear"):
        op = get_operator("biosemi32", 40, method)
        got = op.render_torch(torch.from_numpy(values).cuda())
        assert got.device.type == "cuda" and got.shape == (4096, 1, 40, 40)
        np.testing.assert_allclose(got.cpu().numpy()[:, 0], op.render(values), atol=1e-5)
