"""Hostile and careless experiment presets: refused before anything is built or written."""

from __future__ import annotations

import pytest
from hostile import refused
from tiny_training import TINY_TOML, tiny_data

from eegmi.data.loaders import save_npz
from eegmi.errors import ConfigError
from eegmi.training.experiments import load_experiment


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_presets")
    return save_npz(tiny_data(), root / "tiny.npz")


# (id, TOML text appended to / replacing the tiny preset, a fragment of the message)
PRESET_CASES = [
    ("lr-inf", "lr = inf", "training.lr"),
    ("lr-nan", "lr = nan", "training.lr"),
    ("lr-zero", "lr = 0.0", "training.lr"),
    ("weight-decay-inf", "weight_decay = inf", "training.weight_decay"),
    ("beta-inf", "beta = inf", "training.beta"),
    ("beta-nan", "beta = nan", "training.beta"),
    ("factor-nan", "factor = nan", "training.factor"),
    ("epochs-negative", "epochs = -3", "training.epochs"),
    ("epochs-huge", "epochs = 10000000000", "training.epochs"),
    ("batch-huge", "batch_size = 10000000000", "training.batch_size"),
    ("seed-negative", "seed = -1", "training.seed"),
    ("seed-huge", "seed = 9223372036854775807", "training.seed"),
    ("patience-negative", "patience = -1", "training.patience"),
    ("lr-string", 'lr = "fast"', "training.lr"),
]

TOP_CASES = [
    ("mark-value-nan", "[injection]\nmark_value = nan\n", "injection.mark_value"),
    ("clip-nan", "[data]\nclip_low = nan\n", "data.clip_low"),
    ("fractions-nan", "[data]\nfractions = [nan, 0.5, 0.5]\n", "data.fractions"),
    ("fractions-long", "[data]\nfractions = [" + ", ".join(["0.0"] * 100) + "]\n",
     "data.fractions"),
    ("max-frames-negative", "[data]\nmax_frames = -5\n", "data.max_frames"),
    ("split-seed-huge", "[data]\nsplit_seed = 99999999999999\n", "data.split_seed"),
    ("source-empty", '[data]\nsource = ""\n', "data.source"),
]

MODEL_CASES = [
    ("filters-huge", "filters = [1000000000, 1000000000, 1000000000]", "model.filters"),
    ("image-size-huge", "image_size = 1048576", "model.image_size"),
    ("latent-huge", "latent_dim = 100000000", "model.latent_dim"),
    ("slope-nan", "leaky_slope = nan", "model.leaky_slope"),
    ("dropout-inf", "dropout = inf", "model.dropout"),
]


def _without(key: str, toml: str = TINY_TOML) -> str:
    """The tiny preset without its own ``key = ...`` line (TOML forbids setting it twice)."""
    return "".join(line + "\n" for line in toml.splitlines()
                   if not line.startswith(f"{key} ="))


def _train(tmp_path, capsys, toml: str, data, *fragments: str, extra=()):
    path = tmp_path / "x.toml"
    path.write_text(toml, encoding="utf-8")
    out = tmp_path / "out"
    refused(capsys, ["train", "--experiment", str(path), "--data", str(data),
                     "--out", str(out), *extra], str(path), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("line,fragment", [c[1:] for c in PRESET_CASES],
                         ids=[c[0] for c in PRESET_CASES])
def test_bad_training_value_refused(tmp_path, capsys, data, line, fragment) -> None:
    _train(tmp_path, capsys, _without(line.split()[0]) + line + "\n", data, fragment)


@pytest.mark.parametrize("text,fragment", [c[1:] for c in TOP_CASES],
                         ids=[c[0] for c in TOP_CASES])
def test_bad_section_value_refused(tmp_path, capsys, data, text, fragment) -> None:
    _train(tmp_path, capsys, TINY_TOML + text, data, fragment)


@pytest.mark.parametrize("line,fragment", [c[1:] for c in MODEL_CASES],
                         ids=[c[0] for c in MODEL_CASES])
def test_bad_model_size_refused(tmp_path, capsys, data, line, fragment) -> None:
    toml = _without(line.split()[0]).replace("[model]\n", f"[model]\n{line}\n")
    _train(tmp_path, capsys, toml, data, fragment)


@pytest.mark.parametrize("flag,value", [("--lr", "inf"), ("--lr", "nan"),
                                        ("--weight-decay", "inf"), ("--epochs", "-1"),
                                        ("--seed", str(2**70)), ("--batch-size", "0")])
def test_bad_flag_refused(tmp_path, capsys, data, flag, value) -> None:
    path = tmp_path / "x.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    err = refused(capsys, ["train", "--experiment", str(path), "--data", str(data),
                           "--out", str(tmp_path / "out"), flag, value],
                  f"{flag}: ", flag.strip("-").replace("-", "_"))
    assert str(path) not in err  # the file is fine: the flag is named instead
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", "..", ".hidden", "a/b", "a\\b",
                                  "x" * 101, "tab\tname"])
def test_name_cannot_leave_runs(tmp_path, capsys, data, monkeypatch, name) -> None:
    """A preset name becomes runs/<name>: it must be one plain folder name."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "x.toml"
    path.write_text(TINY_TOML.replace('name = "tiny"', f"name = {name!r}".replace("'", '"')
                                      if "\\" not in name and "\t" not in name else
                                      f"name = '{name}'"), encoding="utf-8")
    refused(capsys, ["train", "--experiment", str(path), "--data", str(data)], str(path), "name")
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("payload,fragment", [
    (b"a = " + b"[" * 100_000 + b"]" * 100_000, "not a valid TOML"),
    (b"[model]\nkind = \"\xff\xfe\"\n", "not a valid TOML"),
    (b"[model\n", "not a valid TOML"),
    (b"model = 3\n", "model: expected a table"),
    (b"[training]\nlr = 1" + b"0" * 5000 + b"\n", "digits"),
    (b"# " + b"x" * (2 << 20) + b"\n", "bytes"),
])
def test_unparseable_preset_refused(tmp_path, capsys, data, payload, fragment) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes(payload)
    refused(capsys, ["train", "--experiment", str(path), "--data", str(data),
                     "--out", str(tmp_path / "out")], str(path), fragment)
    assert not (tmp_path / "out").exists()


def test_fifo_preset_refused(tmp_path, capsys, data) -> None:
    import os

    fifo = tmp_path / "x.toml"
    os.mkfifo(fifo)
    refused(capsys, ["train", "--experiment", str(fifo), "--data", str(data)], str(fifo),
            "not a regular file")


def test_bundled_presets_still_load() -> None:
    for name in ("E1", "E2", "E3", "E4", "E5", "stagewise", "pick_init"):
        assert load_experiment(name).name == name
    with pytest.raises(ConfigError):
        load_experiment("nonexistent")
