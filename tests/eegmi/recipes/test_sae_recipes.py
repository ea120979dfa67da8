"""SAE recipes: strict options, one set of defaults for the CLI and the panel, and a
gallery state that names its SAE (folder or training options) re-runs to the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_vae_checkpoint import save_tiny_vae

from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.recipes import all_recipes
from eegmi.recipes.base import RecipeContext, rerun_job, state_of
from eegmi.recipes.sae import SAE_GALLERY, SAE_TRAIN, SaeGalleryOptions, SaeTrainOptions


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sae_recipes")
    save_tiny_vae(root / "model")
    rng = np.random.default_rng(0)
    np.save(root / "eeg.npy", (0.5 * rng.standard_normal((120, 32))).astype(np.float32))
    return root


def test_registered_and_strict_options() -> None:
    recipes = all_recipes()
    assert recipes["sae_train"] is SAE_TRAIN and recipes["sae_gallery"] is SAE_GALLERY
    opts = SaeGalleryOptions(sae=None, train=SaeTrainOptions(dict_size=9, k=2), top_k=3)
    back = SAE_GALLERY.options(json.loads(json.dumps(opts.to_json())))
    assert back == opts and isinstance(back.train, SaeTrainOptions)
    assert SAE_TRAIN.options(None) == SaeTrainOptions()
    with pytest.raises(ConfigError, match="unknown key"):
        SAE_TRAIN.options({"dict_sise": 8})
    with pytest.raises(ConfigError, match="unknown key"):
        SAE_GALLERY.options({"train": {"layer": "enc.act3", "nope": 1}})
    with pytest.raises(ConfigError, match="sparsity"):
        SAE_TRAIN.options({"sparsity": "relu"})
    with pytest.raises(ConfigError, match="dict_size"):
        SAE_TRAIN.options({"dict_size": 0})
    with pytest.raises(ConfigError, match="top_k"):
        SAE_GALLERY.options({"top_k": 2.5})


def test_cli_defaults_are_the_options_defaults() -> None:
    from eegmi.cli import build_parser
    from eegmi.cli.sae import train_options

    args = build_parser().parse_args(["sae", "train", "M", "--layer", "enc.act3", "--out", "x"])
    assert train_options(args) == SaeTrainOptions()
    args = build_parser().parse_args(["sae", "train", "M", "--layer", "enc.act2", "--l1", "0.1",
                                      "--out", "x"])
    opts = train_options(args)
    assert opts.sparsity == "l1" and opts.l1 == 0.1 and opts.layer == "enc.act2"


def test_gallery_state_reruns_from_folder_and_from_training(files, tmp_path) -> None:
    from eegmi.sae.io import resave
    from eegmi.training.checkpoint import load_checkpoint

    model = str(files / "model")
    ctx = RecipeContext(model=model, loaded=load_checkpoint(model), data=str(files / "eeg.npy"))
    train = SaeTrainOptions(dict_size=10, k=2, steps=15, max_frames=40)
    trained = run_job(SAE_TRAIN.run(train, ctx, None))
    summary = SAE_TRAIN.summary(trained)
    assert summary["n_features"] == 10 and summary["metrics"]["l0"] <= 2 + 1e-9
    # a gallery of the SAE trained in place, and of its saved folder: the same numbers
    opts = SaeGalleryOptions(train=train, max_frames=50, top_k=3)
    held = RecipeContext(model=model, loaded=ctx.loaded, data=ctx.data, extra={"sae": trained.loaded})
    shown = SAE_GALLERY.summary(run_job(SAE_GALLERY.run(opts, held, None)))
    assert shown["n_frames"] == 50 and len(shown["drivers"]) == 10
    _, again = run_job(rerun_job(state_of(SAE_GALLERY, opts, held)))
    assert SAE_GALLERY.summary(again) == shown
    resave(trained.loaded, tmp_path / "sae")
    saved = SaeGalleryOptions(sae=str(tmp_path / "sae"), max_frames=50, top_k=3)
    _, from_folder = run_job(rerun_job(state_of(SAE_GALLERY, saved, held)))
    assert SAE_GALLERY.summary(from_folder) == shown
    with pytest.raises(ConfigError, match="name no SAE"):
        run_job(SAE_GALLERY.run(SaeGalleryOptions(), ctx, None))
