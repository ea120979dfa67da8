"""``eegmi sweep`` run one trial after another: the table, resume and failures.

Each trial is a real ``python -m eegmi train`` child (tiny model, one epoch, 200 frames).
"""

from __future__ import annotations

import json

import pytest
from tiny_sweep import train_in_process, write_tiny_sweep

from eegmi.cli import main
from eegmi.sweep.layout import ANALYSES_FILE, log_file
from eegmi.sweep.spec import load_spec


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A two-trial sweep with both analyses, run to the end by the sequential runner."""
    root = tmp_path_factory.mktemp("sweep")
    spec = write_tiny_sweep(root, seeds=(0, 1), analyses=("alpha", "pick_interpolate"))
    code = main(["sweep", str(spec), "--out", str(root / "out"), "--runner", "local", "--json"])
    return root, spec, code


def test_sequential_sweep_table_matches_evaluate_and_analyze(finished, capsys) -> None:
    root, spec, code = finished
    assert code == 0
    # --json printed the same table results.json holds (read from the file: the module
    # fixture's output went to another test's capture)
    table = json.loads((root / "out" / "results.json").read_text())
    assert table["runner"] == "local" and table["counts"] == {"done": 2}
    assert [r["id"] for r in table["trials"]] == ["tiny-seed0", "tiny-seed1"]
    assert [o["ran"] for o in table["ran"]] == [["train", "analyse"], ["train", "analyse"]]
    row = table["trials"][1]
    folder = row["path"]
    card = json.loads((root / "out" / "trials" / "tiny-seed1" / "model.json").read_text())
    assert card["experiment"]["training"]["seed"] == 1
    assert row["epochs"] == 1 and row["best_epoch"] == 1
    assert row["val"]["loss"] == card["metrics"]["val_loss"]
    # the test figures are those eegmi evaluate recomputes on the trial folder
    code, out, err = _run(capsys, ["evaluate", folder, "--data", str(root / "tiny.npz"),
                                   "--no-baseline", "--json"])
    assert code == 0, err
    ev = json.loads(out)
    assert row["test"]["n"] == ev["n"]
    for key in ("mse", "mae", "ssim", "ssim_head"):
        assert row["test"][key] == pytest.approx(ev[key], rel=1e-5)
    # α per layer: the spectra recipe as eegmi analyze eigenspectrum runs it
    code, out, err = _run(capsys, ["analyze", "eigenspectrum", folder, "--data",
                                   str(root / "tiny.npz"), "--max-inputs", "20",
                                   "--null-seeds", "0", "--json"])
    assert code == 0, err
    alphas = json.loads(out)["alpha"]
    assert set(row["analyses"]["alpha"]) == set(alphas) and len(alphas) >= 3
    for layer, a in row["analyses"]["alpha"].items():
        assert a == pytest.approx(alphas[layer], rel=1e-9)
    pick = row["analyses"]["pick_interpolate"]
    assert pick["pick_r2"] is not None and pick["interpolate"] is not None
    # the text table shows the same trials and figures
    code, out, _ = _run(capsys, ["sweep", str(spec), "--out", str(root / "out"),
                                 "--runner", "local"])
    assert code == 0 and "tiny-seed1" in out and f"{row['test']['mse']:.3e}" in out
    assert "pick R²" in out and "α out" in out


def test_a_finished_sweep_runs_nothing_again(finished, capsys) -> None:
    root, spec, _ = finished
    before = (root / "out" / "trials" / "tiny-seed0" / "model.safetensors").stat().st_mtime_ns
    code, out, err = _run(capsys, ["sweep", str(spec), "--out", str(root / "out"),
                                   "--runner", "local", "--json"])
    assert code == 0, err
    table = json.loads(out)
    assert table["ran"] == [] and table["counts"] == {"done": 2}
    assert "2 done, 0 to run" in err
    assert (root / "out" / "trials" / "tiny-seed0" / "model.safetensors"
            ).stat().st_mtime_ns == before


def test_resume_skips_finished_and_resumes_interrupted(tmp_path, capsys) -> None:
    path = write_tiny_sweep(tmp_path, seeds=(0, 1), epochs=2)
    spec, out = load_spec(path), tmp_path / "out"
    # seed 0 finished; seed 1 interrupted after its first epoch (checkpoint + train state)
    done = train_in_process(spec, out, "tiny-seed0")
    cut = train_in_process(spec, out, "tiny-seed1", epochs=1)
    weights = (done / "model.safetensors").read_bytes()
    assert json.loads((cut / "model.json").read_text())["epochs"] == 1
    code, stdout, err = _run(capsys, ["sweep", str(path), "--out", str(out), "--runner", "local",
                                      "--json"])
    assert code == 0, err
    table = json.loads(stdout)
    assert table["ran"][0]["id"] == "tiny-seed1" and table["ran"][0]["ran"] == ["resume"]
    assert len(table["ran"]) == 1 and "1 resumed" in err
    assert (done / "model.safetensors").read_bytes() == weights
    card = json.loads((cut / "model.json").read_text())
    assert card["epochs"] == 2 and card["commands"][0] == "in-process"
    assert card["commands"][1].endswith("--resume")
    assert "--resume" in log_file(out, "tiny-seed1").read_text()
    assert [r["state"] for r in table["trials"]] == ["done", "done"]
    assert "warning" not in err
    # a setting changed after the trials finished: they are kept, and the sweep says so
    write_tiny_sweep(tmp_path, seeds=(0, 1), epochs=2, extra='"training.lr" = 0.01\n')
    code, stdout, err = _run(capsys, ["sweep", str(path), "--out", str(out), "--runner", "local",
                                      "--json"])
    assert code == 0 and json.loads(stdout)["ran"] == []
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warnings) == 2 and all("training.lr" in w for w in warnings)


def test_a_failed_trial_is_reported_and_retried(tmp_path, capsys) -> None:
    path = write_tiny_sweep(tmp_path, seeds=(0,))
    (tmp_path / "tiny.npz").rename(tmp_path / "gone.npz")  # the trial's data vanished
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, ["sweep", str(path), "--out", str(out), "--runner", "local",
                                      "--json"])
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("eegmi: error: 1 of 1 trials failed")
    row = json.loads(stdout)["trials"][0]
    assert row["state"] == "failed" and "tiny.npz" in row["error"]
    assert json.loads((out / "status.json").read_text())["tiny-seed0"]["state"] == "failed"
    (tmp_path / "gone.npz").rename(tmp_path / "tiny.npz")
    code, stdout, err = _run(capsys, ["sweep", str(path), "--out", str(out), "--runner", "local",
                                      "--json"])
    assert code == 0, err
    assert json.loads(stdout)["trials"][0]["state"] == "done"
    assert json.loads((out / "status.json").read_text()) == {}


def test_analyses_follow_the_checkpoint(finished, capsys) -> None:
    """Analyses are keyed by the card's checkpoint id: another checkpoint invalidates them."""
    root, _, _ = finished
    folder = root / "out" / "trials" / "tiny-seed0"
    saved = json.loads((folder / ANALYSES_FILE).read_text())
    card = json.loads((folder / "model.json").read_text())
    assert saved["checkpoint"] == card["checkpoint"]
    assert set(saved["results"]) == {"alpha", "pick_interpolate"}


