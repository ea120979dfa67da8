"""Training across processes: sharding, reduction, rank-0 writes, resume across world sizes.

The runs are real: ``python -m torch.distributed.run --nproc-per-node 2 --standalone -m
eegmi train`` on the CPU (gloo), started together so their start-up overlaps.  The model
is the decoder-only kind: no sampling, no dropout and no batch statistics, so two ranks
with batch B must follow one process with batch 2B, and a wrong shard (ranks drawing the
same frames, frames dropped or repeated, unweighted short shares) or a wrong reduction
shows in the losses and weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_training import tiny_data, write_tiny_toml

from eegmi.data.dataset import TopomapBatches
from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.training.checkpoint import load_checkpoint
from eegmi.training.distributed import (
    ShardedBatches,
    launched_by_torchrun,
    rank_device,
    ranks_from_env,
)
from eegmi.training.experiments import ExperimentConfig, load_experiment
from eegmi.training.loop import train
from eegmi.training.rundir import RunLock

ROOT = Path(__file__).resolve().parents[3]
#: 189 training frames = 3 steps of 62 and a last step of 3 frames, shared 2/1: a loss not
#: weighted by the share moves the weights by ~4e-4 (measured), far past the tolerance
PER_RANK = 31
TIMEOUT = 240


def _npz(path: Path) -> Path:
    # 11 trials of 21 frames: 9 trials (189 frames) train, 1 validates, 1 tests
    data = tiny_data(n_trials=11, frames=21)
    np.savez(path, data=data.values, ch_names=np.array(data.ch_names), sfreq=np.array(128.0),
             subject=data.subject, trial=data.trial)
    return path


def _torchrun(toml: Path, npz: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "eegmi", "train", "--experiment", str(toml), "--data", str(npz), "--out", str(out),
           "--batch-size", str(PER_RANK), "--epochs", "1", "--threads", "1", "--json", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(out.parent))


def _wait(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"torchrun hung past {TIMEOUT} s:\n{err[-3000:]}")
    return proc.returncode, out, err


def _experiment(toml: Path, npz: Path, batch_size: int, epochs: int) -> ExperimentConfig:
    d = load_experiment(str(toml)).to_dict()
    d["training"].update(batch_size=batch_size, epochs=epochs)
    d["data"]["source"] = str(npz)
    return ExperimentConfig.from_dict(d, toml)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Two identical 2-rank runs and one refused by a held lock, started together, and the
    one-process references (batch 2B) trained meanwhile in this process."""
    base = tmp_path_factory.mktemp("ddp")
    toml, npz = write_tiny_toml(base / "tiny.toml"), _npz(base / "tiny.npz")
    held = RunLock(base / "held").acquire()  # another writer: rank 0 must refuse and say so
    try:
        procs = {name: _torchrun(toml, npz, base / name) for name in ("a", "b")}
        procs["held"] = _torchrun(toml, npz, base / "held")
        from eegmi.data.loaders import load_dataset

        data = load_dataset(str(npz))
        refs = {}
        for epochs in (1, 2):
            refs[epochs] = run_job(train(_experiment(toml, npz, 2 * PER_RANK, epochs), data,
                                         base / f"ref{epochs}"))
        done = {name: _wait(p) for name, p in procs.items()}
    finally:
        held.release()
    return {"base": base, "toml": toml, "npz": npz, "data": data, "refs": refs, "done": done}


def _weights(folder: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(folder / name))


def test_two_ranks_equal_one_process_with_the_global_batch(runs) -> None:
    code, out, err = runs["done"]["a"]
    assert code == 0, err[-3000:]
    assert "batch size 31 per process, 62 frames per step" in err
    result = json.loads(out)  # rank 0 alone prints its result: exactly one JSON object
    a = runs["base"] / "a"
    lines = (a / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1]  # written once, by rank 0
    record, ref = json.loads(lines[0]), runs["refs"][1].history[0]
    assert record["train_loss"] == pytest.approx(ref["train_loss"], abs=1e-5, rel=0)
    for key in ("val_loss", "val_mse", "val_mae", "val_ssim", "val_ssim_head"):
        assert record[key] == pytest.approx(ref[key], abs=1e-6, rel=0), key
    assert result["test_n"] == runs["refs"][1].metrics["test_n"]  # the whole test split
    assert result["test_mse"] == pytest.approx(runs["refs"][1].metrics["test_mse"], abs=1e-6)
    got, want = _weights(a), _weights(runs["base"] / "ref1")
    assert got.keys() == want.keys()
    for k in got:
        torch.testing.assert_close(got[k], want[k], atol=1e-5, rtol=0)
    loaded = load_checkpoint(a)  # the unwrapped model: no DDP "module." names
    assert loaded.meta["distributed"] == {"world_size": 2, "backend": "gloo",
                                          "batch_size_per_process": PER_RANK,
                                          "frames_per_step": 2 * PER_RANK}
    assert loaded.meta["commands"][0].startswith("torchrun --nproc-per-node 2 -m eegmi train")
    assert not (a / ".checkpoint.pending").exists()


