"""Trials on a local Ray instance, and what a sweep does without Ray."""

from __future__ import annotations

import json
import os

import pytest
from tiny_sweep import train_in_process, write_tiny_sweep

from eegmi.cli import main
from eegmi.sweep import ray_runner
from eegmi.sweep.ray_runner import resources
from eegmi.sweep.run import choose_runner
from eegmi.sweep.spec import load_spec


def test_resource_request_per_trial() -> None:
    assert resources({"CPU": 8.0, "GPU": 2.0}, 3) == {"num_gpus": 1, "num_cpus": 3}
    assert resources({"CPU": 8.0}, 2) == {"num_cpus": 2}
    assert resources({"CPU": 8.0, "GPU": 0.0}, 1) == {"num_cpus": 1}
    assert resources({"CPU": 8.0, "GPU": 2.0}, 2, device="cpu") == {"num_cpus": 2}
    assert resources({"CPU": 8.0, "GPU": 2.0}, 1, device="cuda") == {"num_gpus": 1,
                                                                     "num_cpus": 1}


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'eegmi[cluster]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_two_trials_on_local_ray(local_ray, tmp_path, capsys) -> None:
    spec = write_tiny_sweep(tmp_path, seeds=(0, 1))
    out = tmp_path / "out"
    code = main(["sweep", str(spec), "--out", str(out), "--runner", "ray", "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    table = json.loads(stdout)
    assert table["runner"] == "ray" and table["counts"] == {"done": 2}
    assert sorted(o["id"] for o in table["ran"]) == ["tiny-seed0", "tiny-seed1"]
    # each trial ran in a Ray worker, not in this process, as an ordinary eegmi train
    assert all(o["pid"] != os.getpid() and o["ran"] == ["train"] for o in table["ran"])
    for row in table["trials"]:
        card = json.loads((out / "trials" / row["id"] / "model.json").read_text())
        assert card["command"].startswith("eegmi train --experiment")
        assert row["test"]["mse"] == card["metrics"]["test_mse"] and row["test"]["n"] > 0
    assert "on Ray" in err
    assert local_ray.is_initialized()  # the caller's instance is left to the caller


def test_without_ray_trials_run_one_after_another(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(ray_runner, "ray_available", lambda: False)
    assert choose_runner("auto", None) == "local"
    path = write_tiny_sweep(tmp_path, seeds=(0,))
    out = tmp_path / "out"
    train_in_process(load_spec(path), out, "tiny-seed0")  # finished: nothing to run
    code = main(["sweep", str(path), "--out", str(out), "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(stdout)["runner"] == "local"
    assert "pip install 'eegmi[cluster]'" in err and "one after another" in err
    for argv in (["--runner", "ray"], ["--address", "ray://head:10001"]):
        code = main(["sweep", str(path), "--out", str(out), *argv])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "Ray is not installed: pip install 'eegmi[cluster]'" in err
