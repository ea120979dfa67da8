"""The sweep spec: the grid, stable trial ids, and one-line refusals naming the file."""

from __future__ import annotations

import json

import pytest
from tiny_sweep import write_tiny_sweep

from eegmi.cli import main
from eegmi.errors import ConfigError
from eegmi.sweep.spec import load_spec


def test_grid_ids_and_settings(tmp_path) -> None:
    spec = load_spec(write_tiny_sweep(tmp_path, seeds=(0, 2), extra="""
[train.grid]
"training.weight_decay" = [1e-4, 0.5]
model.filters = [[4, 4, 4], [4, 8, 8]]
"""))
    ids = [t.id for t in spec.trials]
    assert len(ids) == 8 == len(set(ids))
    assert "tiny-seed2-wd1e-4-filters4x4x4" in ids and "tiny-seed0-wd0.5-filters4x8x8" in ids
    t = spec.trial("tiny-seed2-wd1e-4-filters4x4x4")
    assert t.params == {"experiment": "tiny", "seed": 2, "training.weight_decay": 1e-4,
                        "model.filters": [4, 4, 4]}
    exp = t.experiment
    assert exp["training"]["seed"] == 2 and exp["training"]["weight_decay"] == 1e-4
    assert list(exp["model"]["filters"]) == [4, 4, 4] and exp["training"]["epochs"] == 1
    assert exp["data"]["source"] == str((tmp_path / "tiny.npz").resolve())
    assert exp["data"]["split_seed"] == 0  # seeds vary training, never the split
    assert exp["name"] == t.id


def test_ids_are_stable_when_the_grid_grows(tmp_path) -> None:
    small = load_spec(write_tiny_sweep(tmp_path, seeds=(0,), extra="""
[train.grid]
"training.weight_decay" = [0.5]
"""))
    big = load_spec(write_tiny_sweep(tmp_path, seeds=(0, 1), extra="""
[train.grid]
"training.weight_decay" = [0.5, 1e-3]
"""))
    assert {t.id for t in small.trials} <= {t.id for t in big.trials}
    assert small.trials[0].experiment == big.trial(small.trials[0].id).experiment


def test_sae_grid(tmp_path) -> None:
    path = tmp_path / "sae.toml"
    path.write_text("""
kind = "sae"
seeds = [0]
[sae]
models = ["E3"]
layers = ["enc.act3", "dec.act1"]
dict_sizes = [64, 128]
k = [4]
l1 = [0.001]
steps = 10
""", encoding="utf-8")
    spec = load_spec(path)
    assert len(spec.trials) == 2 * 2 * 2
    ids = {t.id for t in spec.trials}
    assert {"E3-enc.act3-d64-k4-seed0", "E3-dec.act1-d128-l1_1e-3-seed0"} <= ids
    t = spec.trial("E3-dec.act1-d128-l1_1e-3-seed0")
    assert t.sae["model"] == "E3" and t.sae["options"]["sparsity"] == "l1"
    assert t.sae["options"]["steps"] == 10 and t.epochs is None


BAD = [
    ("colour = 'red'\n", "colour: unknown key"),
    ("[train]\nexperiments = ['tiny.toml']\nepochs = 3\n", "train.epochs: unknown key"),
    ("[train]\nexperiments = ['tiny.toml']\n[train.grid]\nweight_decay = [1.0]\n",
     "must be SECTION.KEY"),
    ("[train]\nexperiments = ['tiny.toml']\n[train.grid]\n\"training.wd\" = [1.0]\n",
     "training.wd: unknown key"),
    ("[train]\nexperiments = ['tiny.toml']\n[train.grid]\n\"training.weight_decay\" = [-1.0]\n",
     "training.weight_decay"),
    ("[train]\nexperiments = ['tiny.toml']\n[train.grid]\n\"training.lr\" = 0.1\n",
     "non-empty list"),
    ("seeds = [0, -1]\n[train]\nexperiments = ['tiny.toml']\n", "seeds:"),
    ("analyses = ['beta']\n[train]\nexperiments = ['tiny.toml']\n", "analyses: 'beta'"),
    ("[train]\nexperiments = ['E9']\n", "unknown experiment 'E9'"),
    ("[train]\nexperiments = ['tiny.toml']\n[analysis.alpha]\ncount = 1\n", "analysis.alpha"),
    ("[train]\nexperiments = ['tiny.toml']\n[analysis.pick_interpolate]\nfold = 3\n",
     "unknown key(s) 'fold'"),
    ("kind = 'sae'\n[sae]\nmodels = ['E3']\nlayers = ['enc.act3']\nk = [0]\n", "sae.k"),
    ("kind = 'sae'\n[train]\nexperiments = ['tiny.toml']\n", "kind = 'train'"),
    ("[train\n", "not a valid TOML file"),
]


@pytest.mark.parametrize("text, why", BAD)
def test_bad_spec_is_one_line_naming_the_file(tmp_path, capsys, text, why) -> None:
    write_tiny_sweep(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec(bad)
    assert why in str(info.value) and str(bad) in str(info.value)
    code = main(["sweep", str(bad), "--out", str(tmp_path / "never"), "--plan"])
    err = capsys.readouterr().err
    assert code == 2 and why in err and str(bad) in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "never").exists()


def test_plan_lists_trials_without_running(tmp_path, capsys) -> None:
    spec = write_tiny_sweep(tmp_path, seeds=(0, 1, 2))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--plan", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in table["trials"]] == ["tiny-seed0", "tiny-seed1", "tiny-seed2"]
    assert {r["state"] for r in table["trials"]} == {"pending"}
    assert not (tmp_path / "s").exists()


def test_bundled_example_specs() -> None:
    from eegmi.paths import resources_dir

    ladder = load_spec(resources_dir() / "sweeps" / "ladder.toml")
    assert [t.id for t in ladder.trials][:3] == ["E1-seed0", "E1-seed1", "E1-seed2"]
    assert len(ladder.trials) == 15 and ladder.analyses == ("alpha", "pick_interpolate")
    assert {t.experiment["training"]["epochs"] for t in ladder.trials} == {25}
    sae = load_spec(resources_dir() / "sweeps" / "sae_e3.toml")
    assert len(sae.trials) == 12 and "E3-dec.act1-d512-l1_0.02-seed0" in {t.id for t in sae.trials}