def test_an_interrupted_sweep_resumes_its_trial(tmp_path) -> None:
    """Ctrl-C on the sweep stops its trial's child at the next batch; the last epoch's
    checkpoint is kept and the next sweep continues it with --resume."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from eegmi.sweep.layout import epochs_logged, trial_state

    path = write_tiny_sweep(tmp_path, seeds=(0,), epochs=100_000)
    out = tmp_path / "out"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get(
        "PYTHONPATH", "")])}
    # Ctrl-C in a terminal: a suite started in the background of a script inherits
    # SIGINT ignored, and so would the driver (Python keeps an ignored SIGINT)
    as_in_a_terminal = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                        "signal.default_int_handler); sys.argv[0] = 'eegmi'; "
                        "runpy.run_module('eegmi', run_name='__main__')")
    driver = subprocess.Popen([sys.executable, "-c", as_in_a_terminal, "sweep", str(path),
                               "--out", str(out), "--runner", "local"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while epochs_logged(out, "tiny-seed0") < 1 and driver.poll() is None:
            assert time.monotonic() < deadline, "no epoch logged in time"
            time.sleep(0.2)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130 and b"eegmi: interrupted" in err
    assert trial_state(out, "tiny-seed0", "train", 100_000, {}) == "partial"
    done = epochs_logged(out, "tiny-seed0")
    card = json.loads((out / "trials" / "tiny-seed0" / "model.json").read_text())
    assert card["epochs"] == done and "test_mse" not in card["metrics"]
    # the same trial, now asked for one epoch more than it has: resumed, then finished
    write_tiny_sweep(tmp_path, seeds=(0,), epochs=done + 1)
    resumed = subprocess.run([sys.executable, "-m", "eegmi", "sweep", str(path), "--out",
                              str(out), "--runner", "local", "--json"], env=env,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    table = json.loads(resumed.stdout)
    assert table["ran"][0]["ran"] == ["resume"] and table["counts"] == {"done": 1}
    card = json.loads((out / "trials" / "tiny-seed0" / "model.json").read_text())
    assert card["epochs"] == done + 1 and "test_mse" in card["metrics"]


def test_sae_sweep_trial_is_an_ordinary_sae_run(tmp_path, capsys) -> None:
    from tiny_training import tiny_experiment

    from eegmi.data.loaders import load_dataset
    from eegmi.jobs import run_job
    from eegmi.training.loop import train

    write_tiny_sweep(tmp_path)  # the tiny recording
    model = tmp_path / "vae"
    run_job(train(tiny_experiment("vae"), load_dataset(str(tmp_path / "tiny.npz")), model))
    path = tmp_path / "sae.toml"
    path.write_text("""
kind = "sae"
seeds = [3]
[sae]
models = ["vae"]
layers = ["enc.act3"]
dict_sizes = [16]
k = [2]
steps = 20
max_frames = 100
batch_size = 64
data = "tiny.npz"
""", encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, ["sweep", str(path), "--out", str(out), "--runner", "local",
                                      "--json"])
    assert code == 0, err
    row = json.loads(stdout)["trials"][0]
    assert row["id"] == "vae-enc.act3-d16-k2-seed3" and row["state"] == "done"
    card = json.loads((out / "trials" / row["id"] / "sae.json").read_text())
    assert card["hook"] == "enc.act3" and card["config"]["n_features"] == 16
    assert card["provenance"]["split_seed"] == 3
    for key in ("fve", "l0", "model_mse_spliced"):
        assert row["test"][key] == card["metrics"][key]
