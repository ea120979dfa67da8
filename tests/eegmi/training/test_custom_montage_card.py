"""A model trained on a custom electrode file loads from its card without the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_training import tiny_data

from eegmi.data.montage import get_montage
from eegmi.errors import CheckpointError
from eegmi.jobs import run_job
from eegmi.training.checkpoint import load_checkpoint
from eegmi.training.experiments import ExperimentConfig
from eegmi.training.loop import train


def _write_sfp(path, montage) -> None:
    # .sfp: name x y z, in the file's units (metres here); shifted so it is not biosemi32
    lines = [f"{n}\t{x:.6f}\t{y:.6f}\t{z:.6f}" for n, (x, y, z)
             in zip(montage.ch_names, montage.pos * 0.97, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_custom_montage_model_loads_after_its_file_is_gone(tmp_path) -> None:
    cap = tmp_path / "cap.sfp"
    _write_sfp(cap, get_montage("biosemi32"))
    custom = get_montage(cap)
    exp = ExperimentConfig.from_dict({
        "name": "tiny_custom", "model": {"kind": "decoder", "latent_dim": 32, "filters": [4, 8, 8]},
        "data": {"montage": str(cap)}, "training": {"epochs": 1, "batch_size": 64}})
    run_job(train(exp, tiny_data(), tmp_path / "run"))
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert len(card["montage"]["pos"]) == 32
    cap.unlink()  # the card alone must describe the montage
    loaded = load_checkpoint(tmp_path / "run")
    assert loaded.operator.montage.ch_names == custom.ch_names
    np.testing.assert_allclose(loaded.operator.montage.pos, custom.pos, atol=1e-9)


@pytest.mark.parametrize("edit, why", [
    (lambda m: m.pop("pos"), "carries no electrode positions"),
    (lambda m: m["pos"][3].__setitem__(0, float("nan")), "montage.pos[3]"),
    (lambda m: m["pos"].pop(), "one [x, y, z] per channel"),
    (lambda m: m["ch_names"].__setitem__(1, m["ch_names"][0]), "distinct names"),
])
def test_bad_embedded_montage_is_refused(tmp_path, edit, why) -> None:
    import shutil

    from eegmi.training.checkpoint import resolve_model

    folder = tmp_path / "m"
    shutil.copytree(resolve_model("E1"), folder)
    card = json.loads((folder / "model.json").read_text())
    mont = get_montage("biosemi32")
    card["montage"] = {"name": "/somewhere/cap.sfp", "ch_names": list(mont.ch_names),
                       "pos": mont.pos.tolist()}
    card["experiment"]["data"]["montage"] = "/somewhere/cap.sfp"
    (folder / "model.json").write_text(json.dumps(card))
    assert load_checkpoint(folder).operator.montage.n_channels == 32  # the intact card loads
    edit(card["montage"])
    (folder / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=why.replace("[", r"\[").replace("]", r"\]")):
        load_checkpoint(folder)
