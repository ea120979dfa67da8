"""The gallery's fast paths: the forward pass stops at the hooked layer, and the
statistics are gathered from sparse codes; both give what the full computation gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.jobs import run_job
from eegmi.models import ConvVAE, ModelConfig
from eegmi.sae.activations import collect_activations, run_to_hook
from eegmi.sae.features import FeatureAccumulator, sparse_codes
from eegmi.sae.model import SAEConfig, SparseAutoencoder


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ConvVAE(ModelConfig(kind="vae", filters=(4, 8, 8), latent_dim=4)).eval()


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(1)
    return torch.nn.functional.avg_pool2d(torch.rand(20, 1, 40, 40, generator=gen), 9, 1, 4)


@pytest.mark.parametrize("hook", ["enc.conv1", "enc.act3", "latent.mu", "dec.act1"])
def test_run_to_hook_matches_the_full_forward_and_skips_the_rest(model, images, hook):
    with model.capture([hook]) as box, torch.no_grad():
        model(images)
    calls = []
    handle = model.decoder.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():
            acts = run_to_hook(model, images, hook)
    finally:
        handle.remove()
    assert torch.equal(acts, box[hook])
    assert calls == ([1] if hook.startswith("dec.") else [])  # encoder layers never reach the decoder
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_collected_activations_unchanged(model, images):
    got = run_job(collect_activations(model, [images[:12], images[12:]], "enc.act2", "spatial"))
    with model.capture(["enc.act2"]) as box, torch.no_grad():
        model(images)
    ref = box["enc.act2"].movedim(1, -1).reshape(-1, box["enc.act2"].shape[1]).numpy()
    np.testing.assert_array_equal(got.x, ref)


def _dense_reference(f: torch.Tensor, positions: int, top_k: int) -> dict[str, np.ndarray]:
    """The statistics computed the plain way, from the dense (N, F) matrix in float64."""
    f64 = f.double()
    per_frame = f.reshape(-1, positions, f.shape[1])
    fmax = per_frame.max(1).values
    return {"count": (f > 0).sum(0).numpy(), "s1": f64.sum(0).numpy(), "s2": f64.pow(2).sum(0).numpy(),
            "vmax": f.max(0).values.numpy(), "fmax_sorted": -np.sort(-fmax.t().numpy(), axis=1)[:, :top_k],
            "best_frame": fmax.argmax(0).numpy(), "per_frame": per_frame.numpy()}


@pytest.mark.parametrize("kind", ["topk", "l1"])
def test_sparse_statistics_equal_the_dense_ones(kind):
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(6, 40, kind=kind, k=3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.b_enc.fill_(-0.3 if kind == "l1" else 0.0)  # an L1 SAE with some silent entries
    positions, frames = 9, 30
    x = torch.randn(frames * positions, 6)
    rows, cols, vals = sparse_codes(sae, x)
    with torch.no_grad():
        f = sae.encode(x)
    dense = torch.zeros_like(f)
    dense[rows, cols] = vals
    assert torch.equal(dense, f)  # the sparse codes are exactly the SAE's activations
    sparse_acc, dense_acc = FeatureAccumulator(40, 4, positions), FeatureAccumulator(40, 4, positions)
    half = frames // 2 * positions
    for lo, hi in ((0, half), (half, len(x))):
        keep = (rows >= lo) & (rows < hi)
        sparse_acc.update_sparse(rows[keep] - lo, cols[keep], vals[keep], hi - lo)
        dense_acc.update(f[lo:hi])
    a, b = sparse_acc.result(), dense_acc.result()
    for name, arr in a.arrays().items():
        np.testing.assert_array_equal(arr, b.arrays()[name], err_msg=name)
    ref = _dense_reference(f, positions, 4)
    np.testing.assert_array_equal(a.frequency, ref["count"] / len(x))
    np.testing.assert_allclose(a.mean_activation, ref["s1"] / len(x), rtol=1e-6)
    np.testing.assert_allclose(a.max_activation, ref["vmax"])
    np.testing.assert_allclose(a.top_values, ref["fmax_sorted"])
    live = ref["fmax_sorted"][:, 0] > 0
    assert (a.top_frames[live, 0] == ref["best_frame"][live]).all()
    best = a.top_frames[:, 0]
    for i in np.flatnonzero(live):
        np.testing.assert_array_equal(sparse_acc.maps[i].numpy(), ref["per_frame"][best[i], :, i])
        assert a.top_positions[i, 0] == int(np.argmax(ref["per_frame"][best[i], :, i]))
