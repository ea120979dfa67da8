"""SAE core: architecture invariants, planted-feature recovery, filtering, metrics, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegmi.errors import CheckpointError, ConfigError, DataError
from eegmi.jobs import CancelToken, run_job
from eegmi.sae.filtering import filter_activations, parse_filter
from eegmi.sae.io import load_sae, save_sae
from eegmi.sae.metrics import sae_metrics
from eegmi.sae.model import SAEConfig, SparseAutoencoder
from eegmi.sae.synthetic import planted_features, recovery_score
from eegmi.sae.train import TrainConfig, train_sae


@pytest.fixture(scope="module")
def planted():
    return planted_features(n_samples=6000, d=32, n_features=64, active=3.0, seed=1)


def test_tied_bias_and_unit_decoder_after_training(planted):
    x, _ = planted
    res = run_job(train_sae(x, SAEConfig(32, 64, l1=0.05), TrainConfig(steps=30, report_every=10)))
    sae = res.sae
    norms = sae.W_dec.detach().norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    # b_d is subtracted before encoding and added after decoding: an all-zero code decodes to s*b_d
    zero = sae.decode(torch.zeros(1, 64))
    assert torch.allclose(zero[0], sae.b_dec.detach() * sae.scale, atol=1e-6)
    shifted = torch.from_numpy(x[:4])
    assert torch.allclose(sae.pre_activations(shifted),
                          (shifted / sae.scale - sae.b_dec) @ sae.W_enc.t() + sae.b_enc)
    assert [r["step"] for r in res.history] == [10.0, 20.0, 30.0]


def test_gradient_projection_removes_parallel_component():
    sae = SparseAutoencoder(SAEConfig(8, 16), generator=torch.Generator().manual_seed(0))
    x = torch.randn(32, 8)
    loss, _ = sae.loss(x)
    loss.backward()
    sae.remove_parallel_gradient()
    parallel = (sae.W_dec * sae.W_dec.grad).sum(0)
    assert parallel.abs().max() < 1e-6


@pytest.mark.parametrize("kind, decoder_norm", [("l1", True), ("l1", False), ("topk", True)])
def test_loss_and_gradients_match_the_per_sample_formula(kind, decoder_norm):
    # the loss sums features over the batch before weighting them; it must equal, with
    # the same gradients, the batch mean of each sample's weighted L1
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(8, 24, kind=kind, k=4, l1=0.3, l1_decoder_norm=decoder_norm),
                            generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(24) + 0.5)  # columns off unit norm, so the weighting matters
        sae.scale.fill_(2.0)
        sae.b_enc.add_(0.2)
    x = torch.randn(16, 8)
    loss, parts = sae.loss(x)
    grads = torch.autograd.grad(loss, list(sae.parameters()))
    f = sae.encode(x)
    w = sae.W_dec.norm(dim=0) if decoder_norm and kind == "l1" else torch.ones(24)
    l1 = (f * w).sum(-1).mean()
    ref = ((x - sae.decode(f)) / sae.scale).pow(2).mean() + (0.3 * l1 if kind == "l1" else 0.0)
    ref_grads = torch.autograd.grad(ref, list(sae.parameters()))
    assert torch.allclose(loss, ref, atol=1e-6)
    assert torch.allclose(parts["l1"], l1.detach(), atol=1e-6)
    assert torch.equal(parts["f_sum"] > 0, (f > 0).any(0))
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.allclose(g, r, atol=1e-6)


@pytest.mark.parametrize("kind,kw", [("l1", {"l1": 0.05}), ("topk", {"k": 4})])
def test_recovers_planted_features(planted, kind, kw):
    x, dirs = planted
    cfg = SAEConfig(d_in=32, n_features=128, kind=kind, **kw)
    res = run_job(train_sae(x, cfg, TrainConfig(steps=600, batch_size=256, lr=5e-3, seed=0,
                                                dead_steps=100, resample_every=50)))
    score = recovery_score(res.sae.decoder_directions.numpy(), dirs)
    assert score >= 0.9, score
    m = sae_metrics(res.sae, x)
    assert m["fve"] > 0.7
    if kind == "topk":
        assert m["l0"] <= 4.0 + 1e-9
    # random directions are far from the planted ones: the score is a real test
    rnd = np.random.default_rng(5).standard_normal((128, 32))
    assert recovery_score(rnd, dirs) < 0.8


def test_training_is_deterministic(planted):
    x, _ = planted
    runs = [run_job(train_sae(x[:1000], SAEConfig(32, 48, kind="topk", k=3), TrainConfig(steps=20, seed=3)))
            for _ in range(2)]
    assert torch.equal(runs[0].sae.W_dec, runs[1].sae.W_dec)
    other = run_job(train_sae(x[:1000], SAEConfig(32, 48, kind="topk", k=3), TrainConfig(steps=20, seed=4)))
    assert not torch.equal(runs[0].sae.W_dec, other.sae.W_dec)


def test_dead_features_are_resampled():
    # inputs live in 2 dimensions: most of the 32 features never fire at first
    rng = np.random.default_rng(0)
    x = np.zeros((2000, 8), np.float32)
    x[:, :2] = rng.random((2000, 2))
    res = run_job(train_sae(x, SAEConfig(8, 32, kind="topk", k=1),
                            TrainConfig(steps=60, dead_steps=10, resample_every=20, seed=0)))
    assert res.resampled > 0


def test_cancel_stops_training(planted):
    x, _ = planted
    token = CancelToken()
    job = train_sae(x, SAEConfig(32, 64), TrainConfig(steps=1000, report_every=1), cancel=token)
    next(job)
    token.cancel()
    from eegmi.errors import Cancelled
    with pytest.raises(Cancelled):
        next(job)


def test_bad_activations_rejected():
    x = np.ones((10, 4), np.float32)
    x[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        run_job(train_sae(x, SAEConfig(4, 8)))
    with pytest.raises(DataError, match="width 4 does not match"):
        run_job(train_sae(np.ones((10, 4), np.float32), SAEConfig(5, 8)))
    with pytest.raises(ConfigError):
        SAEConfig(4, 8, kind="topk", k=9)


def test_metrics_definitions():
    sae = SparseAutoencoder(SAEConfig(4, 6, kind="topk", k=2), generator=torch.Generator().manual_seed(0))
    x = np.abs(np.random.default_rng(0).standard_normal((50, 4))).astype(np.float32)
    x[:, 3] = 0.0  # one channel always zero: 3 nonzero raw activations per input
    m = sae_metrics(sae, x)
    with torch.no_grad():
        f = sae.encode(torch.from_numpy(x)).numpy()
    l0 = (f > 0).sum(1).mean()
    assert m["l0"] == pytest.approx(l0)
    assert m["raw_l0"] == pytest.approx(3.0)
    assert m["d"] == 4
    # no "compression": raw_l0 / l0 was d / l0 on leaky-ReLU layers and grew as fidelity fell
    assert "compression" not in m
    freq = (f > 0).mean(0)
    assert m["dead_fraction"] == pytest.approx((freq == 0).mean())
    assert m["dense_fraction"] == pytest.approx((freq > 0.1).mean())


def test_filters_keep_top_fraction_and_map_positions():
    rng = np.random.default_rng(0)
    frames, h, w, c = 10, 3, 3, 5
    x = rng.random((frames * h * w, c)).astype(np.float32) * 0.1
    position = np.tile(np.arange(h * w), frames)
    frame = np.repeat(np.arange(frames), h * w)
    x[position == 4] += 5.0  # the centre position is always strong
    for spec in ("magnitude:0.2", "maximum:0.2", "median:0.2"):
        method, keep = parse_filter(spec)
        rep = filter_activations(x, method, keep, position=position, frame=frame, spatial_shape=(h, w))
        assert rep.kept_fraction == pytest.approx(18 / 90)
        assert rep.position_map[1, 1] == 1.0  # kept in every frame
        assert rep.mask[position == 4].all()
    sparse = np.zeros((4, 6), np.float32)
    sparse[2, :5] = 0.1
    rep = filter_activations(sparse, "active", 0.25)
    assert rep.mask.tolist() == [False, False, True, False]
    with pytest.raises(ConfigError, match="Grad-CAM"):
        filter_activations(x, "gradcam", 0.5)
    with pytest.raises(ConfigError, match="unknown activation filter"):
        parse_filter("loudness:0.3")


def test_save_load_roundtrip(tmp_path, planted):
    x, _ = planted
    res = run_job(train_sae(x[:500], SAEConfig(32, 40, kind="topk", k=3), TrainConfig(steps=10)))
    out = save_sae(tmp_path / "sae", res.sae, {"hook": "enc.act3", "mode": "spatial", "layer_shape": (32, 1, 1),
                                             "metrics": {"l0": 3.0}})
    loaded = load_sae(out)
    assert loaded.hook == "enc.act3" and loaded.mode == "spatial" and loaded.layer_shape == (32, 1, 1)
    xt = torch.from_numpy(x[:20])
    with torch.no_grad():
        assert torch.equal(loaded.sae(xt)[0], res.sae(xt)[0])
    dec = np.load(out / "decoder.npy", allow_pickle=False)
    assert dec.shape == (40, 32)
    assert np.allclose(np.linalg.norm(dec, axis=1), 1.0, atol=1e-5)
    assert json.loads((out / "metrics.json").read_text()) == {"l0": 3.0}
    (out / "sae.json").write_text(json.dumps({**json.loads((out / "sae.json").read_text()),
                                              "config": {**loaded.sae.config.to_dict(), "n_features": 41}}))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_sae(out)
    with pytest.raises(CheckpointError, match="not an SAE directory"):
        load_sae(tmp_path)
