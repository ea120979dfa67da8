"""Propagation and linearity analyses on tiny models with a small fake topomap operator.

The fake operator and tiny models come from ``tests/support/tiny_analysis.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_analysis import N_EL, SIZE, BumpOperator, PickInterpolateModel, tiny_vae

from eegmi.analysis.linearity import affine_r2, linearity
from eegmi.analysis.propagation import (
    InputPipeline,
    one_hot_batch,
    propagation,
    responsive_counts,
    selectivity_index,
)
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, run_job
from eegmi.models import DecoderOnly, ModelConfig


def test_one_hot_batch_layout():
    b = one_hot_batch(3, [0.5, 2.0])
    assert b.shape == (7, 3)
    assert np.all(b[0] == 0)
    assert b[1 + 1 * 3 + 2, 2] == 2.0 and b[1 + 1 * 3 + 2].sum() == 2.0


def test_selectivity_and_counts():
    mag = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.9, 0.0]])
    sel = selectivity_index(mag)
    assert sel[0] == pytest.approx(1.0)
    assert sel[1] < 0.1
    assert sel[2] == 0.0  # dead unit
    counts = responsive_counts(mag, threshold=0.5)
    assert counts.tolist() == [1, 3, 0]


def test_propagation_matches_single_forward_passes():
    op = BumpOperator()
    model = tiny_vae()
    pipe = InputPipeline("vae", op)
    res = run_job(propagation(model, pipe, amplitudes=[0.5, 1.0], batch_size=5))
    assert res.ref_amplitude == 1.0
    assert res.latent_matrix.shape == (N_EL, N_EL)
    # reference: one forward pass per electrode, relative to the zero image
    with torch.no_grad():
        base = model(torch.zeros(1, 1, SIZE, SIZE)).mu
        for e in range(N_EL):
            x = torch.zeros(1, N_EL)
            x[0, e] = 0.5
            mu = model(op.render_torch(x)).mu
            np.testing.assert_allclose(res.responses["latent.mu"][0, e], (mu - base)[0].numpy(),
                                       atol=1e-5)
    conv = res.unit_response["enc.conv1"]
    assert conv.shape == (N_EL, 4)
    neurons = run_job(propagation(model, pipe, names=["enc.conv1"], unit="neuron"))
    assert neurons.unit_response["enc.conv1"].shape == (N_EL, 4 * 8 * 8)
    assert neurons.to_json()["unit"] == "neuron"
    np.testing.assert_allclose(neurons.unit_response["enc.conv1"].reshape(N_EL, 4, -1).max(-1),
                               conv, rtol=1e-6)
    summary = {row["layer"]: row for row in res.layer_summary()}
    assert summary["enc.conv1"]["units"] == 4
    row = summary["latent.mu"]
    assert row["monosemantic"] + row["polysemantic"] + row["dead"] == N_EL
    # the first conv is linear in the input: response doubles with the amplitude
    assert summary["enc.conv1"]["amplitude_gain"] == pytest.approx(1.0, abs=1e-4)
    js = res.to_json()
    assert js["electrodes"] == list(op.montage.ch_names)
    assert len(js["latent_best_electrode"]) == N_EL
    assert "response/enc.act2" in res.arrays()


def test_propagation_on_pick_model_is_monosemantic():
    op = BumpOperator()
    perm = np.array([2, 0, 1, 5, 3, 4])
    res = run_job(propagation(PickInterpolateModel(op, perm), InputPipeline("vae", op)))
    # latent k answers electrode perm[k] only
    assert np.abs(res.latent_matrix).argmax(axis=0).tolist() == perm.tolist()
    assert np.all(res.n_responsive["latent.mu"] == 1)
    assert np.allclose(res.selectivity["latent.mu"], 1.0)


def test_propagation_decoder_and_injection():
    op = BumpOperator()
    cfg = ModelConfig(kind="decoder", image_size=SIZE, n_electrodes=N_EL, latent_dim=N_EL,
                      filters=(4, 8, 8))
    torch.manual_seed(0)
    res = run_job(propagation(DecoderOnly(cfg).eval(), InputPipeline("decoder", op)))
    assert res.latent_name == "latent.z"
    np.testing.assert_allclose(res.latent_matrix, np.eye(N_EL), atol=1e-6)

    class Marks:  # constant marks are removed by the zero-input baseline
        def apply(self, images):
            return images + 0.7

    model = tiny_vae()
    plain = run_job(propagation(model, InputPipeline("vae", op), names=["enc.conv1"]))
    marked = run_job(propagation(model, InputPipeline("vae", op, Marks()), names=["enc.conv1"]))
    np.testing.assert_allclose(plain.responses["enc.conv1"], marked.responses["enc.conv1"], atol=1e-5)
    assert not np.allclose(plain.baseline["enc.conv1"], marked.baseline["enc.conv1"])


def test_propagation_cancel_and_bad_options():
    op = BumpOperator()
    token = CancelToken()
    token.cancel()
    from eegmi.errors import Cancelled

    with pytest.raises(Cancelled):
        run_job(propagation(tiny_vae(), InputPipeline("vae", op), cancel=token))
    with pytest.raises(ConfigError):
        run_job(propagation(tiny_vae(), InputPipeline("vae", op), amplitudes=[]))
    with pytest.raises(ConfigError):
        run_job(propagation(tiny_vae(), InputPipeline("vae", op), unit="pixel"))


def test_affine_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = x @ rng.normal(size=(3, 5)) + 2.0
    assert affine_r2(x[:40], y[:40], x[40:], y[40:]) == pytest.approx(1.0)
    assert affine_r2(x[:40], rng.normal(size=(40, 5)), x[40:], rng.normal(size=(40, 5))) < 0.2


def test_linearity_linear_versus_nonlinear_layers():
    op = BumpOperator()
    model = tiny_vae(activation="relu")
    res = run_job(linearity(model, InputPipeline("vae", op), n_inputs=64, set_sizes=(2, 4), n_sets=4))
    # convolutions of a linear image are exactly affine in the electrodes
    assert res.r2["enc.conv1"] == pytest.approx(1.0, abs=1e-4)
    assert np.all(res.superposition["enc.conv1"] < 1e-4)
    # ReLU breaks superposition
    assert res.superposition["enc.act1"].max() > 1e-3
    js = res.to_json()
    assert [row["layer"] for row in js["layers"]] == model.hook_names()
    with pytest.raises(ConfigError):
        run_job(linearity(model, InputPipeline("vae", op), n_inputs=4))
