"""Hostile and broken model checkpoints: one line naming the file, non-zero exit, no output.

Every file is generated here from a tiny good checkpoint and then broken one way.
"""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import torch
from hostile import DEEP, edit_json, raw_safetensors, refused, tiny_checkpoint
from safetensors.torch import load_file, save_file

from eegmi.data.loaders import save_npz
from eegmi.errors import CheckpointError
from eegmi.models import ModelConfig, build_model
from eegmi.training.checkpoint import load_checkpoint

NAN = float("nan")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    from tiny_training import tiny_data

    root = tmp_path_factory.mktemp("hostile_models")
    save_npz(tiny_data(), root / "tiny.npz")
    return tiny_checkpoint(root / "good")


@pytest.fixture
def ckpt(good, tmp_path):
    """A fresh copy of the good checkpoint to break."""
    return shutil.copytree(good, tmp_path / "ckpt")


def _config(key, value):
    return lambda d: d["config"].__setitem__(key, value)


def _drop(key):
    def change(d):
        del d[key]
    return change


# (id, how the card is changed, a fragment the message must contain)
CARD_CASES = [
    ("filters-huge", _config("filters", [10**9, 10**9, 10**9]), "model.filters"),
    ("filters-float", _config("filters", [4.5, 8, 8]), "model.filters"),
    ("filters-two", _config("filters", [4, 8]), "model.filters"),
    ("image-size-huge", _config("image_size", 2**20), "model.image_size"),
    ("latent-huge", _config("latent_dim", 10**6), "model.latent_dim"),
    ("electrodes-huge", _config("n_electrodes", 10**9), "model.n_electrodes"),
    ("params-huge", lambda d: d["config"].update(kind="vae", image_size=256, latent_dim=4096,
                                                 filters=[1024, 1024, 1024]), "parameters"),
    ("slope-nan", _config("leaky_slope", NAN), "model.leaky_slope"),
    ("slope-inf", _config("leaky_slope", float("inf")), "model.leaky_slope"),
    ("dropout-string", _config("dropout", "0.1"), "model.dropout"),
    ("dropout-nan", _config("dropout", NAN), "model.dropout"),
    ("int-beyond-float", _config("leaky_slope", 10**400), "model.leaky_slope"),
    ("kind-list", _config("kind", ["vae"]), "model.kind"),
    ("config-list", lambda d: d.__setitem__("config", [1, 2]), "config"),
    ("config-missing", _drop("config"), "config"),
    ("card-list", lambda d: [d], "config"),
    ("card-string", lambda d: "model", "config"),
    ("unknown-key", _config("evil", 1), "model.evil"),
    ("scaler-missing", _drop("scaler"), "scaler.lo"),
    ("scaler-list", lambda d: d.__setitem__("scaler", [1, 2]), "'scaler' must be a table"),
    ("scaler-nan", lambda d: d["scaler"].__setitem__("lo", NAN), "scaler.lo"),
    ("scaler-string", lambda d: d["scaler"].__setitem__("hi", "20"), "scaler.hi"),
    ("scaler-reversed", lambda d: d["scaler"].update(lo=5.0, hi=-5.0), "lo < hi"),
    ("scaler-huge", lambda d: d["scaler"].__setitem__("hi", 1e300), "scaler.hi"),
    ("marks-string", lambda d: d["injection"].__setitem__("marks", "false"), "injection.marks"),
    ("mark-value-nan", lambda d: d["injection"].__setitem__("mark_value", NAN),
     "injection.mark_value"),
    ("injection-int", lambda d: d.__setitem__("injection", 3), "'injection' must be a table"),
    ("operator-size-huge", lambda d: d["operator"].__setitem__("size", 100_000), "operator.size"),
    ("operator-size-other", lambda d: d["operator"].__setitem__("size", 48), "operator.size"),
    ("operator-method", lambda d: d["operator"].__setitem__("method", "evil"), "operator.method"),
    ("montage-path", lambda d: d["montage"].__setitem__("name", "/etc/passwd"),
     "built-in montage"),
    ("montage-relative", lambda d: d["montage"].__setitem__("name", "../../x.elc"),
     "built-in montage"),
    ("experiment-montage-path", lambda d: d.__setitem__(
        "experiment", {"data": {"montage": "/etc/passwd.elc"}}), "experiment.data.montage"),
    ("experiment-list", lambda d: d.__setitem__("experiment", [1]),
     "'experiment' must be a table"),
    ("montage-list", lambda d: d.__setitem__("montage", ["biosemi32"]),
     "'montage' must be a table"),
    ("montage-other-size", lambda d: d["montage"].__setitem__("name", "biosemi64"),
     "64 electrodes"),
]


