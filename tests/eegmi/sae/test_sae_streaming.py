"""Bounded memory for SAE inputs: the row reservoir, ``collect_activations(max_rows=)``,
the ``sae_train`` recipe's memory budget and ``eegmi sae train --activations`` reading a
sample of a large matrix.  Memory is asserted as the number of rows materialised."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_vae_checkpoint import save_tiny_vae

from eegmi.jobs import run_job
from eegmi.models import ConvVAE, ModelConfig
from eegmi.sae.activations import RowReservoir, collect_activations


def _reference(stream: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Algorithm R one row at a time, drawing the same random numbers."""
    rng = np.random.default_rng(seed)
    held = list(stream[:cap])
    for t in range(cap, len(stream)):
        slot = int(rng.random() * (t + 1))
        if slot < cap:
            held[slot] = stream[t]
    return np.array(held)


@pytest.mark.parametrize("batch", [1, 7, 700])
def test_reservoir_is_algorithm_r_in_batches(batch: int) -> None:
    stream = np.arange(20_000)
    res = RowReservoir(2000, seed=3)
    for s in range(0, len(stream), batch):
        res.add(stream[s:s + batch], -stream[s:s + batch])
    vals, neg = res.result()
    assert vals.shape == (2000,) and res.seen == 20_000
    assert np.array_equal(vals, _reference(stream, 2000, 3))
    assert np.array_equal(neg, -vals)  # columns stay aligned


def test_reservoir_sample_is_uniform() -> None:
    res = RowReservoir(2000, seed=0)
    for s in range(0, 20_000, 512):
        res.add(np.arange(s, min(s + 512, 20_000)))
    (vals,) = res.result()
    assert len(np.unique(vals)) == 2000
    counts = np.bincount(vals // 2000, minlength=10)  # 200 expected per tenth of the stream
    assert counts.min() > 150 and counts.max() < 250


def test_reservoir_keeps_everything_under_the_cap() -> None:
    res = RowReservoir(50)
    res.add(np.arange(30))
    assert np.array_equal(res.result()[0], np.arange(30))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = ConvVAE(ModelConfig(kind="vae", filters=(4, 8, 8), latent_dim=4)).eval()
    gen = torch.Generator().manual_seed(0)
    imgs = torch.nn.functional.avg_pool2d(torch.rand(48, 1, 40, 40, generator=gen), 9, 1, 4)
    return model, [imgs[i: i + 16] for i in range(0, 48, 16)]


def test_collect_with_row_cap_holds_a_sample_of_true_rows(tiny) -> None:
    model, batches = tiny
    full = run_job(collect_activations(model, batches, "enc.act3", "spatial"))
    assert not full.capped and full.rows_seen == 48 * 25 == len(full.x)
    capped = run_job(collect_activations(model, batches, "enc.act3", "spatial", max_rows=100,
                                         seed=1))
    assert capped.x.shape == (100, 8) and capped.frame.shape == (100,)
    assert capped.rows_seen == 1200 and capped.frames_seen == 48 and capped.capped
    # each kept vector is the one of its (frame, position), from all over the stream
    np.testing.assert_array_equal(capped.x, full.x[capped.frame * 25 + capped.position])
    assert capped.frame.max() > 32 and capped.frame.min() < 16


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sae_stream")
    save_tiny_vae(root / "model")
    rng = np.random.default_rng(0)
    np.save(root / "eeg.npy", (0.5 * rng.standard_normal((300, 32))).astype(np.float32))
    np.save(root / "X.npy", rng.random((3000, 256)).astype(np.float32))  # 3 MB
    return root


def test_recipe_caps_vectors_and_says_so(files, monkeypatch) -> None:
    from eegmi.recipes.base import RecipeContext
    from eegmi.recipes.sae import SAE_TRAIN, SaeTrainOptions
    from eegmi.training.checkpoint import load_checkpoint

    model = str(files / "model")
    ctx = RecipeContext(model=model, loaded=load_checkpoint(model), data=str(files / "eeg.npy"))
    opts = SaeTrainOptions(dict_size=10, k=2, steps=5, max_frames=40)
    plain = SAE_TRAIN.summary(run_job(SAE_TRAIN.run(opts, ctx, None)))
    assert plain["capped"] is False and plain["vectors_used"] == plain["vectors_available"] == 1000
    assert plain["frames_used"] == 40 and plain["frames_available"] >= 40
    monkeypatch.setattr(SaeTrainOptions, "max_rows", lambda self, d: 120)
    trained = run_job(SAE_TRAIN.run(opts, ctx, None))
    summary = SAE_TRAIN.summary(trained)
    assert summary["capped"] is True and summary["train_vectors"] == 120
    assert summary["vectors_used"] == 120 and summary["vectors_available"] == 1000
    assert trained.loaded.meta["provenance"]["sampling"]["capped"] is True


def test_cli_activations_matrix_is_sampled_to_the_budget(files, capsys) -> None:
    from eegmi.cli import main

    out = files / "sae_x"
    rc = main(["sae", "train", "--activations", str(files / "X.npy"), "--dict-size", "8",
               "--steps", "3", "--memory-mb", "1", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 0
    res = json.loads(captured.out.strip().splitlines()[-1])
    # 1 MB of float32 vectors of width 256: 1024 rows of the 3000
    assert res["vectors_used"] == 1024 and res["vectors_available"] == 3000 and res["capped"]
    assert "1024 of 3000 activation vectors kept" in captured.err
    rc = main(["sae", "train", "--activations", str(files / "X.npy"), "--dict-size", "8",
               "--steps", "3", "--out", str(files / "sae_y"), "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["capped"] is False and res["vectors_used"] == 3000
