"""The pick & interpolate test: invariant to the latent basis, with its controls.

The tests try to break the headline: a rotated, scaled or sheared latent space must
give the same pick, interpolate and alignment; an untrained network must not pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_analysis import N_EL, SIZE, BumpOperator, PickInterpolateModel, tiny_vae

from eegmi.analysis.axis_alignment import assign_latents, calibrate, electrode_values
from eegmi.analysis.pick_controls import (
    ExactPickInterpolate,
    PCABaseline,
    electrode_unmix,
    random_rotation,
)
from eegmi.analysis.pick_interpolate import HEADLINE_BAR, score_network
from eegmi.analysis.propagation import InputPipeline
from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.models import DecoderOnly, HookedModel, HookPoint, ModelConfig


def _inputs(count: int = 120, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, N_EL)).astype(np.float32)


def _score(model, op=None, kind="vae", values=None, **kw):
    op = op or BumpOperator()
    return run_job(score_network(model, InputPipeline(kind, op), _inputs() if values is None
                                 else values, **kw))


class LatentMapped(HookedModel):
    """A model with its latent space re-expressed in another basis: same function.

    ``latent.mu' = latent.mu @ Aᵀ`` and the decoder reads ``latent.mu' @ A⁻ᵀ``.
    """

    def __init__(self, inner, mix: np.ndarray) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("enc", torch.as_tensor(mix.T, dtype=torch.float32))
        self.register_buffer("dec", torch.as_tensor(np.linalg.inv(mix).T, dtype=torch.float32))
        self.hook_mu = HookPoint("latent.mu")
        self.hook_out = HookPoint("out")

    def forward(self, x):
        mu, _ = self.inner.encode(x)
        z = self.hook_mu(mu @ self.enc)
        return self.hook_out(self.inner.decode(z @ self.dec))


def _shear(n: int, seed: int = 5) -> np.ndarray:
    """An invertible, far from orthogonal map: scales over two decades and a shear."""
    rng = np.random.default_rng(seed)
    return (np.diag(10.0 ** rng.uniform(-1, 1, n)) @ (np.eye(n) + np.triu(rng.normal(size=(n, n)), 1)))


# ---- controls ---------------------------------------------------------------------
def test_exact_network_scores_one_everywhere():
    s = _score(ExactPickInterpolate(BumpOperator()))
    assert s.pick == pytest.approx(1.0, abs=1e-6)
    assert s.interpolate == pytest.approx(1.0, abs=1e-6)
    assert s.alignment == pytest.approx(1.0, abs=1e-5) and s.shared_dims == N_EL
    assert s.axis.score == pytest.approx(1.0, abs=1e-6) and s.headline_passed


def test_rotated_exact_network_passes_the_headline_and_fails_axis_alignment():
    """The defect of the old score: the same mechanism in a rotated basis scored low."""
    op = BumpOperator()
    rot = _score(ExactPickInterpolate(op, random_rotation(N_EL, 0)))
    assert rot.pick == pytest.approx(1.0, abs=1e-6)
    assert rot.interpolate == pytest.approx(1.0, abs=1e-6)
    assert rot.alignment == pytest.approx(1.0, abs=1e-5)
    assert rot.headline_passed
    assert rot.axis.score < 0.6  # the per-axis score is fooled by the basis


def test_sheared_latents_give_the_same_headline():
    op = BumpOperator()
    base = _score(ExactPickInterpolate(op))
    sheared = _score(ExactPickInterpolate(op, _shear(N_EL)))
    np.testing.assert_allclose(sheared.pick_r2, base.pick_r2, atol=1e-5)
    assert sheared.interpolate == pytest.approx(base.interpolate, abs=1e-5)
    np.testing.assert_allclose(sheared.canonical, base.canonical, atol=1e-5)


def test_reparametrised_vae_gives_the_same_headline():
    """A trained-like network (random VAE weights) re-expressed in another latent basis."""
    op = BumpOperator()
    vae = tiny_vae(seed=2)
    plain = _score(LatentMapped(vae, np.eye(N_EL)))
    for mix in (random_rotation(N_EL, 3), _shear(N_EL, 4)):
        other = _score(LatentMapped(vae, mix))
        np.testing.assert_allclose(other.pick_r2, plain.pick_r2, atol=1e-4)
        assert other.interpolate == pytest.approx(plain.interpolate, rel=1e-4)
        np.testing.assert_allclose(other.canonical, plain.canonical, atol=1e-4)
    del op


def test_untrained_network_fails_the_headline():
    s = _score(tiny_vae(seed=1))
    assert not s.headline_passed
    assert s.interpolate < 0.5


def test_exact_network_ignores_injection_marks():
    """Marks sit beside the electrode pixels, never on them: picking stays exact."""
    op = BumpOperator()

    class Marks:
        def apply(self, images):
            out = images.clone().flatten(1)
            px = op.electrode_pixels
            out[:, (px[:, 0] + 1) * SIZE + px[:, 1]] = 1.0  # the pixel below each electrode
            return out.view_as(images)

    s = run_job(score_network(ExactPickInterpolate(op), InputPipeline("vae", op, Marks()), _inputs()))
    assert s.headline_passed and s.interpolate == pytest.approx(1.0, abs=1e-6)


def test_electrode_unmix_inverts_the_operator_at_the_electrode_pixels():
    from eegmi.data.topomap import get_operator

    op = get_operator("biosemi32", 40)
    flat, unmix = electrode_unmix(op)
    x = np.random.default_rng(0).uniform(0, 1, (5, 32))
    img = x @ op.matrix.T
    np.testing.assert_allclose(img[:, flat] @ unmix.T, x, atol=1e-5)
    # electrodes do not sit on pixel centres: the pixel value alone is not the electrode value
    assert np.abs(img[:, flat] - x).max() > 1e-2


def test_pca_baseline_is_exact_at_full_size_and_loses_dimensions_below():
    op = BumpOperator()
    train = _inputs(200, seed=9)
    full = _score(PCABaseline(op, train, N_EL))
    assert full.headline_passed and full.reconstruction_r2 == pytest.approx(1.0, abs=1e-5)
    small = _score(PCABaseline(op, train, N_EL - 2), values=_inputs(1000))
    assert small.latent_rank == N_EL - 2 and small.pick < 0.95
    # its output is the operator applied to what its latents carry, up to the gap between
    # the projection that is best for the image (PCA) and for the values (the read-out)
    assert small.interpolate > 0.98
    assert small.alignment <= (N_EL - 2) / N_EL + 1e-9
    with pytest.raises(ConfigError):
        PCABaseline(op, train, N_EL + 1)


def test_decoder_only_pick_is_trivial_and_interpolate_is_reconstruction():
    torch.manual_seed(0)
    dec = DecoderOnly(ModelConfig(kind="decoder", image_size=SIZE, n_electrodes=N_EL,
                                  latent_dim=N_EL, filters=(4, 8, 8))).eval()
    s = _score(dec, kind="decoder")
    assert s.latent_name == "latent.z"
    assert s.pick == pytest.approx(1.0, abs=1e-6)
    # interpolate is the reconstruction R² without the output's mean bias
    op = BumpOperator()
    x = _inputs()
    with torch.no_grad():
        out = dec(torch.as_tensor(x)).recon.reshape(len(x), -1).numpy().astype(np.float64)
    yc = out - out.mean(0)
    centred = 1 - ((yc - (x - x.mean(0)) @ op.matrix.T) ** 2).sum() / (yc ** 2).sum()
    assert s.interpolate == pytest.approx(centred, rel=1e-6)
    assert s.interpolate >= s.reconstruction_r2 - 1e-9


def test_old_test_model_and_errors():
    op = BumpOperator()
    perm = np.array([3, 1, 0, 5, 2, 4])
    s = _score(PickInterpolateModel(op, perm))
    assert s.headline_passed and s.axis.assignment[perm].tolist() == list(range(N_EL))
    with pytest.raises(ConfigError):
        _score(PickInterpolateModel(op, perm), values=np.zeros((10, 3), np.float32))
    with pytest.raises(ConfigError):  # too few inputs for the folds
        _score(PickInterpolateModel(op, perm), values=_inputs(6))
    with pytest.raises(ConfigError):  # too few training rows for an affine read-out
        _score(PickInterpolateModel(op, perm), values=_inputs(12), folds=2)
    assert HEADLINE_BAR == 0.99


# ---- axis alignment (the old per-axis score) ------------------------------------------
def test_assignment_recovers_permutation_and_handles_fewer_latents():
    rng = np.random.default_rng(0)
    perm = rng.permutation(5)
    m = 0.05 * rng.random((5, 5))
    m[perm, np.arange(5)] = -3.0 * (1 + np.arange(5))  # sign and scale must not matter
    a = assign_latents(m)
    assert a[perm].tolist() == list(range(5))
    a3 = assign_latents(m[:, :3])
    assert (a3 >= 0).sum() == 3 and (a3 == -1).sum() == 2
    assert a3[perm[:3]].tolist() == [0, 1, 2]


def test_calibration_inverts_affine_latents():
    rng = np.random.default_rng(1)
    op = rng.random((30, 4))
    x = rng.random((50, 4))
    assignment = np.array([1, 0, 3, 2])
    gain_true = np.array([2.0, -1.0, 0.5, 3.0])
    off_true = np.array([0.1, 0.2, -0.3, 0.0])
    latents = np.zeros((50, 4))
    latents[:, assignment] = (x - off_true) / gain_true
    gain, off, background = calibrate(latents, x @ op.T, op, assignment)
    np.testing.assert_allclose(gain, gain_true, rtol=1e-6)
    pred = electrode_values(latents, assignment, gain, off) @ op.T + background
    np.testing.assert_allclose(pred, x @ op.T, atol=1e-6)


def test_fewer_latents_leave_electrodes_unassigned():
    op = BumpOperator()
    s = _score(PickInterpolateModel(op, np.array([0, 1, 2, 3])), values=_inputs(1000))
    assert s.axis.assignment[[4, 5]].tolist() == [-1, -1]
    assert s.latent_dim == 4 and s.alignment <= 4 / N_EL + 1e-9
    # what it keeps, it keeps exactly: its output is the operator on its read-out
    assert s.interpolate > 0.995
    assert s.pick < 0.9 and not s.headline_passed
