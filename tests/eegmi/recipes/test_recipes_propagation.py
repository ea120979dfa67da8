"""Recipes propagation / pick_compare / latent_stats: options (defaults once, strict JSON),
the one frame sampler, the pick-inputs rule and a headless rerun through the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from eegmi.analysis.inputs import InputSpec, sample_indices, scaled_frames
from eegmi.analysis.pick_options import PickInterpolateOptions
from eegmi.errors import ConfigError
from eegmi.recipes import all_recipes
from eegmi.recipes.latents import LatentStatsOptions
from eegmi.recipes.propagation import PickCompareOptions, PropagationOptions, resolve_pick


def test_recipes_are_registered() -> None:
    assert {"propagation", "pick_compare", "latent_stats"} <= set(all_recipes())


@pytest.mark.parametrize("options", [
    PropagationOptions(), PropagationOptions(amplitudes=(0.5, 1.0), pick=None, unit="neuron"),
    PickCompareOptions(models=("E1", "E3")), LatentStatsOptions(frames=7, half_range=2.5),
])
def test_options_round_trip_through_json(options) -> None:
    back = type(options).from_json(json.loads(json.dumps(options.to_json())))
    assert back == options


@pytest.mark.parametrize("cls, bad", [
    (PropagationOptions, {"amplitude": [1.0]}),
    (PropagationOptions, {"pick": {"inputs": {"kind": "heldout", "cnt": 3}}}),
    (PropagationOptions, {"pick": {"folds": 1}}),
    (PropagationOptions, {"unit": "pixel"}),
    (PropagationOptions, {"threshold": 0.0}),
    (PropagationOptions, {"linearity_inputs": -1}),
    (PickCompareOptions, {"models": "E1"}),
    (LatentStatsOptions, {"frames": 0}),
    (LatentStatsOptions, {"half_range": float("nan")}),
    (LatentStatsOptions, []),
])
def test_options_from_json_refuse_unknown_keys_and_bad_values(cls, bad) -> None:
    with pytest.raises(ConfigError):
        cls.from_json(bad)


def test_defaults_are_defined_once_and_the_cli_uses_them() -> None:
    from eegmi.cli import build_parser

    d = PropagationOptions()
    args = build_parser().parse_args(["analyze", "propagation", "E3"])
    assert (tuple(args.amplitudes), args.threshold, args.units, args.batch_size) == (
        d.amplitudes, d.threshold, d.unit, d.batch_size)
    args = build_parser().parse_args(["analyze", "pick-interpolate", "E3"])
    assert (args.count, args.folds) == (PickInterpolateOptions().inputs.count, d.pick.folds)


def test_scaled_frames_is_the_one_sampler() -> None:
    values = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    data = SimpleNamespace(values=values)
    scaler = SimpleNamespace(transform=lambda x: 2.0 * x)
    got = scaled_frames(data, scaler, 10, seed=4)
    idx = np.sort(np.random.default_rng(4).choice(40, size=10, replace=False))
    np.testing.assert_array_equal(got, 2.0 * values[idx])
    assert np.array_equal(sample_indices(np.arange(40), 10, 4), idx)
    even = scaled_frames(data, scaler, 5, spread="even")
    np.testing.assert_array_equal(even[:, 0], 2.0 * values[[0, 9, 19, 29, 39], 0])
    assert scaled_frames(data, scaler, 100).shape == (40, 3)  # fewer frames than asked
    assert scaled_frames(None, scaler, 5) is None
    with pytest.raises(ConfigError):
        scaled_frames(data, scaler, 5, spread="odd")


def test_pick_inputs_rule() -> None:
    def loaded(source):
        return SimpleNamespace(meta={"data": {"path": source}} if source else {})

    opts = PickInterpolateOptions()
    # trained on the embedded set: its own validation split, whatever the user loaded
    assert resolve_pick(loaded("synthetic"), opts, "rec.npz").inputs.data is None
    # any other model: the user's dataset
    assert resolve_pick(loaded("/x/rec.npz"), opts, "rec.npz").inputs.data == "rec.npz"
    assert resolve_pick(loaded(None), opts, "rec.npz").inputs.data == "rec.npz"
    # explicit data, random mixes or no user data: kept
    named = opts.with_data("other.npz")
    assert resolve_pick(loaded("/x/rec.npz"), named, "rec.npz") == named
    rnd = PickInterpolateOptions(inputs=InputSpec(kind="random"))
    assert resolve_pick(loaded(None), rnd, "rec.npz") == rnd
    assert resolve_pick(loaded("/x/rec.npz"), opts, None) == opts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("recipes") / "tiny"
    torch.manual_seed(2)
    model = build_model(ModelConfig(kind="vae", latent_dim=4, filters=(4, 4, 4)))
    meta = {"name": "tiny", "scaler": {"lo": -40.0, "hi": 40.0, "q_low": 5.0, "q_high": 95.0},
            "injection": {"marks": False, "occlusion": False, "mark_value": 1.0},
            "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"},
            "data": {"path": "synthetic"}}
    return str(save_checkpoint(folder, model, meta))


def test_cli_rerun_of_a_pick_compare_state_gives_the_recipe_numbers(tiny, tmp_path, capsys) -> None:
    from eegmi.cli import main
    from eegmi.jobs import run_job
    from eegmi.recipes.base import RecipeContext, state_of
    from eegmi.recipes.propagation import PICK_COMPARE

    options = PickCompareOptions(models=(tiny,), pick=PickInterpolateOptions(
        inputs=InputSpec(kind="random", count=80), controls=False))
    context = RecipeContext()
    summary = PICK_COMPARE.summary(run_job(PICK_COMPARE.run(options, context, None)))
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"panel": "propagation",
                                "analysis": state_of(PICK_COMPARE, options, context)}))
    assert main(["rerun", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recipe"] == "pick_compare"
    got, want = out["summary"]["models"][0], summary["models"][0]
    assert got["inputs"] == want["inputs"] == "80 i.i.d. random mixes in [0, 1] (seed 0)"
    for key in ("pick_r2", "interpolate", "alignment", "axis_alignment"):
        assert got[key] == pytest.approx(want[key], abs=1e-9)
    # a state with an option the recipe does not know: one line, non-zero exit
    bad = state_of(PICK_COMPARE, options, context)
    bad["options"]["pick"]["fold"] = 3
    path.write_text(json.dumps(bad))
    assert main(["rerun", str(path)]) != 0
    err = capsys.readouterr().err
    assert "fold" in err and "Traceback" not in err
