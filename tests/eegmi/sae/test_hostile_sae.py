"""Hostile and broken SAE folders: one line naming the file, non-zero exit, nothing allocated."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hostile import DEEP, edit_json, raw_safetensors, refused
from safetensors.torch import load_file, save_file

from eegmi.errors import CheckpointError
from eegmi.sae.io import load_sae, save_sae
from eegmi.sae.model import SAEConfig, SparseAutoencoder

NAN = float("nan")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_sae")
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=12, n_features=24))
    np.save(root / "X.npy", np.random.default_rng(0).random((40, 12)).astype(np.float32))
    return save_sae(root / "sae", sae, {"hook": "enc.act3", "mode": "spatial",
                                        "layer_shape": [12, 5, 5]})


@pytest.fixture
def sae_dir(good, tmp_path):
    return shutil.copytree(good, tmp_path / "sae")


def _cfg(key, value):
    return lambda d: d["config"].__setitem__(key, value)


def _top(key, value):
    return lambda d: d.__setitem__(key, value)


META_CASES = [
    ("n-features-huge", _cfg("n_features", 10**9), "n_features"),
    ("d-in-huge", _cfg("d_in", 10**9), "d_in"),
    ("product-huge", lambda d: d["config"].update(d_in=2**16, n_features=2**16), "weights per"),
    ("d-in-string", _cfg("d_in", "12"), "d_in"),
    ("d-in-bool", _cfg("d_in", True), "d_in"),
    ("d-in-zero", _cfg("d_in", 0), "d_in"),
    ("l1-nan", _cfg("l1", NAN), "l1"),
    ("l1-inf", _cfg("l1", float("inf")), "l1"),
    ("k-zero", lambda d: d["config"].update(kind="topk", k=0), "k"),
    ("kind-list", _cfg("kind", ["l1"]), "kind"),
    ("kind-unknown", _cfg("kind", "evil"), "kind"),
    ("unknown-key", _cfg("evil", 1), "evil"),
    ("config-missing", lambda d: d.__delitem__("config"), "config"),
    ("config-list", _top("config", [12, 24]), "config"),
    ("format", _top("format", "other"), "format"),
    ("meta-list", lambda d: [d], "format"),
    ("layer-shape-huge", _top("layer_shape", [10**9, 10**9]), "layer_shape"),
    ("layer-shape-mismatch", _top("layer_shape", [7, 5, 5]), "layer_shape"),
    ("layer-shape-strings", _top("layer_shape", ["12", 5, 5]), "layer_shape"),
    ("layer-shape-deep", _top("layer_shape", [12, 1, 1, 1, 1, 1, 1]), "layer_shape"),
    ("mode-evil", _top("mode", "evil"), "mode"),
    ("hook-int", _top("hook", 5), "hook"),
    ("provenance-list", _top("provenance", [1]), "provenance"),
]


@pytest.mark.parametrize("change,fragment", [c[1:] for c in META_CASES],
                         ids=[c[0] for c in META_CASES])
def test_hostile_sae_card_refused(sae_dir, capsys, change, fragment) -> None:
    edit_json(sae_dir / "sae.json", change)
    err = refused(capsys, ["sae", "evaluate", str(sae_dir), "--activations",
                           str(sae_dir.parent.parent / "X.npy")], str(sae_dir / "sae.json"),
                  fragment)
    assert err.count("bad SAE config") <= 1


@pytest.mark.parametrize("payload", [b"[" * DEEP + b"]" * DEEP, b'{"d": ' + b"9" * 10_000 + b"}",
                                     b"\xff\xfe", b""], ids=["deep", "long-int", "utf8", "empty"])
def test_unparseable_sae_card_refused(sae_dir, capsys, payload) -> None:
    (sae_dir / "sae.json").write_bytes(payload)
    refused(capsys, ["sae", "evaluate", str(sae_dir), "--activations", "X.npy"],
            str(sae_dir / "sae.json"))


def _weights(sae_dir, case):
    w = sae_dir / "sae.safetensors"
    t = load_file(str(w))
    return {
        "nan": lambda: save_file({**t, "W_enc": torch.full_like(t["W_enc"], NAN)}, str(w)),
        "inf-scale": lambda: save_file({**t, "scale": torch.tensor(float("inf"))}, str(w)),
        "zero-scale": lambda: save_file({**t, "scale": torch.tensor(0.0)}, str(w)),
        "truncated": lambda: w.write_bytes(w.read_bytes()[:100]),
        "shape": lambda: save_file({**t, "W_dec": torch.zeros(12, 25)}, str(w)),
        "int": lambda: save_file({**t, "b_dec": torch.zeros(12, dtype=torch.int64)}, str(w)),
        "huge-claim": lambda: raw_safetensors(w, {"W_enc": {"dtype": "F32",
                                                            "shape": [10**6, 10**6],
                                                            "data_offsets": [0, 4 * 10**12]}}),
        "header-length-lie": lambda: raw_safetensors(w, {}, length=2**62),
        "header-deep": lambda: raw_safetensors(w, b"[" * DEEP + b"]" * DEEP),
    }[case]


@pytest.mark.parametrize("case", ["nan", "inf-scale", "zero-scale", "truncated", "shape", "int",
                                  "huge-claim", "header-length-lie", "header-deep"])
def test_hostile_sae_weights_refused(sae_dir, capsys, case) -> None:
    _weights(sae_dir, case)()
    refused(capsys, ["sae", "evaluate", str(sae_dir), "--activations",
                     str(sae_dir.parent.parent / "X.npy")], str(sae_dir / "sae.safetensors"))
    with pytest.raises(CheckpointError):
        load_sae(sae_dir)


def test_card_names_data_file_not_read(sae_dir, capsys) -> None:
    """sae.json provenance naming a data file needs --data; the model it names is checked."""
    edit_json(sae_dir / "sae.json", lambda d: d.__setitem__(
        "provenance", {"model": "E2", "data": "/dev/zero"}))
    refused(capsys, ["sae", "evaluate", str(sae_dir)], str(sae_dir / "sae.json"), "/dev/zero",
            "--data")
    edit_json(sae_dir / "sae.json", lambda d: d.__setitem__(
        "provenance", {"model_path": ["E2"]}))
    refused(capsys, ["sae", "evaluate", str(sae_dir)], str(sae_dir / "sae.json"),
            "provenance.model_path")


def test_good_sae_still_loads(good) -> None:
    loaded = load_sae(good)
    assert loaded.sae.config.n_features == 24 and loaded.layer_shape == (12, 5, 5)
