"""``eegmi train / evaluate / models`` end to end on tiny data, including bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tiny_training import TINY_TOML, tiny_data

from eegmi.cli import main
from eegmi.data.loaders import save_npz
from eegmi.data.recording import EEGData


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = tiny_data()
    save_npz(data, root / "tiny.npz")
    (root / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    return root


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_evaluate_matches_card(files, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, err = _run(capsys, ["train", "--experiment", str(files / "tiny.toml"),
                                      "--data", str(files / "tiny.npz"), "--out", str(out),
                                      "--epochs", "1", "--json"])
    assert code == 0, err
    result = json.loads(stdout)
    assert result["epochs"] == 1 and 0 < result["test_ssim"] <= 1
    card = json.loads((out / "model.json").read_text())
    assert "--epochs 1" in card["command"]
    code, stdout, err = _run(capsys, ["evaluate", str(out), "--data", str(files / "tiny.npz"),
                                      "--json"])
    assert code == 0, err
    ev = json.loads(stdout)
    assert ev["split"] == "test" and ev["n"] == card["split"]["sizes"]["test"]
    for key in ("mse", "mae", "ssim", "ssim_head"):
        assert ev[key] == pytest.approx(card["metrics"]["test_" + key], rel=1e-4)
    # a second train into the same folder without --resume leaves it untouched
    before = (out / "model.safetensors").read_bytes()
    code, _, err = _run(capsys, ["train", "--experiment", str(files / "tiny.toml"),
                                 "--data", str(files / "tiny.npz"), "--out", str(out)])
    assert code == 2 and "already holds" in err and len(err.strip().splitlines()) == 1
    assert (out / "model.safetensors").read_bytes() == before
    # --resume extends the run by one epoch
    code, stdout, err = _run(capsys, ["train", "--experiment", str(files / "tiny.toml"),
                                      "--data", str(files / "tiny.npz"), "--out", str(out),
                                      "--epochs", "2", "--resume", "--json"])
    assert code == 0, err
    assert json.loads(stdout)["epochs"] == 2
    commands = json.loads((out / "model.json").read_text())["commands"]
    assert len(commands) == 2 and commands[1].endswith("--resume")


def test_bad_config_is_one_line_and_writes_nothing(files, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML + "colour = 'red'\n", encoding="utf-8")
    out = tmp_path / "never"
    code, _, err = _run(capsys, ["train", "--experiment", str(bad), "--out", str(out)])
    assert code == 2 and "bad.toml" in err and "colour" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    code, _, err = _run(capsys, ["train", "--experiment", str(files / "tiny.toml"),
                                 "--batch-size", "0", "--out", str(out)])
    assert code == 2 and "training.batch_size" in err and not out.exists()


def test_data_with_wrong_channels(files, tmp_path, capsys) -> None:
    data = tiny_data()
    names = list(data.ch_names)
    names[5] = "XX9"  # one channel the montage does not have
    odd = EEGData(np.asarray(data.values), tuple(names), data.sfreq, data.subject, data.trial)
    save_npz(odd, tmp_path / "odd.npz")
    out = tmp_path / "never"
    code, _, err = _run(capsys, ["train", "--experiment", str(files / "tiny.toml"),
                                 "--data", str(tmp_path / "odd.npz"), "--out", str(out)])
    assert code == 2 and "odd.npz" in err and not out.exists()
    assert len(err.strip().splitlines()) == 1


def test_evaluate_bad_model_and_models_listing(files, tmp_path, capsys, monkeypatch) -> None:
    code, _, err = _run(capsys, ["evaluate", str(tmp_path / "nothing"), "--json"])
    assert code == 2 and "nothing" in err
    out = tmp_path / "run"
    assert main(["train", "--experiment", str(files / "tiny.toml"), "--data",
                 str(files / "tiny.npz"), "--out", str(out)]) == 0
    res = tmp_path / "res"
    shutil.copytree(out, res / "models" / "E1")
    monkeypatch.setenv("EEGMI_RESOURCES", str(res))
    capsys.readouterr()
    code, stdout, _ = _run(capsys, ["models", "--json"])
    models = json.loads(stdout)["models"]
    assert code == 0 and [m["name"] for m in models] == ["E1"]
    assert models[0]["metrics"]["test_mse"] > 0
    code, stdout, _ = _run(capsys, ["models"])
    assert code == 0 and "E1" in stdout


def test_evaluate_shows_the_pca_baseline(files, tmp_path, capsys) -> None:
    """PCA with the model's latent size, fitted on the training images, on the same test
    frames; the images are linear in 32 clipped values, so PCA-32 is exact."""
    out = tmp_path / "run"
    assert main(["train", "--experiment", str(files / "tiny.toml"), "--data",
                 str(files / "tiny.npz"), "--out", str(out)]) == 0
    capsys.readouterr()
    code, stdout, err = _run(capsys, ["evaluate", str(out), "--data", str(files / "tiny.npz"),
                                      "--json"])
    assert code == 0, err
    ev = json.loads(stdout)
    base = ev["baseline"]
    assert base["method"] == "pca" and base["k"] == 32
    assert base["image_rank"] <= 32
    assert base["mse"] < 1e-9 and base["ssim_head"] > 0.9999  # PCA-32 is exact here
    assert "linear function of the 32 clipped" in base["note"]
    assert base["linear_decoder"]["mse"] < 1e-9  # E1-like decoder: the operator itself
    assert "PCA-32 is exact" in ev["comparison"]
    code, text, err = _run(capsys, ["evaluate", str(out), "--data", str(files / "tiny.npz")])
    assert code == 0, err
    assert "baseline_pca32_mse:" in text and "note: linear baseline: PCA-32" in text
    assert "ssim_head:" in text
