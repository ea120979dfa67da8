"""eegmi.inference on tiny real models and the real biosemi32 operator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eegmi.data.topomap import get_operator
from eegmi.errors import DataError
from eegmi.inference import Inference, preview
from eegmi.models import ModelConfig, build_model
from eegmi.training.checkpoint import LoadedModel


def _loaded(kind: str = "vae", latent: int = 4) -> LoadedModel:
    torch.manual_seed(0)
    op = get_operator("biosemi32", 40, "cubic")
    if kind == "decoder":
        latent = op.n_channels
    cfg = ModelConfig(kind=kind, latent_dim=latent, filters=(4, 4, 4))
    return LoadedModel(build_model(cfg).eval(), cfg, {}, None, None, op, Path("tiny"))


@pytest.fixture(scope="module")
def vae() -> Inference:
    lm = _loaded()
    return Inference(lm, lm.operator, "cpu")


def test_forward_one_hot_matches_direct_model(vae: Inference) -> None:
    op = vae.operator
    i = op.montage.index("Cz")
    values = np.zeros(op.n_channels, np.float32)
    values[i] = 1.0
    res = vae.forward_values(values)
    r, c = np.unravel_index(np.argmax(res.image), res.image.shape)
    assert np.hypot(r - op.electrode_pixels[i, 0], c - op.electrode_pixels[i, 1]) <= 1.0
    np.testing.assert_allclose(res.model_input, res.image)  # no injection configured
    with torch.no_grad():
        x = torch.from_numpy(op.render(values))[None, None]
        out = vae.model(x)
    np.testing.assert_allclose(res.recon, out.recon[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(res.mu, out.mu[0].numpy(), atol=1e-5)
    assert res.logvar.shape == (4,)
    expected = np.mean((out.recon[0, 0].numpy() - res.image)[op.head_mask] ** 2)
    assert res.mse == pytest.approx(expected, rel=1e-4)
    # the same SSIM the training loop reports
    from eegmi.training.metrics import ssim

    want = ssim(torch.from_numpy(np.clip(res.recon, 0, 1))[None, None],
                torch.from_numpy(np.clip(res.image, 0, 1))[None, None])
    assert res.ssim == pytest.approx(float(want.reshape(-1)[0]), abs=1e-4)


def test_activations_cover_every_hook_with_per_sample_shapes(vae: Inference) -> None:
    res = vae.forward_values(np.full(32, 0.5, np.float32))
    shapes = vae.model.hook_shapes()
    assert set(res.activations) == set(vae.hook_names())
    for name, arr in res.activations.items():
        assert arr.shape == tuple(shapes[name]), name


def test_batch_equals_single(vae: Inference) -> None:
    rng = np.random.default_rng(1)
    batch = rng.random((5, 32), dtype=np.float32)
    many = vae.forward_values_batch(batch, batch_size=2)
    assert len(many) == 5
    one = vae.forward_values(batch[3])
    np.testing.assert_allclose(many[3].recon, one.recon, atol=1e-5)
    np.testing.assert_allclose(many[3].activations["enc.act1"], one.activations["enc.act1"],
                               atol=1e-5)


def test_decode_matches_model_decode_and_caches_decoder_hooks(vae: Inference) -> None:
    z = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    res = vae.decode(z)
    with torch.no_grad():
        direct = vae.model.decode(torch.from_numpy(z)[None])[0, 0].numpy()
    np.testing.assert_allclose(res.recon, direct, atol=1e-6)
    assert res.activations and all(k.startswith("dec.") or k == "out" for k in res.activations)
    assert not any(k.startswith("enc.") for k in res.activations)
    assert vae.latent_dim == 4


def test_decoder_only_model_takes_the_electrode_vector() -> None:
    lm = _loaded("decoder")
    inf = Inference(lm, lm.operator, "cpu")
    values = np.linspace(0, 1, 32, dtype=np.float32)
    res = inf.forward_values(values)
    with torch.no_grad():
        direct = lm.model(torch.from_numpy(values)[None]).recon[0, 0].numpy()
    np.testing.assert_allclose(res.recon, direct, atol=1e-5)
    assert res.mu is None
    np.testing.assert_allclose(inf.decode(values).recon, direct, atol=1e-5)


def test_bad_input_is_a_data_error(vae: Inference) -> None:
    with pytest.raises(DataError):
        vae.forward_values(np.zeros(31, np.float32))
    with pytest.raises(DataError):
        vae.forward_values(np.full(32, np.nan, np.float32))
    with pytest.raises(DataError):
        vae.decode(np.zeros(3, np.float32))


def test_preview_without_model_renders_the_input() -> None:
    op = get_operator("biosemi32", 40, "cubic")
    values = np.random.default_rng(0).random(32, dtype=np.float32)
    res = preview(op, values)
    np.testing.assert_allclose(res.image, op.render(values))
    assert res.recon is None and res.activations == {} and np.isnan(res.mse)


def test_worker_threads_leave_one_core_to_the_gui() -> None:
    import torch

    from eegmi.inference import configure_worker_threads

    before = torch.get_num_threads()
    try:
        assert configure_worker_threads(cpu_count=2) == 1
        assert torch.get_num_threads() == 1
        assert configure_worker_threads(cpu_count=8) == 7
        assert torch.get_num_threads() == 7
        assert configure_worker_threads(cpu_count=1) == 1
    finally:
        torch.set_num_threads(before)
