"""Recipes ``spectra``, ``saliency`` and ``sanity``: options through JSON, the CLI and
the recipe agree, decoder-only models go through the adapter, bad states are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegmi.analysis.powerlaw import FitPolicy
from eegmi.analysis.saliency_options import SaliencyOptions
from eegmi.analysis.sanity_options import SanityOptions
from eegmi.analysis.spectra_options import SpectraOptions
from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.recipes import RECIPE_MODULES, all_recipes
from eegmi.recipes.base import RecipeContext, read_state, state_of


def _tiny(folder: Path, kind: str = "vae") -> Path:
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    latent = 32 if kind == "decoder" else 4
    model = build_model(ModelConfig(kind=kind, latent_dim=latent, filters=(4, 4, 4)))
    meta = {"name": folder.name, "scaler": {"lo": -20.0, "hi": 20.0, "q_low": 5.0, "q_high": 95.0},
            "injection": {"marks": False, "occlusion": False, "mark_value": 1.0},
            "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"}}
    return save_checkpoint(folder, model, meta)


def test_the_recipes_are_registered() -> None:
    assert {"spectra", "saliency"} <= set(RECIPE_MODULES)
    assert {"spectra", "saliency", "sanity"} <= set(all_recipes())


@pytest.mark.parametrize("opts", [
    SpectraOptions(),
    SpectraOptions(inputs="random", count=40, seed=3, data="synthetic", layers=("enc.act1", "out"),
                   max_dim=None, fit=FitPolicy(fit_range="auto"), null_seeds=0,
                   compare=("E2", "E3"), projections=0),
    SpectraOptions(layers="all", fit=FitPolicy(fit_range=(5, 20), warn_r2=0.8)),
    SaliencyOptions(),
    SaliencyOptions(methods=("sg", "gradcam"), target="region:1,2,30,31",
                    values=tuple(np.linspace(0, 1, 32).astype(np.float32).tolist())),
    SaliencyOptions(mix=(("Fz", 1.0), ("O1", 0.5)), inputs="random", count=3, noise=0.3),
    SanityOptions(),
    SanityOptions(methods=("ig", "grad"), target="pixel:3,4", inputs="random", count=8, margin=0.2),
])
def test_options_survive_json(opts) -> None:
    again = type(opts).from_json(json.loads(json.dumps(opts.to_json())))
    assert again == opts


@pytest.mark.parametrize(("cls", "bad"), [
    (SpectraOptions, {"max_dims": 10}),
    (SpectraOptions, {"fit": {"fit_range": [10, 50], "window": 3}}),
    (SpectraOptions, {"fit": [10, 50]}),
    (SpectraOptions, {"inputs": "frames"}),
    (SaliencyOptions, {"method": "ig"}),
    (SaliencyOptions, {"mix": ["Fz"]}),
    (SaliencyOptions, {"values": [0.1, 0.2], "mix": {"Fz": 1.0}}),
    (SanityOptions, {"rule": "strict"}),
    (SanityOptions, {"methods": ["lime"]}),
    (SanityOptions, "latent:0"),
])
def test_from_json_is_strict(cls, bad) -> None:
    with pytest.raises(ConfigError):
        cls.from_json(bad)


def test_saliency_cli_and_recipe_agree(tmp_path, capsys) -> None:
    from eegmi.cli import main
    from eegmi.recipes.saliency import SALIENCY
    from eegmi.training.checkpoint import load_checkpoint

    model = _tiny(tmp_path / "tiny")
    assert main(["analyze", "saliency", str(model), "--electrodes", "Fz,O1", "--amplitude", "0.8",
                 "--method", "ixg", "--target", "latent:1", "--device", "cpu", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    opts = SaliencyOptions(methods=("input_x_gradient",), target="latent:1",
                           mix=(("Fz", 0.8), ("O1", 0.8)))
    ctx = RecipeContext(model=str(model), loaded=load_checkpoint(model))
    summary = SALIENCY.summary(run_job(SALIENCY.run(opts, ctx, None)))
    got = summary["methods"]["input_x_gradient"]["electrodes"]
    want = cli["methods"]["input_x_gradient"]["electrodes"]
    assert got == pytest.approx(want, rel=1e-6)
    assert sum(v != 0 for v in summary["values"]) == 2


def test_decoder_only_model_goes_through_the_adapter(tmp_path) -> None:
    """E1-like model (the electrode vector is its input): spectra run on the vectors,
    saliency attributes electrodes only, sanity refuses with one line."""
    from eegmi.recipes.saliency import SALIENCY, SANITY
    from eegmi.recipes.spectra import SPECTRA
    from eegmi.training.checkpoint import load_checkpoint

    model = _tiny(tmp_path / "dec", kind="decoder")
    ctx = RecipeContext(model=str(model), loaded=load_checkpoint(model))
    run = run_job(SPECTRA.run(SpectraOptions(inputs="random", count=40, max_dim=100, null_seeds=1,
                                             projections=3), ctx, None))
    summary = SPECTRA.summary(run)
    assert "latent.z" in summary["alpha"] and "latent.mu" not in summary["alpha"]
    assert run.report.input.explained_variance.size <= 32  # the vectors themselves
    assert summary["action"]["input"] is not None
    res = run_job(SALIENCY.run(SaliencyOptions(methods=("saliency",), target="latent:3",
                                               mix=(("Cz", 1.0),)), ctx, None))
    assert not res.maps and res.electrodes["saliency"].shape == (1, 32)
    with pytest.raises(ConfigError, match="decoder-only"):
        run_job(SANITY.run(SanityOptions(inputs="random", count=4), ctx, None))


def test_a_state_naming_an_unknown_option_is_one_line(tmp_path, capsys) -> None:
    from eegmi.cli import main
    from eegmi.recipes.spectra import SPECTRA

    state = state_of(SPECTRA, SpectraOptions(count=10), RecipeContext(model="E3"))
    assert read_state(json.loads(json.dumps(state)))[1] == SpectraOptions(count=10)
    state["options"]["max_dims"] = 5
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    assert main(["rerun", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_dims" in err and "Traceback" not in err
