"""`eegmi sae train / evaluate` end to end on a tiny checkpoint and on raw matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_vae_checkpoint import save_tiny_vae

from eegmi.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sae_cli")
    save_tiny_vae(root / "model")
    rng = np.random.default_rng(0)
    np.save(root / "eeg.npy", (0.5 * rng.standard_normal((300, 32))).astype(np.float32))
    np.save(root / "X.npy", rng.random((400, 12)).astype(np.float32))
    bad = rng.random((50, 12)).astype(np.float32)
    bad[7, 3] = np.nan
    np.save(root / "bad.npy", bad)
    return root


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_and_evaluate_on_model_layer(files, capsys):
    out = files / "sae_model"
    rc = main(["sae", "train", str(files / "model"), "--layer", "enc.act3", "--mode", "spatial",
               "--data", str(files / "eeg.npy"), "--dict-size", "16", "--k", "3", "--steps", "30",
               "--filter", "magnitude:0.5", "--max-frames", "40", "--out", str(out), "--json"])
    assert rc == 0
    res = _json(capsys)
    assert res["hook"] == "enc.act3" and res["d_in"] == 8 and res["train_vectors"] == 40 * 25 // 2
    assert res["filter"]["kept_fraction"] == 0.5 and len(res["filter"]["position_map"]) == 5
    assert res["metrics"]["l0"] <= 3.0 + 1e-9
    assert {"model_mse_clean", "model_mse_spliced", "model_ssim_spliced"} <= set(res["metrics"])
    dec = np.load(out / "decoder.npy", allow_pickle=False)
    assert dec.shape == (16, 8)
    meta = json.loads((out / "sae.json").read_text())
    assert meta["mode"] == "spatial" and meta["layer_shape"] == [8, 5, 5]
    assert meta["provenance"]["model"] == "tiny"

    # the card names the data file, but a card never chooses what eegmi reads
    assert main(["sae", "evaluate", str(out), "--max-frames", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sae.json" in err and "--data" in err
    rc = main(["sae", "evaluate", str(out), "--max-frames", "10", "--gallery", str(files / "g.npz"),
               "--data", str(files / "eeg.npy"), "--json"])
    assert rc == 0
    ev = _json(capsys)
    assert ev["frames"] == 10 and ev["metrics"]["n_inputs"] == 250
    with np.load(files / "g.npz", allow_pickle=False) as g:
        assert g["frequency"].shape == (16,) and g["top_map"].shape == (16, 5, 5)
        assert g["electrode_drive"].shape == (16, 32)


def test_train_on_activation_matrix_and_errors(files, capsys):
    out = files / "sae_x"
    assert main(["sae", "train", "--activations", str(files / "X.npy"), "--dict-size", "24",
                 "--l1", "0.05", "--steps", "20", "--out", str(out), "--json"]) == 0
    res = _json(capsys)
    assert res["d_in"] == 12 and res["kind"] == "l1" and res["metrics"]["n_inputs"] == 40
    assert main(["sae", "evaluate", str(out), "--activations", str(files / "X.npy"), "--json"]) == 0
    assert _json(capsys)["metrics"]["n_inputs"] == 400

    assert main(["sae", "evaluate", str(out), "--activations", str(files / "eeg.npy")]) == 2
    err = capsys.readouterr().err
    assert "width 32 does not match the SAE input width 12" in err and err.count("\n") == 1

    assert main(["sae", "train", "--activations", str(files / "bad.npy"), "--dict-size", "8",
                 "--out", str(files / "nan_out")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert not (files / "nan_out").exists()

    assert main(["sae", "train", "--activations", str(files / "X.npy"), "--dict-size", "8",
                 "--filter", "gradcam:0.5", "--out", str(files / "gc")]) == 2
    assert "Grad-CAM" in capsys.readouterr().err

    assert main(["sae", "train", str(files / "model"), "--layer", "enc.nope", "--data",
                 str(files / "eeg.npy"), "--dict-size", "8", "--out", str(files / "bad_layer")]) == 2
    err = capsys.readouterr().err
    assert "unknown layer 'enc.nope'" in err and "enc.act3" in err
