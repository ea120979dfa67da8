"""Saliency methods against known gradients, and the cascading randomisation check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_analysis import N_EL, SIZE, BumpOperator, PickInterpolateModel, tiny_vae

from eegmi.analysis.propagation import InputPipeline
from eegmi.analysis.saliency import (
    METHODS,
    AttributionOptions,
    Target,
    attribute_electrodes,
    attribute_images,
    method_name,
    saliency,
)
from eegmi.analysis.sanity import cascading_randomization, target_layers
from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.models import DecoderOnly, ModelConfig


@pytest.fixture
def pick():
    op = BumpOperator()
    perm = np.array([1, 2, 0, 4, 5, 3])
    return op, perm, PickInterpolateModel(op, perm), InputPipeline("vae", op)


def _values(b=2, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 1.0, size=(b, N_EL)).astype(np.float32)


def test_method_names_and_target_parsing():
    assert method_name("IG") == "integrated_gradients" and method_name("sg") == "smoothgrad"
    with pytest.raises(ConfigError):
        method_name("lime")
    assert Target.parse("latent:3").label == "latent:3"
    assert Target.parse("region:1,2,5,6", size=16).kind == "region"
    for bad in ("latent", "pixel:1", "pixel:a,b", "foo:1", "region:5,5,2,2"):
        with pytest.raises(ConfigError):
            Target.parse(bad, size=16)
    with pytest.raises(ConfigError):
        Target.parse("pixel:16,0", size=16)


def test_latent_gradient_is_the_picked_electrode(pick):
    op, perm, model, pipe = pick
    v = _values()
    for k in range(N_EL):
        grad = attribute_electrodes(model, pipe, v, "saliency", Target.latent(k))
        expected = np.zeros(N_EL)
        expected[perm[k]] = 1.0
        np.testing.assert_allclose(grad, np.tile(expected, (2, 1)), atol=1e-6)
    img = attribute_images(model, pipe, op.render(v), "saliency", Target.latent(0))
    r, c = op.electrode_pixels[perm[0]]
    assert img[0, r, c] == pytest.approx(1.0)
    assert np.abs(img).sum() == pytest.approx(2.0, abs=1e-6)  # one pixel per sample


def test_pixel_and_region_targets_follow_the_operator(pick):
    op, perm, model, pipe = pick
    v = _values()
    r, c = 7, 9
    grad = attribute_electrodes(model, pipe, v, "saliency", Target.pixel(r, c))
    np.testing.assert_allclose(grad[0], op.matrix[r * SIZE + c], atol=1e-6)
    reg = attribute_electrodes(model, pipe, v, "saliency", Target.region(0, 0, 8, 8))
    rows = op.matrix.reshape(SIZE, SIZE, N_EL)[:8, :8].sum(axis=(0, 1))
    np.testing.assert_allclose(reg[1], rows, atol=1e-5)


def test_linear_model_method_identities(pick):
    op, perm, model, pipe = pick
    v = _values()
    t = Target.pixel(6, 6)
    grad = attribute_electrodes(model, pipe, v, "saliency", t)
    # a linear model: SmoothGrad = gradient, IG = gradient x input, guided = gradient
    np.testing.assert_allclose(attribute_electrodes(model, pipe, v, "smoothgrad", t), grad, atol=1e-5)
    np.testing.assert_allclose(attribute_electrodes(model, pipe, v, "ig", t), grad * v, atol=1e-5)
    np.testing.assert_allclose(attribute_electrodes(model, pipe, v, "ixg", t), grad * v, atol=1e-6)
    np.testing.assert_allclose(attribute_electrodes(model, pipe, v, "gbp", t), grad, atol=1e-6)


def test_integrated_gradients_completeness_on_a_vae():
    op = BumpOperator()
    model = tiny_vae(seed=2)
    pipe = InputPipeline("vae", op)
    v = _values(3, seed=1)
    t = Target.latent(1)
    ig = attribute_electrodes(model, pipe, v, "ig", t)
    with torch.no_grad():
        f = model(op.render_torch(torch.as_tensor(v))).mu[:, 1]
        f0 = model(torch.zeros(1, 1, SIZE, SIZE)).mu[:, 1]
    np.testing.assert_allclose(ig.sum(axis=1), (f - f0).numpy(), rtol=0.05, atol=1e-4)


def test_guided_backprop_differs_and_leaves_no_hooks():
    op = BumpOperator()
    model = tiny_vae(seed=3, activation="relu")
    pipe = InputPipeline("vae", op)
    imgs = op.render(_values(2))
    t = Target.pixel(8, 8)
    before = attribute_images(model, pipe, imgs, "saliency", t)
    guided = attribute_images(model, pipe, imgs, "guided_backprop", t)
    after = attribute_images(model, pipe, imgs, "saliency", t)
    assert not np.allclose(guided, before)
    np.testing.assert_allclose(after, before)


def test_gradcam_and_saliency_job_shapes():
    op = BumpOperator()
    model = tiny_vae(seed=4)
    pipe = InputPipeline("vae", op)
    v = _values(3)
    res = run_job(saliency(model, pipe, v, ["gradcam", "saliency"], Target.region(2, 2, 10, 10),
                           batch_size=2))
    assert res.maps["gradcam"].shape == (3, SIZE, SIZE)
    assert (res.maps["gradcam"] >= 0).all()
    assert res.electrodes["saliency"].shape == (3, N_EL)
    js = res.to_json()
    assert set(js["methods"]) == {"gradcam", "saliency"}
    assert 1 <= len(js["methods"]["saliency"]["top_electrodes"]) <= 5
    with pytest.raises(ConfigError):
        attribute_images(model, pipe, op.render(v), "gradcam", Target.latent(0),
                         options=AttributionOptions(layer="nope"))


def test_callable_target_and_decoder_model():
    op = BumpOperator()
    cfg = ModelConfig(kind="decoder", image_size=SIZE, n_electrodes=N_EL, latent_dim=N_EL,
                      filters=(4, 8, 8))
    torch.manual_seed(0)
    dec = DecoderOnly(cfg).eval()
    pipe = InputPipeline("decoder", op)
    t = Target.from_callable(lambda c: (c["latent.z"] ** 2).sum(dim=1), ["latent.z"], "sq")
    v = _values(2)
    g = attribute_electrodes(dec, pipe, v, "saliency", t)
    np.testing.assert_allclose(g, 2 * v, rtol=1e-5)
    res = run_job(saliency(dec, pipe, v, ["saliency"], t))
    assert res.maps == {} and res.target == "sq"
    with pytest.raises(ConfigError):
        run_job(saliency(dec, pipe, v, ["gradcam"], t))



def test_cascading_randomization():
    op = BumpOperator()
    model = tiny_vae(seed=5)
    pipe = InputPipeline("vae", op)
    t = Target.latent(0)
    imgs = op.render_torch(torch.as_tensor(_values(2)))
    layers = [n for n, _ in target_layers(model, pipe, t, imgs)]
    # the latent target depends on the encoder only, top layer first; not on fc_logvar
    assert layers == ["fc_mu", "conv3", "conv2", "conv1"]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    res = run_job(cascading_randomization(model, pipe, _values(2), t,
                                          methods=["saliency", "ixg"], seed=1))
    for k, v in model.state_dict().items():  # the trained model is untouched
        assert torch.equal(v, state[k])
    assert res.layers == layers
    assert res.similarity["saliency"].shape == (3, 4, 2, 3)  # draws, stages, inputs, statistics
    assert res.baseline["saliency"].shape == (2, 3)
    # gradient x input keeps the input's shape, so it stays more similar than the gradient
    assert res.mean_similarity("input_x_gradient")[-1, 0] > res.mean_similarity("saliency")[-1, 0]
    assert res.maps["saliency"].shape == (5, 2, SIZE, SIZE)
    assert set(res.to_json()["methods"]) == {"saliency", "input_x_gradient"}
    assert set(METHODS) >= set(res.methods)
