"""Training loop: determinism, exact resume, progress, cancellation, presets, metrics."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from skimage.metrics import structural_similarity
from tiny_training import tiny_data, tiny_experiment

from eegmi.errors import Cancelled, ConfigError
from eegmi.jobs import CancelToken, Progress, run_job
from eegmi.training.experiments import PRESETS, ExperimentConfig, load_experiment
from eegmi.training.loop import build_for_experiment, train
from eegmi.training.metrics import mae, mse, ssim
from eegmi.training.prepare import prepare_data


def keep_epochs(reports: list) -> Callable[[Progress], None]:
    """A progress callback appending the per-epoch reports (those with a record)."""
    return lambda p: reports.append(p) if "epoch" in p.payload else None


def _weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights(tmp_path) -> None:
    data = tiny_data()
    run_job(train(tiny_experiment("vae"), data, tmp_path / "a"))
    run_job(train(tiny_experiment("vae"), data, tmp_path / "b"))
    run_job(train(tiny_experiment("vae", seed=1), data, tmp_path / "c"))
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert not _same(_weights(tmp_path / "a"), _weights(tmp_path / "c"))


def test_resume_gives_identical_weights(tmp_path) -> None:
    data = tiny_data()
    run_job(train(tiny_experiment("vae", epochs=2), data, tmp_path / "full"))
    run_job(train(tiny_experiment("vae", epochs=1), data, tmp_path / "part"))
    # a crash after the state was saved but before the history line: resume must cope
    hist = tmp_path / "part" / "history.jsonl"
    hist.write_text(hist.read_text() + '{"epoch": 1, "torn', encoding="utf-8")
    reports = []
    run_job(train(tiny_experiment("vae", epochs=2), data, tmp_path / "part", resume=True),
            keep_epochs(reports))
    assert [r.payload["epoch"] for r in reports] == [2]
    assert _same(_weights(tmp_path / "full"), _weights(tmp_path / "part"))
    lines = (tmp_path / "part" / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_resume_rejects_changed_settings(tmp_path) -> None:
    data = tiny_data()
    run_job(train(tiny_experiment(epochs=1), data, tmp_path / "r"))
    with pytest.raises(ConfigError, match="different settings"):
        run_job(train(tiny_experiment(epochs=2, beta=0.5), data, tmp_path / "r", resume=True))
    reports = []
    run_job(train(tiny_experiment(epochs=2, lr=3e-4), data, tmp_path / "r", resume=True),
            keep_epochs(reports))
    assert [r.payload["lr"] for r in reports] == [3e-4]


def test_progress_payload_history_and_learning(tmp_path) -> None:
    data = tiny_data()
    exp = tiny_experiment("decoder", epochs=3, weight_decay=0.0, lr=3e-3)
    prep = prepare_data(exp, data)
    before = build_for_experiment(exp, prep)
    from eegmi.data.dataset import TopomapBatches
    from eegmi.training.evaluation import evaluate_batches

    test_batches = TopomapBatches(prep.values, prep.split.test, prep.operator, prep.scaler, None)
    untrained = evaluate_batches(before, test_batches)["mse"]
    reports = []
    result = run_job(train(exp, data, tmp_path / "p"), keep_epochs(reports))
    keys = {"epoch", "train_loss", "val_loss", "val_mse", "val_mae", "val_ssim",
            "val_ssim_head", "lr", "weight_norm", "best_epoch"}
    assert [r.payload["epoch"] for r in reports] == [1, 2, 3]
    assert all(set(r.payload) == keys for r in reports)
    assert all(np.isfinite(r.payload[k]) for r in reports for k in keys)
    assert result.metrics["test_mse"] < untrained
    lines = (tmp_path / "p" / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["val_mse"] for x in lines] == [r.payload["val_mse"] for r in reports]
    card = json.loads((tmp_path / "p" / "model.json").read_text())
    for key in ("test_mse", "test_mae", "test_ssim", "test_ssim_head", "val_ssim_head"):
        assert card["metrics"][key] == result.metrics[key]
    assert card["metrics"]["test_n"] == len(prep.split.test)
    assert 0 < card["metrics"]["test_ssim_head"] <= 1
    assert card["split"]["sizes"]["test"] == len(prep.split.test)
    assert card["experiment"]["model"]["kind"] == "decoder"
    assert set(card) >= {"config", "scaler", "injection", "montage", "operator", "data",
                         "split", "metrics", "experiment", "command"}


def test_cancel_stops_before_writing(tmp_path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(train(tiny_experiment(), tiny_data(), tmp_path / "x", cancel=token))
    assert not (tmp_path / "x" / "model.json").exists()


def test_existing_run_not_overwritten(tmp_path) -> None:
    data = tiny_data()
    run_job(train(tiny_experiment(), data, tmp_path / "r"))
    before = (tmp_path / "r" / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds"):
        run_job(train(tiny_experiment(seed=3), data, tmp_path / "r"))
    assert (tmp_path / "r" / "model.safetensors").read_bytes() == before


def test_stagewise_copies_and_freezes_decoder(tmp_path) -> None:
    data = tiny_data()
    run_job(train(tiny_experiment("decoder"), data, tmp_path / "e1"))
    exp = tiny_experiment("vae", decoder_from=str(tmp_path / "e1"), freeze_decoder=True)
    run_job(train(exp, data, tmp_path / "sw"))
    src, got = _weights(tmp_path / "e1"), _weights(tmp_path / "sw")
    dec = [k for k in got if k.startswith("decoder.")]
    assert dec and all(torch.equal(src[k], got[k]) for k in dec)
    fresh = build_for_experiment(tiny_experiment("vae"), prepare_data(exp, data))
    assert not torch.equal(fresh.conv1.weight, got["conv1.weight"])


def test_pick_init_reads_electrode_pixels() -> None:
    data = tiny_data()
    exp = load_experiment("pick_init")
    d = exp.to_dict()
    d["training"]["decoder_from"] = ""
    exp = ExperimentConfig.from_dict(d)
    prep = prepare_data(exp, data)
    model = build_for_experiment(exp, prep).eval()
    vals = prep.scaler.transform(torch.from_numpy(prep.values[:8]))
    images = prep.operator.render_torch(vals.float())
    mu, _ = model.encode(images)
    rows, cols = prep.operator.electrode_pixels.T
    assert torch.allclose(mu, images[:, 0, rows, cols], atol=1e-6)


def test_presets_load_and_bad_files_rejected(tmp_path) -> None:
    for name in PRESETS:
        exp = load_experiment(name)
        assert exp.name == name
    assert load_experiment("E5").model.latent_dim == 27
    assert load_experiment("E2").injection.occlusion
    bad = tmp_path / "bad.toml"
    bad.write_text('[training]\nepochz = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_experiment(bad)
    assert "bad.toml" in str(info.value) and "training.epochz" in str(info.value)
    bad.write_text('[training]\nepochs = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="training.epochs"):
        load_experiment(bad)
    bad.write_text('[model]\nactivation = "swish"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="model.activation"):
        load_experiment(bad)
    bad.write_text('[data]\nfractions = [0.5, 0.5, 0.5]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="data.fractions"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match="unknown experiment"):
        load_experiment("E9")


def test_ssim_matches_skimage() -> None:
    from eegmi.data.topomap import get_operator

    rng = np.random.default_rng(0)
    op = get_operator("biosemi32", 40, "cubic")
    target = op.render(rng.uniform(0, 1, size=(6, 32))).astype(np.float32).clip(0, 1)
    pred = (target + rng.normal(0, 0.05, size=target.shape)).clip(0, 1).astype(np.float32)
    ours = ssim(torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None]).numpy()
    ref = [structural_similarity(p.astype(np.float64), t.astype(np.float64), data_range=1.0)
           for p, t in zip(pred, target, strict=True)]
    assert np.allclose(ours, ref, atol=1e-3)
    assert ours.min() < 0.99  # the noise must actually be visible to the metric
    t, p = torch.from_numpy(target), torch.from_numpy(pred)
    assert np.allclose(mse(p, t).numpy(), ((pred - target) ** 2).mean(axis=(1, 2)), rtol=1e-5)
    assert np.allclose(mae(p, t).numpy(), np.abs(pred - target).mean(axis=(1, 2)), rtol=1e-5)


def test_history_holds_no_test_figures(tmp_path) -> None:
    run_job(train(tiny_experiment("vae", epochs=2), tiny_data(), tmp_path / "h"))
    for line in (tmp_path / "h" / "history.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert not {"mse", "mae", "ssim"} & set(record)
        assert not any(k.startswith("test") for k in record)
        assert {"val_mse", "val_ssim", "val_ssim_head"} <= set(record)


def test_validation_steers_schedule_best_checkpoint_and_early_stop(tmp_path, monkeypatch) -> None:
    """Planted divergence: the validation loss is best at epoch 2 and then rises while the
    test loss keeps falling. The schedule, the kept weights and early stopping must follow
    validation; the test split is evaluated once, at the end."""
    import eegmi.training.loop as loop

    data = tiny_data()
    exp = tiny_experiment("vae", epochs=6, patience=0, factor=0.5, early_stop=2)
    prep = prepare_data(exp, data)
    real, real_steps = loop.evaluate_batches, loop.evaluate_steps
    planted_val = iter([1.0, 0.5, 0.9, 0.95, 0.97, 0.99])
    planted_test = iter([0.4, 0.3, 0.2, 0.1, 0.05, 0.01])
    calls = {"val": 0, "test": 0}

    def planted_validation(model, batches, mask=None, beta=0.0, head=None):
        res = yield from real_steps(model, batches, mask, beta, head)
        assert np.array_equal(np.sort(batches.indices), np.sort(prep.split.val))
        calls["val"] += 1
        return {**res, "loss": next(planted_val)}

    def planted(model, batches, mask=None, beta=0.0, head=None):
        res = real(model, batches, mask, beta, head)
        assert np.array_equal(np.sort(batches.indices), np.sort(prep.split.test))
        calls["test"] += 1
        return {**res, "loss": next(planted_test)}

    monkeypatch.setattr(loop, "evaluate_steps", planted_validation)
    monkeypatch.setattr(loop, "evaluate_batches", planted)
    reports = []
    result = run_job(train(exp, data, tmp_path / "d"), keep_epochs(reports))
    # best epoch 2; epochs 3 and 4 do not improve -> early stop after epoch 4
    assert [r.payload["epoch"] for r in reports] == [1, 2, 3, 4]
    assert [r.payload["best_epoch"] for r in reports] == [1, 2, 2, 2]
    # ReduceLROnPlateau(patience=0) halves the lr after each epoch that did not improve val
    assert [r.payload["lr"] for r in reports] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    assert calls == {"val": 4, "test": 1}
    card = json.loads((tmp_path / "d" / "model.json").read_text())
    assert card["metrics"]["best_epoch"] == 2 and card["epochs"] == 4 and card["stopped_early"]
    assert card["metrics"]["val_loss"] == 0.5
    monkeypatch.setattr(loop, "evaluate_batches", real)
    monkeypatch.setattr(loop, "evaluate_steps", real_steps)
    run_job(train(tiny_experiment("vae", epochs=2), data, tmp_path / "two"))
    assert _same(_weights(tmp_path / "two"), _weights(tmp_path / "d"))
    assert result.metrics["best_epoch"] == 2


def test_test_split_evaluated_once_at_the_end(tmp_path, monkeypatch) -> None:
    import eegmi.training.loop as loop

    data = tiny_data()
    exp = tiny_experiment("decoder", epochs=3)
    prep = prepare_data(exp, data)
    real, real_steps = loop.evaluate_batches, loop.evaluate_steps
    seen: list[str] = []

    def split_of(batches) -> str:
        return "test" if np.array_equal(np.sort(batches.indices), np.sort(prep.split.test)) \
            else "val"

    def spy(model, batches, *args, **kwargs):
        seen.append(split_of(batches))
        return real(model, batches, *args, **kwargs)

    def spy_steps(model, batches, *args, **kwargs):
        seen.append(split_of(batches))
        return (yield from real_steps(model, batches, *args, **kwargs))

    monkeypatch.setattr(loop, "evaluate_batches", spy)
    monkeypatch.setattr(loop, "evaluate_steps", spy_steps)
    run_job(train(exp, data, tmp_path / "o"))
    assert seen == ["val", "val", "val", "test"]


def test_head_disc_ssim_ignores_the_corners() -> None:
    """Noise only inside the head disc: the corner windows (both images 0 there) score 1
    and lift whole-image SSIM; the head-disc SSIM averages only windows centred in the
    disc, and equals a direct average of skimage's full SSIM map over those centres."""
    from eegmi.data.topomap import get_operator

    rng = np.random.default_rng(1)
    op = get_operator("biosemi32", 40, "cubic")
    head = op.head_mask
    target = (op.render(rng.uniform(0, 1, size=(4, 32))).clip(0, 1) * head).astype(np.float32)
    pred = (target + head * rng.normal(0, 0.1, size=target.shape)).astype(np.float32)
    p, t = torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None]
    whole = ssim(p, t).numpy()
    inside = ssim(p, t, region=torch.from_numpy(head.copy())).numpy()
    assert (inside < whole).all()
    for k in range(len(pred)):
        _, full = structural_similarity(pred[k].astype(np.float64), target[k].astype(np.float64),
                                        data_range=1.0, full=True)
        ref = full[3:-3, 3:-3][head[3:-3, 3:-3]].mean()
        assert inside[k] == pytest.approx(ref, abs=1e-3)
    with pytest.raises(ValueError):
        ssim(p, t, region=torch.ones(20, 20, dtype=torch.bool))


@pytest.mark.parametrize("by, frames, trials, empty, need", [
    ("trial", 5, 1, "the train and val or test splits would be empty", "at least 3 trials"),
    ("trial", 6, 2, "the train split would be empty", "at least 3 trials"),
    ("time", 700, 1, "the train split would be empty", "about 1536 frames at 128 Hz"),
])
def test_too_small_to_split_says_which_split_and_what_is_needed(by, frames, trials, empty,
                                                               need) -> None:
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData
    from eegmi.errors import DataError

    data = EEGData(values=np.zeros((frames, 32), np.float32), ch_names=DEAP_CHANNELS,
                   sfreq=128.0, subject=np.zeros(frames, np.int16),
                   trial=np.repeat(np.arange(trials), frames // trials).astype(np.int32))
    exp = tiny_experiment()
    exp.data.split_by = by
    with pytest.raises(DataError) as err:
        prepare_data(exp, data)
    text = str(err.value)
    assert f"{frames} frames in " in text and empty in text and need in text
    # bad fractions are still reported as such, not as too little data
    exp.data.split_by, exp.data.fractions = "trial", (0.5, 0.6, 0.1)
    with pytest.raises(ConfigError, match="fractions"):
        prepare_data(exp, tiny_data())
