"""``eegmi analyze propagation|linearity|pick-interpolate|saliency|sanity`` on a tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegmi.cli import main
from eegmi.data.preprocess import ClipScaler
from eegmi.models import ConvVAE, ModelConfig
from eegmi.training.checkpoint import save_checkpoint

SIZE = 16


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = ConvVAE(ModelConfig(kind="vae", image_size=SIZE, latent_dim=8, filters=(4, 8, 8)))
    meta = {"name": "tiny", "scaler": ClipScaler(lo=-1.0, hi=1.0).to_dict(),
            "injection": {"marks": True, "occlusion": False}, "montage": {"name": "biosemi32"},
            "operator": {"size": SIZE, "method": "cubic"}}
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", model, meta)


def _json(capsys, argv):
    code = main(argv + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_propagation_cli_writes_outputs(ckpt, capsys, tmp_path):
    out = tmp_path / "prop"
    res = _json(capsys, ["analyze", "propagation", str(ckpt), "--amplitudes", "0.5", "1",
                         "--out", str(out)])
    assert res["model"] == "tiny" and res["amplitudes"] == [0.5, 1.0]
    assert np.asarray(res["latent_matrix"]).shape == (32, 8)
    assert {r["layer"] for r in res["layers"]} >= {"enc.conv1", "latent.mu", "out"}
    for name in ("propagation.npz", "propagation.json", "latent_matrix.png", "semanticity.png",
                 "output_onehots.png"):
        assert (out / name).stat().st_size > 0
    with np.load(out / "propagation.npz") as z:
        assert z["latent_matrix"].shape == (32, 8)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_linearity_cli(ckpt, capsys, tmp_path):
    res = _json(capsys, ["analyze", "linearity", str(ckpt), "--inputs", "80", "--set-sizes", "2",
                         "--n-sets", "2"])
    r2 = {row["layer"]: row["r2"] for row in res["layers"]}
    assert r2["enc.conv1"] == pytest.approx(1.0, abs=1e-3)  # conv of a linear image


def _tiny_recording(path):
    from eegmi.data.loaders import save_npz
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData

    rng = np.random.default_rng(0)
    values = 0.06 * np.cumsum(rng.normal(size=(80, 32)), axis=0).astype(np.float32)  # unclipped by ±1
    data = EEGData(values, tuple(DEAP_CHANNELS), 128.0, np.zeros(80, np.int16),
                   np.repeat(np.arange(4), 20).astype(np.int32))
    return save_npz(data, path)


def test_pick_interpolate_cli_heldout_random_and_errors(ckpt, capsys, tmp_path):
    data = str(_tiny_recording(tmp_path / "rec.npz"))
    res = _json(capsys, ["analyze", "pick-interpolate", str(ckpt), str(ckpt), "--data", data,
                         "--out", str(tmp_path / "pi")])
    assert len(res["table"]) == 2 and res["table"][0]["latent_dim"] == 8
    assert res["table"][0]["interpolate"] == pytest.approx(res["table"][1]["interpolate"])
    tiny = res["models"]["tiny"]
    assert tiny["inputs"]["kind"] == "heldout" and tiny["inputs"]["n"] == 80
    assert "held-out frames" in tiny["inputs"]["description"]
    assert set(tiny["controls"]) == {"exact", "rotated", "untrained", "pca"}
    assert tiny["controls"]["exact"]["interpolate"] == pytest.approx(1.0, abs=1e-5)
    assert tiny["controls"]["rotated"]["pick_r2"] == pytest.approx(1.0, abs=1e-5)
    assert tiny["controls"]["rotated"]["axis_alignment"] < 0.9
    assert tiny["controls"]["pca"]["latent_dim"] == 8
    assert (tmp_path / "pi" / "pick_interpolate.png").exists()
    with np.load(tmp_path / "pi" / "pick_interpolate.npz") as z:
        assert z["tiny_model_pick_r2"].shape == (32,)
    # random mixes on request, said so
    res = _json(capsys, ["analyze", "pick-interpolate", str(ckpt), "--inputs", "random",
                         "--count", "64", "--no-controls"])
    tiny = res["models"]["tiny"]
    assert tiny["inputs"]["kind"] == "random" and "random mixes" in tiny["inputs"]["description"]
    assert tiny["controls"] == {}
    # the text form is a table that names its inputs
    assert main(["analyze", "pick-interpolate", str(ckpt), "--inputs", "random", "--count", "64",
                 "--no-controls"]) == 0
    out = capsys.readouterr().out
    assert "64 i.i.d. random mixes" in out and "axis alignment" in out and "interpolate" in out
    # held-out inputs without a dataset: one line, exit 2
    assert main(["analyze", "pick-interpolate", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eegmi: error:") and "--data" in err and len(err.strip().splitlines()) == 1


def test_saliency_cli(ckpt, capsys, tmp_path):
    res = _json(capsys, ["analyze", "saliency", str(ckpt), "--method", "ig,grad", "--target",
                         "pixel:8,8", "--electrodes", "Fz,Cz", "--ig-steps", "8",
                         "--out", str(tmp_path / "s")])
    assert set(res["methods"]) == {"integrated_gradients", "saliency"}
    assert res["n_inputs"] == 1 and res["methods"]["saliency"]["map_shape"] == [SIZE, SIZE]
    el = res["methods"]["integrated_gradients"]["electrodes"]
    # gradient x input style: only the two active electrodes carry IG attribution
    assert {k for k, v in el.items() if abs(v) > 0} <= {"Fz", "Cz"}
    assert (tmp_path / "s" / "saliency_maps.png").exists()
    with np.load(tmp_path / "s" / "saliency.npz") as z:
        assert z["map_saliency"].shape == (1, SIZE, SIZE)


def test_sanity_cli(ckpt, capsys):
    res = _json(capsys, ["analyze", "sanity", str(ckpt), "--methods", "grad", "gradcam",
                         "--target", "latent:1", "--inputs", "random", "--count", "4"])
    assert res["layers"] == ["fc_mu", "conv3", "conv2", "conv1"]
    assert res["inputs"]["kind"] == "random" and res["inputs"]["n"] == 4
    assert "baseline" in res["rule"]["text"] and res["rule"]["margin"] == 0.1
    m = res["methods"]["saliency"]
    assert len(m["stages"]) == 4 and m["passed"] in (True, False)
    assert res["verdicts"]["saliency"] == m["verdict"]
    assert set(m["stages"][0]["similarity"]) == {"rank_abs", "rank_signed", "ssim"}


@pytest.fixture(scope="module")
def ckpt_with_data(tmp_path_factory):
    """A tiny checkpoint whose card names its data file (so held-out frames exist)."""
    from eegmi.data.loaders import save_npz
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData

    root = tmp_path_factory.mktemp("ckpt_data")
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=(40, 32)), axis=0).astype(np.float32)
    data = save_npz(EEGData(values, tuple(DEAP_CHANNELS), 128.0, np.zeros(40, np.int16),
                            np.repeat(np.arange(2), 20).astype(np.int32)), root / "frames.npz")
    torch.manual_seed(1)
    model = ConvVAE(ModelConfig(kind="vae", image_size=SIZE, latent_dim=4, filters=(4, 4, 4)))
    meta = {"name": "tiny_data", "scaler": ClipScaler(lo=-5.0, hi=5.0).to_dict(),
            "injection": {"marks": True, "occlusion": False}, "montage": {"name": "biosemi32"},
            "operator": {"size": SIZE, "method": "cubic"}, "data": {"path": str(data)}}
    return save_checkpoint(root / "tiny_data", model, meta), data


def test_sanity_defaults_to_held_out_frames_and_prints_the_rule(ckpt_with_data, capsys):
    ckpt, data = ckpt_with_data
    # the card names its data file, but a card never chooses what is read
    code = main(["analyze", "sanity", str(ckpt), "--methods", "grad", "--count", "5"])
    assert code == 2 and "--data" in capsys.readouterr().err
    res = _json(capsys, ["analyze", "sanity", str(ckpt), "--methods", "grad", "--count", "5",
                         "--data", str(data)])
    assert res["inputs"]["kind"] == "heldout" and res["inputs"]["n"] == 5
    assert str(data) in res["inputs"]["description"]
    assert res["options"]["inputs"] == "heldout" and res["options"]["count"] == 5
    code = main(["analyze", "sanity", str(ckpt), "--methods", "grad", "--count", "5",
                 "--data", str(data)])
    out, _ = capsys.readouterr()
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["rule"].startswith("Each statistic") and "held-out" in lines["inputs"]
    assert lines["saliency"].split(" |")[0] == res["verdicts"]["saliency"]


def test_sanity_without_data_says_how_to_get_inputs(ckpt, capsys):
    code = main(["analyze", "sanity", str(ckpt), "--methods", "grad"])
    _, err = capsys.readouterr()
    assert code == 2 and "--inputs random" in err and len(err.strip().splitlines()) == 1


def test_saliency_cli_uses_held_out_frames(ckpt_with_data, capsys):
    ckpt, data = ckpt_with_data
    res = _json(capsys, ["analyze", "saliency", str(ckpt), "--method", "grad", "--count", "3",
                         "--data", str(data)])
    assert res["n_inputs"] == 3 and res["inputs"]["kind"] == "heldout"
    res = _json(capsys, ["analyze", "saliency", str(ckpt), "--method", "grad", "--inputs", "random",
                         "--count", "2"])
    assert res["n_inputs"] == 2 and res["inputs"]["kind"] == "random"


@pytest.mark.parametrize("argv, needle", [
    (["saliency", "{ckpt}", "--target", "latent:99"], "latent"),
    (["saliency", "{ckpt}", "--target", "pixel:99,1"], "outside"),
    (["saliency", "{ckpt}", "--method", "lime"], "unknown saliency method"),
    (["saliency", "{ckpt}", "--electrodes", "Qz"], "unknown electrode"),
    (["propagation", "{missing}"], ""),
])
def test_cli_errors_are_one_line(ckpt, capsys, tmp_path, argv, needle):
    argv = [a.format(ckpt=ckpt, missing=tmp_path / "nope") for a in argv]
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("eegmi: error:") and len(err.strip().splitlines()) == 1
    assert needle in err


def test_data_frames_are_scaled_and_used(ckpt, capsys, tmp_path):
    frames = np.random.default_rng(0).normal(0.0, 0.5, size=(90, 32)).astype(np.float32)
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    res = _json(capsys, ["analyze", "linearity", str(ckpt), "--data", str(path), "--inputs", "80",
                         "--set-sizes", "2", "--n-sets", "1"])
    assert res["source"] == "frames" and res["n_inputs"] == 80
    code = main(["analyze", "linearity", str(ckpt), "--data", str(tmp_path / "none.npy")])
    _, err = capsys.readouterr()
    assert code == 2 and "none.npy" in err and len(err.strip().splitlines()) == 1
