"""Moving stimuli, random projections, action and explained input variance."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from eegmi.analysis.projections import (
    action,
    analyze_trajectory,
    expected_action,
    explained_input_variance,
    projection_analysis,
    random_projections,
)
from eegmi.analysis.stimuli import circle_path, dot_stimulus, make_stimulus
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import run_job
from eegmi.models.hooks import model_input


def test_action_of_a_circle_is_two_pi_squared() -> None:
    z = np.concatenate([circle_path(2000), np.zeros((2000, 1))], axis=1)
    assert action(z, periodic=True) == pytest.approx(2 * np.pi**2, rel=1e-4)
    # without the closing step one of 2000 steps is missing
    assert action(z) == pytest.approx(2 * np.pi**2 * 1999 / 2000 * 1999 / 2000, rel=1e-4)
    assert action(np.ones((5, 7, 3))).tolist() == [0.0] * 5
    circle = np.concatenate([circle_path(400), np.zeros((400, 1))], axis=1)[:, None]
    res = analyze_trajectory(np.repeat(circle[:, 0], 50, axis=1), circle[:, 0], n_projections=50)
    assert res.normalized_action == pytest.approx(2 * np.pi**2, rel=1e-3)


def test_random_projections_have_the_seed_statistics() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 300)).cumsum(axis=0)
    z = random_projections(a, 4000, dim=3, seed=1)
    assert z.shape == (4000, 20, 3)
    # r ~ N(0, I/m): Var z[t, j] = ||A_t||^2 / m
    np.testing.assert_allclose(z.var(axis=(0, 2)), (a**2).sum(axis=1) / 300, rtol=0.06)
    e = action(z, periodic=False)
    assert e.mean() == pytest.approx(expected_action(a, 3), rel=0.05)
    np.testing.assert_allclose(random_projections(a, 10, chunk=3, seed=4),
                               random_projections(a, 10, chunk=64, seed=4), rtol=1e-12)


def test_explained_input_variance() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((200, 3))
    s = z @ rng.standard_normal((3, 50)) + 4.0
    assert explained_input_variance(z, s) == pytest.approx(1.0)
    noise = rng.standard_normal((200, 50))
    assert explained_input_variance(z, noise) < 0.05
    half = explained_input_variance(z, np.concatenate([s, s + 3 * noise], axis=1))
    assert 0.05 < half < 0.95
    assert explained_input_variance(np.ones((200, 3)), s) == 0.0  # a dead layer explains nothing
    batch = explained_input_variance(np.stack([z, np.ones((200, 3))]), s)
    np.testing.assert_allclose(batch, [1.0, 0.0], atol=1e-12)
    with pytest.raises(DataError, match="does not vary"):
        explained_input_variance(z, np.ones((200, 4)))


def test_smooth_code_has_lower_action_and_explains_more() -> None:
    stim = dot_stimulus(size=16, n_frames=60, radius=0.3, width=0.12)
    frames = stim.images.reshape(60, -1)
    rng = np.random.default_rng(3)
    smooth = frames @ rng.standard_normal((256, 400))
    # a code that hashes each frame to unrelated units: discontinuous in time
    rough = rng.standard_normal((60, 400)) * smooth.std()
    rs = analyze_trajectory(smooth, frames, "smooth", n_projections=300)
    rr = analyze_trajectory(rough, frames, "rough", n_projections=300)
    assert rs.action_mean < rr.action_mean / 20
    assert rs.normalized_action < rr.normalized_action / 5
    # the normalised action ignores the scale of the code
    scaled = analyze_trajectory(1e3 * smooth, frames, n_projections=300)
    assert scaled.normalized_action == pytest.approx(rs.normalized_action, rel=1e-9)
    assert scaled.action_mean == pytest.approx(1e6 * rs.action_mean, rel=1e-9)
    assert rs.explained_mean > rr.explained_mean + 0.2
    assert rs.action_mean == pytest.approx(rs.expected_action, rel=0.1)
    with pytest.raises(DataError, match="NaN"):
        analyze_trajectory(np.full((5, 3), np.nan), frames[:5])


def test_dot_stimulus_moves_round_a_circle() -> None:
    stim = dot_stimulus(size=40, n_frames=24, radius=0.3, width=0.05)
    assert stim.images.shape == (24, 40, 40) and stim.images.dtype == np.float32
    peaks = np.array([np.unravel_index(f.argmax(), f.shape) for f in stim.images])
    dist = np.hypot(peaks[:, 1] - 19.5, peaks[:, 0] - 19.5)
    np.testing.assert_allclose(dist, 12.0, atol=1.0)
    np.testing.assert_allclose(peaks[:, ::-1], stim.path, atol=0.75)
    with pytest.raises(ConfigError):
        make_stimulus("spiral")


class FakeOperator:
    """Duck-typed topomap operator: scattered electrodes, images = a fixed linear map."""

    size = 8

    def __init__(self) -> None:
        self.electrode_xy = np.random.default_rng(1).random((36, 2)) * 8.0
        self.matrix = np.random.default_rng(0).random((64, 36)).astype(np.float32)
        self.head_mask = np.ones((8, 8), bool)

    def render(self, values: np.ndarray) -> np.ndarray:
        return (values @ self.matrix.T).reshape(*values.shape[:-1], 8, 8)


def test_dipole_stimulus_follows_its_path_through_the_operator() -> None:
    op = FakeOperator()
    stim = make_stimulus("dipole", op, n_frames=30, radius=0.5, width=0.2)
    assert stim.values.shape == (30, 36) and stim.images.shape == (30, 8, 8)
    nearest = np.argmin(((op.electrode_xy[None] - stim.path[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(stim.values.argmax(axis=1), nearest)
    np.testing.assert_allclose(stim.images, op.render(stim.values), rtol=1e-5)
    assert make_stimulus("dot", op, n_frames=5).images.shape == (5, 8, 8)


def test_projection_analysis_of_a_small_convvae() -> None:
    from eegmi.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(filters=(4, 8, 8), latent_dim=6))
    stim = dot_stimulus(size=40, n_frames=30)
    res = run_job(projection_analysis(model, stim.images, ["enc.act1", "latent.mu", "out"],
                                      n_projections=200, stimulus="dot"))
    assert list(res.layers) == ["input", "enc.act1", "latent.mu", "out"]
    js = res.to_json()
    assert js["n_projections"] == 200 and js["stimulus"] == "dot"
    for name, r in res.layers.items():
        assert r.examples.shape == (3, 30, 3)
        assert r.action_mean == pytest.approx(r.expected_action, rel=0.2), name
        assert 0.0 <= r.explained_mean <= 1.0
    assert res.layers["enc.act1"].n_features == 4 * 20 * 20
    with pytest.raises(DataError, match="stimulus frames"):
        run_job(projection_analysis(model, np.zeros((2, 40, 40))))
    decoder = build_model(ModelConfig(kind="decoder", filters=(4, 8, 8), n_electrodes=32))
    values = np.random.default_rng(0).random((12, 32)).cumsum(axis=0) / 12
    dec = run_job(projection_analysis(decoder, values, ["dec.act1"], n_projections=20))
    assert list(dec.layers) == ["input", "dec.act1"] and dec.layers["input"].n_features == 32
    # data batches feed a decoder-only model their electrode values, a VAE its images
    batch = types.SimpleNamespace(values=torch.rand(4, 32), images=torch.rand(4, 1, 40, 40))
    assert model_input(decoder, batch) is batch.values
    assert model_input(model, batch) is batch.images
