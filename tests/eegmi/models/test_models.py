"""Models: shapes, hook names, caching, hook cleanup, config validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.errors import ConfigError
from eegmi.models import ConvVAE, DecoderOnly, ModelConfig, SoLULayerNorm, build_model

VAE_HOOKS = ("enc.conv1 enc.act1 enc.conv2 enc.act2 enc.conv3 enc.act3 latent.mu latent.logvar "
             "latent.z dec.fc dec.deconv1 dec.act1 dec.deconv2 dec.act2 dec.deconv3 out").split()
TINY = dict(filters=(4, 8, 8), image_size=40, n_electrodes=32)


def test_vae_shapes_and_hook_names() -> None:
    model = build_model(ModelConfig(kind="vae", latent_dim=27, **TINY))
    assert isinstance(model, ConvVAE)
    assert model.hook_names() == VAE_HOOKS
    shapes = model.hook_shapes()
    assert shapes["enc.act1"] == (4, 20, 20)
    assert shapes["enc.act3"] == (8, 5, 5)
    assert shapes["latent.mu"] == (27,)
    assert shapes["dec.deconv1"] == (8, 10, 10)
    assert shapes["out"] == (1, 40, 40)
    x = torch.rand(3, 1, 40, 40)
    out = model.eval()(x)
    assert out.recon.shape == (3, 1, 40, 40)
    assert float(out.recon.min()) >= 0.0 and float(out.recon.max()) <= 1.0
    assert torch.equal(out.z, out.mu)  # eval mode: deterministic latent


def test_training_mode_samples_latent() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY)).train()
    out = model(torch.rand(2, 1, 40, 40))
    assert not torch.equal(out.z, out.mu)


def test_decoder_only_shares_decoder_names_and_keys() -> None:
    dec = build_model(ModelConfig(kind="decoder", latent_dim=32, **TINY))
    vae = build_model(ModelConfig(kind="vae", latent_dim=32, **TINY))
    assert isinstance(dec, DecoderOnly)
    assert dec.hook_names() == VAE_HOOKS[8:]
    dec_keys = set(dec.state_dict())
    vae_dec_keys = {k for k in vae.state_dict() if k.startswith("decoder.")}
    assert dec_keys == vae_dec_keys
    vals = torch.rand(5, 32)
    out, cache = dec.eval().run_with_cache(vals)
    assert torch.equal(cache["latent.z"], vals)
    assert torch.allclose(cache["out"], out.recon)


def test_run_with_cache_subset_matches_forward() -> None:
    model = build_model(ModelConfig(**TINY)).eval()
    x = torch.rand(2, 1, 40, 40)
    out, cache = model.run_with_cache(x, ["enc.act2", "latent.mu"])
    assert set(cache) == {"enc.act2", "latent.mu"}
    assert torch.allclose(cache["latent.mu"], out.mu)
    assert not cache["latent.mu"].requires_grad
    _, grad_cache = model.run_with_cache(x, ["latent.mu"], detach=False)
    assert grad_cache["latent.mu"].requires_grad
    with pytest.raises(ConfigError, match="unknown hook point"):
        model.run_with_cache(x, ["enc.nope"])


def _n_hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_removed_after_exception() -> None:
    model = build_model(ModelConfig(**TINY)).eval()
    with pytest.raises(RuntimeError):
        model.run_with_cache(torch.rand(2, 3, 40, 40))  # wrong channel count fails mid-call
    assert _n_hooks(model) == 0

    def boom(t: torch.Tensor, name: str) -> None:
        raise ValueError("inside hook")

    with pytest.raises(ValueError, match="inside hook"):
        model.run_with_hooks(torch.rand(1, 1, 40, 40), {"enc.act1": boom})
    assert _n_hooks(model) == 0


def test_run_with_hooks_replaces_activation() -> None:
    model = build_model(ModelConfig(**TINY)).eval()
    x = torch.rand(2, 1, 40, 40)
    out = model.run_with_hooks(x, {"latent.z": lambda t, n: torch.zeros_like(t)})
    expected = model.decode(torch.zeros(2, model.config.latent_dim))
    assert torch.allclose(out.recon, expected)


@pytest.mark.parametrize("act", ["leaky_relu", "relu", "gelu", "solu"])
def test_activations_and_dropout_build(act: str) -> None:
    model = build_model(ModelConfig(activation=act, dropout=0.2, **TINY)).eval()
    a = model(torch.rand(2, 1, 40, 40)).recon
    b = model(torch.rand(2, 1, 40, 40)).recon
    assert a.shape == b.shape == (2, 1, 40, 40)


def test_leaky_slope_is_used() -> None:
    model = build_model(ModelConfig(leaky_slope=0.1, **TINY))
    assert model.act1.negative_slope == pytest.approx(0.1)


def test_solu_layernorm_definition() -> None:
    torch.manual_seed(1)
    layer = SoLULayerNorm(6)
    x = torch.randn(2, 6, 3, 3)
    y = x * torch.softmax(x, dim=1)
    ref = torch.nn.functional.layer_norm(y.permute(0, 2, 3, 1), (6,)).permute(0, 3, 1, 2)
    assert torch.allclose(layer(x), ref, atol=1e-5)


@pytest.mark.parametrize("bad", [
    {"kind": "gan"}, {"activation": "tanh"}, {"image_size": 42}, {"latent_dim": 0},
    {"dropout": 1.0}, {"filters": [4, 8]}, {"wat": 1}, {"latent_dim": "32"},
    {"latent_dim": 27, "kind": "decoder"},
])
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_dict(bad, path="cfg.toml")
    assert "cfg.toml" in str(info.value)
    assert next(iter(bad)) in str(info.value)


def test_config_round_trip() -> None:
    cfg = ModelConfig(kind="vae", latent_dim=27, activation="gelu", dropout=0.1, **TINY)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_cache_recorder_is_scoped_to_the_call_the_model_and_the_thread() -> None:
    import threading

    from eegmi.models.hooks import _RECORDERS

    model = build_model(ModelConfig(**TINY)).eval()
    other = build_model(ModelConfig(**TINY)).eval()
    x = torch.rand(2, 1, 40, 40)
    with pytest.raises(RuntimeError):
        model.run_with_cache(torch.rand(2, 3, 40, 40))
    assert _RECORDERS.get() == ()  # a failed call leaves nothing recording

    seen_in_thread: list[int] = []

    def run_other() -> None:  # another thread's forward pass during ours records nothing
        seen_in_thread.append(len(_RECORDERS.get()))
        other(x)

    class Probe(torch.nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            other(x)  # a second model inside the call: its hook points are not ours
            worker = threading.Thread(target=run_other)
            worker.start()
            worker.join()
            return t

    model.hook_act1.register_forward_hook(lambda _m, _i, o: Probe()(o))
    _, cache = model.run_with_cache(x, ["enc.act1", "latent.mu"])
    assert sorted(cache) == ["enc.act1", "latent.mu"]
    assert seen_in_thread == [0]
    with torch.no_grad():
        np.testing.assert_allclose(cache["latent.mu"].numpy(), model(x).mu.numpy(), atol=1e-6)