@pytest.mark.parametrize("change,fragment", [c[1:] for c in CARD_CASES],
                         ids=[c[0] for c in CARD_CASES])
def test_hostile_card_refused(ckpt, good, capsys, change, fragment) -> None:
    edit_json(ckpt / "model.json", change)
    refused(capsys, ["evaluate", str(ckpt), "--data", str(good.parent / "tiny.npz")],
            str(ckpt / "model.json"), fragment)


@pytest.mark.parametrize("name,payload,fragment", [
    ("deep", b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
    ("long-int", b'{"config": {"latent_dim": ' + b"9" * 100_000 + b"}}", "cannot read"),
    ("not-utf8", b'{"config": "\xff\xfe"}', "cannot read"),
    ("truncated", b'{"config": {"kind": "vae"', "cannot read"),
    ("empty", b"", "cannot read"),
])
def test_unparseable_card_refused(ckpt, capsys, name, payload, fragment) -> None:
    (ckpt / "model.json").write_bytes(payload)
    refused(capsys, ["evaluate", str(ckpt)], str(ckpt / "model.json"), fragment)


def test_oversized_card_refused(ckpt, capsys) -> None:
    with (ckpt / "model.json").open("ab") as f:  # valid JSON, padded past the limit
        f.write(b" " * (17 << 20))
    refused(capsys, ["evaluate", str(ckpt)], str(ckpt / "model.json"), "bytes")


def test_card_data_source_is_not_followed(ckpt, good, capsys) -> None:
    """A card naming a data file does not make eegmi read it; --data does."""
    edit_json(ckpt / "model.json",
              lambda d: d.__setitem__("experiment", {"data": {"source": "/dev/zero"}}))
    refused(capsys, ["evaluate", str(ckpt)], str(ckpt / "model.json"), "/dev/zero", "--data")
    assert main_ok(["evaluate", str(ckpt), "--data", str(good.parent / "tiny.npz"), "--json"],
                   capsys)["n"] > 0


def main_ok(argv, capsys) -> dict:
    from eegmi.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _weights_cases(ckpt):
    w = ckpt / "model.safetensors"
    good = load_file(str(w))
    other = build_model(ModelConfig(kind="vae", latent_dim=8, filters=(4, 8, 8)))
    return {
        "truncated": lambda: w.write_bytes(w.read_bytes()[: w.stat().st_size // 2]),
        "empty": lambda: w.write_bytes(b""),
        "garbage": lambda: w.write_bytes(b"\x00" * 64),
        "other-model": lambda: save_file({k: v.contiguous() for k, v in
                                          other.state_dict().items()}, str(w)),
        "nan": lambda: save_file({k: (v.fill_(NAN) if i == 0 else v)
                                  for i, (k, v) in enumerate(good.items())}, str(w)),
        "inf": lambda: save_file({k: (v.fill_(float("inf")) if i == 1 else v)
                                  for i, (k, v) in enumerate(good.items())}, str(w)),
        "int-dtype": lambda: save_file({k: (v.to(torch.int32) if i == 0 else v)
                                        for i, (k, v) in enumerate(good.items())}, str(w)),
        "extra-tensor": lambda: save_file({**good, "evil": torch.zeros(3)}, str(w)),
        "missing-tensor": lambda: save_file(dict(list(good.items())[1:]), str(w)),
        "huge-claim": lambda: raw_safetensors(w, {"x": {"dtype": "F32",
                                                        "shape": [10**6, 10**6],
                                                        "data_offsets": [0, 4 * 10**12]}},
                                              b"\x00" * 16),
        "header-length-lie": lambda: raw_safetensors(w, {}, b"", length=2**62),
        "header-deep": lambda: raw_safetensors(w, b"[" * DEEP + b"]" * DEEP),
        "header-not-json": lambda: raw_safetensors(w, b"\xff" * 40),
        "directory": lambda: (w.unlink(), w.mkdir()),
    }


WEIGHT_CASES = ["truncated", "empty", "garbage", "other-model", "nan", "inf", "int-dtype",
                "extra-tensor", "missing-tensor", "huge-claim", "header-length-lie",
                "header-deep", "header-not-json", "directory"]


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_hostile_weights_refused(ckpt, good, capsys, case) -> None:
    _weights_cases(ckpt)[case]()
    refused(capsys, ["evaluate", str(ckpt), "--data", str(good.parent / "tiny.npz")],
            str(ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError):
        load_checkpoint(ckpt)


def test_weights_of_another_checkpoint_refused(ckpt, good, tmp_path, capsys) -> None:
    """Weights and card from two different saves of the same architecture never mix."""
    other = tiny_checkpoint(tmp_path / "other")
    shutil.copy(other / "model.safetensors", ckpt / "model.safetensors")
    refused(capsys, ["evaluate", str(ckpt)], str(ckpt), "different checkpoints")


def test_analyze_refuses_nan_weights(ckpt, capsys) -> None:
    _weights_cases(ckpt)["nan"]()
    refused(capsys, ["analyze", "propagation", str(ckpt), "--json"],
            str(ckpt / "model.safetensors"), "NaN")


def test_good_checkpoint_still_loads(good) -> None:
    loaded = load_checkpoint(good)
    assert loaded.config.filters == (4, 8, 8)
    header = good / "model.safetensors"
    (n,) = struct.unpack("<Q", header.read_bytes()[:8])
    assert json.loads(header.read_bytes()[8:8 + n])["__metadata__"]["checkpoint"] == \
        json.loads((good / "model.json").read_text())["checkpoint"]
    for name in ("E1", "E2", "E3", "E4", "E5"):
        assert np.isfinite(load_checkpoint(name).scaler.hi)


def test_analysis_inputs_do_not_follow_card_data(ckpt, good) -> None:
    from eegmi.analysis.inputs import InputSpec, analysis_inputs
    from eegmi.errors import ConfigError

    edit_json(ckpt / "model.json",
              lambda d: d.__setitem__("experiment", {"data": {"source": "/etc/passwd"}}))
    loaded = load_checkpoint(ckpt)
    with pytest.raises(ConfigError, match="--data") as info:
        analysis_inputs(loaded)
    assert str(ckpt / "model.json") in str(info.value)
    got = analysis_inputs(loaded, InputSpec(count=8, data=str(good.parent / "tiny.npz")))
    assert got.values.shape == (8, 32)


def test_json_output_is_strict(capsys) -> None:
    """Non-finite numbers become null: --json output always parses as strict JSON."""
    from eegmi.cli import emit

    emit({"mse": float("nan"), "ssim": np.float32("inf"), "per": [1.0, -float("inf")],
          "nested": {"x": np.array([np.nan, 2.0])}}, True)
    text = capsys.readouterr().out

    def strict(token):
        raise ValueError(token)

    assert json.loads(text, parse_constant=strict) == {
        "mse": None, "ssim": None, "per": [1.0, None], "nested": {"x": [None, 2.0]}}
