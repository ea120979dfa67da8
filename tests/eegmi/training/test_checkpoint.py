"""Checkpoints: round trip, bundled names, and every bad-input path (nothing overwritten)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_training import tiny_data, tiny_experiment

from eegmi.errors import CheckpointError
from eegmi.jobs import run_job
from eegmi.models import ModelConfig, build_model
from eegmi.training.checkpoint import (
    list_bundled,
    load_checkpoint,
    load_train_state,
    resolve_model,
    save_checkpoint,
    save_train_state,
)
from eegmi.training.loop import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "vae"
    run_job(train(tiny_experiment("vae"), tiny_data(), out))
    return out


def test_round_trip_restores_model_and_metadata(trained) -> None:
    loaded = load_checkpoint(trained)
    assert loaded.config == ModelConfig(kind="vae", latent_dim=32, filters=(4, 8, 8))
    weights = load_file(str(trained / "model.safetensors"))
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, weights[key])
    assert not loaded.model.training
    assert loaded.injection_config.marks and not loaded.injection_config.occlusion
    assert loaded.operator.size == 40 and loaded.operator.method == "cubic"
    assert loaded.scaler.to_dict() == loaded.meta["scaler"]
    assert loaded.meta["split"]["sizes"]["train"] > 0
    # the card's file form and the path forms all resolve to the folder
    assert resolve_model(trained / "model.json") == trained
    assert load_checkpoint(trained / "model.safetensors").path == trained


def test_shape_mismatch_names_tensor(trained, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    other = build_model(ModelConfig(kind="vae", latent_dim=27, filters=(4, 8, 8)))
    save_file({k: v.contiguous() for k, v in other.state_dict().items()},
              str(bad / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    assert "fc_mu.weight" in str(info.value) and "model.safetensors" in str(info.value)


def test_missing_tensor_and_truncated_file(trained, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    weights = load_file(str(bad / "model.safetensors"))
    del weights["decoder.fc.bias"]
    save_file(weights, str(bad / "model.safetensors"))
    with pytest.raises(CheckpointError, match="decoder.fc.bias"):
        load_checkpoint(bad)
    shutil.copy(trained / "model.safetensors", bad / "model.safetensors")
    raw = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(bad)


def test_bad_card(trained, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    card = json.loads((bad / "model.json").read_text())
    card["config"]["activation"] = "swish"
    (bad / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="activation"):
        load_checkpoint(bad)
    (bad / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="model.json"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no model checkpoint"):
        resolve_model(tmp_path / "nowhere")


def test_float16_weights_halve_and_load_as_float32(trained, tmp_path) -> None:
    loaded = load_checkpoint(trained)
    save_checkpoint(tmp_path / "h", loaded.model, dict(loaded.meta), dtype="float16")
    size16 = (tmp_path / "h" / "model.safetensors").stat().st_size
    size32 = (trained / "model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    half = load_checkpoint(tmp_path / "h")
    for key, value in half.model.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.allclose(value, loaded.model.state_dict()[key], atol=1e-2, rtol=1e-3)


def test_train_state_round_trip(tmp_path) -> None:
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.int64)}
    save_train_state(tmp_path, tensors, {"epoch": 3, "best": float("inf")})
    got, state = load_train_state(tmp_path)
    assert state["epoch"] == 3 and state["best"] == float("inf")
    assert torch.equal(got["a"], tensors["a"]) and torch.equal(got["b"], tensors["b"])
    (tmp_path / "train_state.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError):
        load_train_state(tmp_path)


def test_bundled_listing_and_names(trained, tmp_path, monkeypatch) -> None:
    res = tmp_path / "res"
    shutil.copytree(trained, res / "models" / "E9")
    monkeypatch.setenv("EEGMI_RESOURCES", str(res))
    listed = list_bundled()
    assert [m["name"] for m in listed] == ["E9"]
    assert np.isfinite(listed[0]["metrics"]["test_ssim"])
    assert resolve_model("e9") == res / "models" / "E9"
    assert load_checkpoint("E9").config.kind == "vae"


def test_card_without_layout_loads_the_legacy_injection(trained, tmp_path) -> None:
    import json

    from eegmi.training.checkpoint import load_checkpoint

    card = json.loads((trained / "model.json").read_text())
    assert card["injection"]["layout"] == "rim"  # new runs record their layout
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    del card["injection"]["layout"]
    (old / "model.json").write_text(json.dumps(card))
    assert load_checkpoint(old).injection_config.layout == "ranked12"
    assert load_checkpoint(trained).injection_config.layout == "rim"
