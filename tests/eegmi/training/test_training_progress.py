"""Per-batch progress of the training loop: fractions, ETA, cancel mid-epoch and resume."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from tiny_training import tiny_data, tiny_experiment

from eegmi.errors import Cancelled
from eegmi.jobs import CancelToken, Progress, format_eta, run_job
from eegmi.training.loop import train


def test_batch_reports_within_each_epoch(tmp_path) -> None:
    # 10 trials x 20 frames, 8 train trials = 160 frames in batches of 16 -> 10 batches
    reports: list[Progress] = []
    result = run_job(train(tiny_experiment("vae", epochs=2, batch_size=16), tiny_data(),
                           tmp_path / "r"), reports.append)
    first = next(i for i, r in enumerate(reports) if "epoch" in r.payload)
    before = [r for r in reports[:first] if "batch" in r.payload]
    validation = [r for r in reports[:first] if "validation_batch" in r.payload]
    assert reports[:first] == before + validation  # training batches, then validation
    # validation reports too (one trial of 20 frames in batches of 16: 2), at the epoch's end
    assert [r.payload["validation_batch"] for r in validation] == [1, 2]
    assert all(r.fraction == pytest.approx(0.5) and not r.keep for r in validation)
    assert "epoch 1/2 validation batch 2/2" in validation[-1].message
    assert len(before) == 10
    assert [r.fraction for r in before] == pytest.approx([b / 20 for b in range(1, 11)])
    assert [r.payload["batch"] for r in before] == list(range(1, 11))
    assert all(r.payload["batches"] == 10 for r in before)
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert reports[first].fraction == pytest.approx(0.5) and reports[first].keep
    assert reports[-1].fraction == 1.0 and reports[-1].payload["epoch"] == 2
    assert all(r.payload["eta_s"] >= 0 for r in before)
    assert "epoch 1/2 batch 3/10" in before[2].message and "ETA" in before[2].message
    assert not any(r.keep for r in before)
    # the epoch payload is exactly the history record
    assert [r.payload for r in reports if "epoch" in r.payload] == result.history


def test_cancel_mid_epoch_resumes_from_last_epoch_identically(tmp_path) -> None:
    data = tiny_data()
    exp = lambda: tiny_experiment("vae", epochs=3, batch_size=16)  # noqa: E731
    run_job(train(exp(), data, tmp_path / "full"))
    token = CancelToken()
    seen: list[Progress] = []

    def on_report(p: Progress) -> None:
        seen.append(p)
        if p.payload.get("batch") == 4 and p.done > 10:  # epoch 2, batch 4 of 10
            token.cancel()

    with pytest.raises(Cancelled):
        run_job(train(exp(), data, tmp_path / "part", cancel=token), on_report, token)
    assert seen[-1].done == 14  # stopped at the next batch: no further batch ran
    state = load_file(str(tmp_path / "part" / "train_state.safetensors"))
    assert state  # the checkpoint of epoch 1 is kept
    resumed: list[Progress] = []
    run_job(train(exp(), data, tmp_path / "part", resume=True), resumed.append)
    # the half-done epoch 2 is trained again from its start
    assert resumed[0].done == 11 and resumed[0].payload["batch"] == 1
    assert [r.payload["epoch"] for r in resumed if "epoch" in r.payload] == [2, 3]
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cancel_during_validation(tmp_path, monkeypatch) -> None:
    import eegmi.training.loop as loop

    token = CancelToken()
    real = loop.evaluate_steps

    def cancelling(model, batches, *args):
        token.cancel()  # set while validation runs: its next batch stops the run
        return (yield from real(model, batches, *args))

    monkeypatch.setattr(loop, "evaluate_steps", cancelling)
    with pytest.raises(Cancelled):
        run_job(train(tiny_experiment(epochs=1), tiny_data(), tmp_path / "v", cancel=token))
    assert not (tmp_path / "v" / "model.json").exists()


def test_format_eta() -> None:
    assert [format_eta(s) for s in (0, 12.4, 65, 3725, -3)] == ["0s", "12s", "1m05s",
                                                               "1h02m", "0s"]


def test_cli_bar_shows_batches_and_log_one_line_per_epoch(tmp_path, capsys) -> None:
    import io

    from eegmi.cli import main
    from eegmi.data.loaders import save_npz
    from eegmi.jobs import ProgressBar

    stream = io.StringIO()
    run_job(train(tiny_experiment(epochs=2, batch_size=16), tiny_data(), tmp_path / "b"),
            ProgressBar("train", stream=stream, force=True))
    first = stream.getvalue().split("\r")[1]
    assert "epoch 1/2 batch 1/10" in first and "5.0%" in first
    # without a terminal the CLI logs one line per epoch, not one per batch
    save_npz(tiny_data(), tmp_path / "tiny.npz")
    (tmp_path / "t.toml").write_text('name = "t"\n[model]\nkind = "decoder"\nlatent_dim = 32\n'
                                     'filters = [4, 8, 8]\n[training]\nepochs = 2\n'
                                     'batch_size = 16\n', encoding="utf-8")
    capsys.readouterr()
    code = main(["train", "--experiment", str(tmp_path / "t.toml"), "--data",
                 str(tmp_path / "tiny.npz"), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("epoch")]
    assert [x.split()[1] for x in lines] == ["1/2", "2/2"] and "batch" not in err
