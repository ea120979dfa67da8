"""Feature visualisation by optimisation: the optimised input beats random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, run_job
from eegmi.models import ConvVAE, DecoderOnly, ModelConfig
from eegmi.sae.featurevis import VisTarget, random_baseline, visualise
from eegmi.sae.model import SAEConfig, SparseAutoencoder


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ConvVAE(ModelConfig(kind="vae", filters=(4, 8, 8), latent_dim=4)).eval()


def _render(v: torch.Tensor) -> torch.Tensor:
    # a fixed smooth linear "topomap": 4 electrodes -> 40x40 bumps (a stand-in operator)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 40), torch.linspace(-1, 1, 40), indexing="ij")
    centres = torch.tensor([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    bumps = torch.stack([torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.2) for cx, cy in centres])
    return (v @ bumps.reshape(4, -1)).reshape(-1, 1, 40, 40)


def test_unit_image_beats_random(model):
    target = VisTarget(hook="enc.act2", unit=3)
    res = run_job(visualise(model, target, param="image", steps=60, seed=0))
    rnd = random_baseline(model, target, param="image", n=32)
    assert res.image.shape == (40, 40)
    assert res.image.min() >= 0 and res.image.max() <= 1
    assert res.activation > rnd.max()


def test_sae_feature_electrodes_beats_random(model):
    sae = SparseAutoencoder(SAEConfig(8, 12, kind="l1"), generator=torch.Generator().manual_seed(1))
    target = VisTarget(hook="enc.act3", sae=sae, feature=5, mode="spatial")
    res = run_job(visualise(model, target, param="electrodes", make_input=_render, n_electrodes=4,
                            steps=80, lr=0.2, seed=0))
    rnd = random_baseline(model, target, param="electrodes", make_input=_render, n_electrodes=4, n=32)
    assert res.electrodes.shape == (4,) and ((res.electrodes > 0) & (res.electrodes < 1)).all()
    # the image is what the operator makes of the optimised electrodes
    assert np.allclose(res.image, _render(torch.from_numpy(res.electrodes)[None])[0, 0].numpy(), atol=1e-5)
    assert res.activation >= rnd.max()
    assert res.history[-1] > res.history[0]


def test_decoder_only_model_takes_electrodes():
    torch.manual_seed(0)
    dec = DecoderOnly(ModelConfig(kind="decoder", filters=(4, 8, 8), latent_dim=32, n_electrodes=32)).eval()
    target = VisTarget(hook="dec.act1", unit=0)
    with pytest.raises(ConfigError, match="electrodes parametrisation"):
        run_job(visualise(dec, target, param="image"))
    res = run_job(visualise(dec, target, param="electrodes", steps=40, lr=0.2))
    assert res.activation > random_baseline(dec, target, param="electrodes", n=32).max()
    assert all(p.requires_grad for p in dec.parameters())  # flags restored


def test_cancel_and_bad_targets(model):
    token = CancelToken()
    job = visualise(model, VisTarget(hook="enc.act1", unit=0), steps=100, report_every=1, cancel=token)
    next(job)
    token.cancel()
    from eegmi.errors import Cancelled
    with pytest.raises(Cancelled):
        next(job)
    with pytest.raises(ConfigError, match="out of range"):
        run_job(visualise(model, VisTarget(hook="enc.act1", unit=99), steps=2))
