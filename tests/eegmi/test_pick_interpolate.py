"""The pick & interpolate test: ~1 on an exact pick & interpolate model, low on a random one."""

from __future__ import annotations

import numpy as np
import pytest
from test_propagation import N_EL, BumpOperator, PickInterpolateModel, tiny_vae

from eegmi.analysis.pick_interpolate import (
    assign_latents,
    calibrate,
    compare_models,
    electrode_values,
    pick_interpolate,
)
from eegmi.analysis.propagation import InputPipeline
from eegmi.errors import ConfigError
from eegmi.jobs import run_job


def test_assignment_recovers_permutation_and_handles_fewer_latents():
    rng = np.random.default_rng(0)
    perm = rng.permutation(5)
    m = 0.05 * rng.random((5, 5))
    m[perm, np.arange(5)] = -3.0 * (1 + np.arange(5))  # sign and scale must not matter
    a = assign_latents(m)
    assert a[perm].tolist() == list(range(5))
    a3 = assign_latents(m[:, :3])
    assert (a3 >= 0).sum() == 3 and (a3 == -1).sum() == 2
    assert sorted(a3[a3 >= 0].tolist()) == [0, 1, 2]
    assert a3[perm[:3]].tolist() == [0, 1, 2]


def test_calibration_inverts_affine_latents():
    rng = np.random.default_rng(1)
    op = rng.random((30, 4))
    x = rng.random((50, 4))
    assignment = np.array([1, 0, 3, 2])
    gain_true = np.array([2.0, -1.0, 0.5, 3.0])
    off_true = np.array([0.1, 0.2, -0.3, 0.0])
    latents = np.zeros((50, 4))
    latents[:, assignment] = (x - off_true) / gain_true  # so gain*latent+off = x
    gain, off, background = calibrate(latents, x @ op.T, op, assignment)
    np.testing.assert_allclose(gain, gain_true, rtol=1e-6)
    # offsets trade against the background; the reconstruction is exact either way
    pred = electrode_values(latents, assignment, gain, off) @ op.T + background
    np.testing.assert_allclose(pred, x @ op.T, atol=1e-6)
    unassigned = np.array([1, -1, 3, 0])
    g2, o2, _ = calibrate(latents, x @ op.T, op, unassigned)
    assert g2[1] == 0.0 and o2[1] == 0.0


def test_exact_pick_interpolate_model_scores_one():
    op = BumpOperator()
    perm = np.array([3, 1, 0, 5, 2, 4])
    model = PickInterpolateModel(op, perm)
    res = run_job(pick_interpolate(model, InputPipeline("vae", op), n_inputs=64))
    assert res.score == pytest.approx(1.0, abs=1e-6)
    assert res.reconstruction_r2 == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(res.electrode_r2, 1.0)
    assert res.assignment[perm].tolist() == list(range(N_EL))
    assert res.assignment_strength == pytest.approx(1.0)
    js = res.to_json()
    assert js["assignment"]["E3"] == 0 and js["score"] == pytest.approx(1.0, abs=1e-6)


def test_fewer_latents_leave_electrodes_unassigned_and_lower_the_score():
    op = BumpOperator()

    class Dropped(PickInterpolateModel):  # keeps 4 of the 6 electrodes
        def __init__(self):
            super().__init__(op, np.array([0, 1, 2, 3]))

    res = run_job(pick_interpolate(Dropped(), InputPipeline("vae", op), n_inputs=64))
    assert (res.assignment == -1).sum() == 2
    assert res.assignment[[4, 5]].tolist() == [-1, -1]
    # the model itself is still exactly pick & interpolate on what it keeps
    assert res.score == pytest.approx(1.0, abs=1e-6)
    assert res.reconstruction_r2 < 0.99  # but it drops two electrodes of the input
    assert np.isnan(res.electrode_r2[4])


def test_random_model_scores_low():
    op = BumpOperator()
    res = run_job(pick_interpolate(tiny_vae(seed=1), InputPipeline("vae", op), n_inputs=64))
    assert res.score < 0.5
    assert res.reconstruction_r2 < 0.5
    assert res.assignment_strength < 0.6


def test_compare_models_table_and_errors():
    op = BumpOperator()
    pipe = InputPipeline("vae", op)
    models = [("pick", PickInterpolateModel(op, np.arange(N_EL)), pipe), ("random", tiny_vae(), pipe)]
    results = run_job(compare_models(models, n_inputs=32))
    rows = [r.row() for r in results]
    assert [r["model"] for r in rows] == ["pick", "random"]
    assert rows[0]["score"] > rows[1]["score"]
    with pytest.raises(ConfigError):
        run_job(pick_interpolate(models[0][1], pipe, n_inputs=4))
    with pytest.raises(ConfigError):
        run_job(pick_interpolate(models[0][1], pipe, frames=np.zeros((10, 3))))
    # the synthetic model is deterministic: same inputs, same score
    again = run_job(pick_interpolate(models[1][1], pipe, n_inputs=32, label="random"))
    assert again.score == pytest.approx(results[1].score)