def test_same_seed_same_weights_on_two_ranks(runs) -> None:
    (ca, _, ea), (cb, _, eb) = runs["done"]["a"], runs["done"]["b"]
    assert ca == 0 and cb == 0, (ea + eb)[-3000:]
    for name in ("model.safetensors", "train_state.safetensors"):
        a, b = _weights(runs["base"] / "a", name), _weights(runs["base"] / "b", name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_an_error_on_one_rank_ends_the_run_with_one_line(runs) -> None:
    code, out, err = runs["done"]["held"]
    assert code != 0 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("eegmi: error:")]
    assert len(errors) == 1, err[-3000:]
    assert "is being written by another eegmi train" in errors[0]
    assert not (runs["base"] / "held" / "model.json").exists()


def test_resume_a_two_rank_run_in_one_process(runs) -> None:
    resumed = runs["base"] / "resumed"
    shutil.copytree(runs["base"] / "a", resumed)
    toml, npz = runs["toml"], runs["npz"]
    # one process must take the same 62 frames per step; 31 is refused, with the fix
    with pytest.raises(ConfigError, match="--batch-size 62"):
        run_job(train(_experiment(toml, npz, PER_RANK, 2), runs["data"], resumed, resume=True))
    result = run_job(train(_experiment(toml, npz, 2 * PER_RANK, 2), runs["data"], resumed,
                           resume=True))
    assert [r["epoch"] for r in result.history] == [1, 2]
    ref = runs["refs"][2]
    assert result.history[1]["train_loss"] == pytest.approx(ref.history[1]["train_loss"],
                                                            abs=1e-5, rel=0)
    got, want = _weights(resumed), _weights(runs["base"] / "ref2")
    for k in got:
        torch.testing.assert_close(got[k], want[k], atol=1e-5, rtol=0)
    lines = (resumed / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def _batches(n: int, batch_size: int, seed: int = 5) -> TopomapBatches:
    from eegmi.data.topomap import get_operator

    class Scale:
        def transform(self, v):
            return v

    values = np.zeros((100 + n, 32), np.float32)
    return TopomapBatches(values, np.arange(100, 100 + n), get_operator(size=8), Scale(),
                          batch_size=batch_size, shuffle=True, seed=seed)


@pytest.mark.parametrize(("n", "batch", "world"), [(9, 2, 4), (189, 31, 2), (64, 8, 3)])
def test_every_frame_once_per_epoch_in_the_single_process_order(n, batch, world) -> None:
    shards = [list(ShardedBatches(_batches(n, batch), r, world).shares()) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # every rank takes the same number of steps
    alone = [b.index for b in _batches(n, batch * world)]  # one process, the global batch
    assert len(shards[0]) == len(alone)
    for k, step in enumerate(alone):
        parts = [shards[r][k] for r in range(world)]
        counted = np.concatenate([frames for frames, cnt, _ in parts if cnt])
        assert sorted(counted) == sorted(step)  # this step's frames, once each
        assert sum(cnt for _, cnt, _ in parts) == len(step)
        # DDP averages: the scales make the mean over ranks the global batch's mean
        assert sum(scale for _, _, scale in parts) == pytest.approx(world)
        for frames, cnt, scale in parts:
            assert scale == pytest.approx(cnt * world / len(step))
            assert len(frames) == max(cnt, 1)  # a rank with nothing left pads one frame
    one = list(ShardedBatches(_batches(n, batch), 0, 1).shares())
    assert [list(f) for f, _, _ in one] == [list(b.index) for b in _batches(n, batch)]


def test_rank_environment_and_devices(monkeypatch) -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert launched_by_torchrun(env) and not launched_by_torchrun({"RANK": "0"})
    ranks = ranks_from_env("cpu", env)
    assert (ranks.rank, ranks.world, ranks.backend, ranks.device.type) == (1, 2, "gloo", "cpu")
    assert not ranks.main and ranks.seed(7) != 7
    assert ranks_from_env("cpu", {**env, "RANK": "0", "LOCAL_RANK": "0"}).seed(7) == 7
    for bad in ({**env, "RANK": "2"}, {**env, "WORLD_SIZE": "x"}):
        with pytest.raises(ConfigError):
            ranks_from_env("cpu", bad)
    with pytest.raises(ConfigError, match="cuda:LOCAL_RANK"):
        rank_device("cuda:1", 0)
    with pytest.raises(ConfigError, match="cuda:LOCAL_RANK"):
        rank_device("mps", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert rank_device(None, 0) == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="1 GPU"):  # every rank of the node says so
        ranks_from_env(None, {**env, "RANK": "0", "LOCAL_RANK": "0"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert rank_device(None, 1) == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        rank_device("cuda", 0)


def test_one_process_joins_no_group(tmp_path, monkeypatch) -> None:
    """Without torchrun's variables ``eegmi train`` is the plain loop: no process group,
    no DDP wrapper, a card without the ``distributed`` entry."""
    import torch.distributed as dist

    from eegmi.cli import main

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a single process must not wrap its model in DDP")

    monkeypatch.setattr("eegmi.training.distributed.DistributedDataParallel", refuse)
    monkeypatch.setattr(dist, "init_process_group", refuse)
    toml, npz = write_tiny_toml(tmp_path / "t.toml"), _npz(tmp_path / "t.npz")
    assert main(["train", "--experiment", str(toml), "--data", str(npz), "--out",
                 str(tmp_path / "one"), "--threads", "1", "--json"]) == 0
    card = json.loads((tmp_path / "one" / "model.json").read_text())
    assert "distributed" not in card and card["commands"][0].startswith("eegmi train")
