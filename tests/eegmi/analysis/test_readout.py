"""Basis-invariant read-outs: OLS with blocked folds and held-out CCA."""

from __future__ import annotations

import numpy as np
import pytest

from eegmi.analysis.readout import (
    blocked_folds,
    canonical_correlations,
    cv_readout,
    heldout_canonical,
    numerical_rank,
    r2_columns,
)
from eegmi.errors import ConfigError


def _data(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x, rng


def test_folds_are_contiguous_blocks_covering_everything():
    folds = blocked_folds(11, 3)
    assert [f.tolist() for f in folds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    with pytest.raises(ConfigError):
        blocked_folds(5, 3)
    with pytest.raises(ConfigError):
        blocked_folds(10, 1)


def test_readout_is_invariant_to_invertible_affine_maps_of_the_latents():
    x, rng = _data()
    z = np.tanh(x @ rng.normal(size=(5, 6))) + 0.05 * rng.normal(size=(400, 6))
    folds = blocked_folds(400, 5)
    base = cv_readout(z, x, folds)
    a = np.diag([1e-2, 1.0, 30.0, 1.0, 1.0, 5.0]) @ (np.eye(6) + np.triu(rng.normal(size=(6, 6)), 1))
    mapped = cv_readout(z @ a + 7.0, x, folds)
    np.testing.assert_allclose(mapped, base, atol=1e-9)
    assert 0.5 < r2_columns(x, base).mean() < 1.0

    def ridge(latents):  # why no penalty: it shrinks in the latents' own coordinates
        c = latents - latents.mean(0)
        return c @ np.linalg.solve(c.T @ c + 10.0 * np.eye(6), c.T @ (x - x.mean(0)))

    assert np.abs(ridge(z @ a) - ridge(z)).max() > 1e-2


def test_exact_linear_latents_read_out_exactly_and_dead_latents_are_ignored():
    x, rng = _data()
    z = np.c_[x @ rng.normal(size=(5, 5)), np.full(400, 3.0) + 1e-9 * rng.normal(size=400)]
    assert numerical_rank(z) == 5
    pred = cv_readout(z.astype(np.float32), x, blocked_folds(400, 4))
    np.testing.assert_allclose(r2_columns(x, pred), 1.0, atol=1e-5)


def test_readout_needs_enough_training_rows():
    x, _ = _data(n=12)
    with pytest.raises(ConfigError):
        cv_readout(np.c_[x, x], x, blocked_folds(12, 2))


def test_canonical_correlations_known_cases():
    x, rng = _data(n=2000)
    # a rotated, rescaled copy of three of the five: three correlations of 1
    z = x[:, :3] @ rng.normal(size=(3, 3)) * 10.0
    rho = canonical_correlations(z, x)
    np.testing.assert_allclose(rho, 1.0, atol=1e-9)
    held = heldout_canonical(z, x, blocked_folds(2000, 5))
    np.testing.assert_allclose(held, 1.0, atol=1e-9)
    # unrelated data: in-sample CCA is biased up, held-out is not
    noise = rng.normal(size=(2000, 5))
    assert canonical_correlations(noise, x)[0] > 0.03
    assert np.abs(heldout_canonical(noise, x, blocked_folds(2000, 5))).mean() < 0.05
