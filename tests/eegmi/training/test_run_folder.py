"""Runs on disk: the writer lock, checkpoints as one unit after a kill, disk full, leftovers."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from hostile import refused
from safetensors.torch import load_file
from tiny_training import TINY_TOML, tiny_data, tiny_experiment

from eegmi.data.loaders import save_npz
from eegmi.errors import Cancelled, CheckpointError
from eegmi.jobs import CancelToken, run_job
from eegmi.training import checkpoint as ck
from eegmi.training.checkpoint import load_checkpoint, load_train_state
from eegmi.training.history import read_history
from eegmi.training.loop import train
from eegmi.training.rundir import JOURNAL, LOCK, RunLock

TESTS = Path(__file__).resolve().parents[2] / "support"  # tiny_training.py, for the children
ROOT = TESTS.parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    save_npz(tiny_data(), root / "tiny.npz")
    (root / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """Bit-exact comparisons need the thread count of the children (the CLI raises it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train_argv(files, out, *extra):
    return ["train", "--experiment", str(files / "tiny.toml"), "--data", str(files / "tiny.npz"),
            "--out", str(out), *extra]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name == JOURNAL)


def test_second_writer_refused(files, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    with RunLock(out):
        refused(capsys, _train_argv(files, out), str(out), "another eegmi train",
                f"pid {os.getpid()}")
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
    # the lock is free again: the same command now trains
    from eegmi.cli import main

    assert main(_train_argv(files, out)) == 0
    assert (out / "model.json").is_file()


def test_lock_of_a_killed_process_is_taken_over(files, tmp_path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from eegmi.training.rundir import RunLock
            RunLock({str(out)!r}).acquire()
            print("locked", flush=True)
            time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Exception, match="another eegmi train"):
            RunLock(out).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK).exists()  # the stale lock file is still there...
    run_job(train(tiny_experiment(), tiny_data(), out))  # ...and does not block a new run
    assert read_history(out)[-1]["epoch"] == 1


def test_cancelled_first_epoch_leaves_nothing(tmp_path) -> None:
    out = tmp_path / "run"
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(train(tiny_experiment(), tiny_data(), out, cancel=token))
    assert not out.exists()
    # in an existing folder only this run's files go
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Cancelled):
        run_job(train(tiny_experiment(), tiny_data(), out, cancel=token))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def _disk_full(after: int, kind: str = "safetensors"):
    """A ``save_file`` that runs out of space on its ``after``-th call, half way through
    (safetensors reports it as its own error, like a real full disk does)."""
    from safetensors import SafetensorError

    real, calls = ck.save_file, [0]

    def save_file(tensors, filename, metadata=None):
        calls[0] += 1
        if calls[0] == after:
            Path(filename).write_bytes(b"\0" * 100)
            if kind == "os":
                raise OSError(errno.ENOSPC, "No space left on device", str(filename))
            raise SafetensorError("Error while serializing: I/O error: No space left on "
                                  "device (os error 28)")
        return real(tensors, filename, metadata=metadata)

    return save_file


@pytest.mark.parametrize("kind", ["safetensors", "os"])
def test_disk_full_on_first_epoch_one_line_no_output(files, tmp_path, capsys, monkeypatch,
                                                     kind) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(ck, "save_file", _disk_full(1, kind))
    refused(capsys, _train_argv(files, out, "--json"), str(out / "model.safetensors"),
            "No space left on device")
    assert not out.exists()


def test_disk_full_later_keeps_previous_checkpoint(files, tmp_path, capsys,
                                                    monkeypatch) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(ck, "save_file", _disk_full(4))  # epoch 2's train state
    refused(capsys, _train_argv(files, out, "--epochs", "2", "--json"),
            str(out / "train_state.safetensors"), "No space left on device",
            "nothing was replaced")
    assert _leftovers(out) == []
    assert [r["epoch"] for r in read_history(out)] == [1]
    assert load_checkpoint(out).meta["epochs"] == 1 and load_train_state(out)[1]["epoch"] == 1


def test_ctrl_c_during_a_save_leaves_history_and_checkpoint_at_one_epoch(files, tmp_path,
                                                                         monkeypatch) -> None:
    """A Ctrl-C (KeyboardInterrupt) that lands while epoch 2 is being saved: the folder
    still ends at epoch 1 in the history, the card and the train state."""
    out = tmp_path / "run"
    real = ck.save_file
    calls = {"n": 0}

    def save_file(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 2's weights
            raise KeyboardInterrupt
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ck, "save_file", save_file)
    with pytest.raises(KeyboardInterrupt):
        run_job(train(tiny_experiment(epochs=3), tiny_data(), out))
    assert [r["epoch"] for r in read_history(out)] == [1]
    assert load_checkpoint(out).meta["epochs"] == 1 and load_train_state(out)[1]["epoch"] == 1


def test_leftover_temporaries_are_swept(tmp_path) -> None:
    out = tmp_path / "run"
    run_job(train(tiny_experiment(), tiny_data(), out))
    for name in (".model.json.x1.tmp", ".model.safetensors.x2.tmp",
                 f"{JOURNAL}.x3.tmp", ".history.jsonl.x4.tmp"):
        (out / name).write_bytes(b"partial")
    (out / "mine.tmp").write_text("not ours")
    run_job(train(tiny_experiment(epochs=2), tiny_data(), out, resume=True))
    assert _leftovers(out) == ["mine.tmp"]


# ---- kills: a real process dies at every step of writing a checkpoint ----------------------

CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
from tiny_training import tiny_data, tiny_experiment
from eegmi.jobs import run_job
from eegmi.training import checkpoint as ck
from eegmi.training.loop import train

root, points, data = sys.argv[1], [int(k) for k in sys.argv[2:]], tiny_data()


def run(out, crash_at):
    count = [0]

    def step():
        count[0] += 1
        if count[0] == crash_at:
            os._exit(9)  # dies like kill -9: no cleanup, no finally

    def counted(fn, before=False):
        def wrapper(*args, **kwargs):
            if before:
                step()
            result = fn(*args, **kwargs)
            if not before:
                step()
            return result
        return wrapper

    os.replace = counted(os.replace)
    os.fsync = counted(os.fsync)
    ck.save_file = counted(ck.save_file, before=True)  # dies with an empty temporary
    run_job(train(tiny_experiment(epochs=2), data, out),
            lambda p: "epoch" in p.payload and print("epoch", p.payload["epoch"], count[0], flush=True))


# one interpreter imports torch once and forks a fresh trainer per kill point (nothing
# has run on torch's thread pool before the fork)
for k in points:
    pid = os.fork()
    if pid == 0:
        print("pid", os.getpid(), flush=True)
        run(os.path.join(root, f"kill{{k}}"), k)
        os._exit(0)
    print("exit", k, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def _children(tmp_path: Path, points: list[int]) -> list[str]:
    """Train in forked children, each killed at its step ``k`` (0: never); stdout lines."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path), *map(str, points)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def _check_consistent_then_resume(out: Path, reference: dict[str, torch.Tensor],
                                  where: object = None) -> None:
    """Whatever is on disk is one checkpoint, and --resume finishes the run exactly."""
    if (out / "model.json").exists() or (out / JOURNAL).exists():
        loaded = load_checkpoint(out)  # finishes a commit the kill interrupted
        tensors, state = load_train_state(out)
        assert state["epoch"] == loaded.meta["epochs"], where
        for key, value in loaded.model.state_dict().items():
            assert torch.equal(value, tensors[f"model.{key}"]), (where, key)
        assert not (out / JOURNAL).exists()
    run_job(train(tiny_experiment(epochs=2), tiny_data(), out, resume=True))
    assert _leftovers(out) == [], where
    assert [r["epoch"] for r in read_history(out)] == [1, 2], where
    got = load_file(str(out / "model.safetensors"))
    assert got.keys() == reference.keys()
    assert [k for k in got if not torch.equal(got[k], reference[k])] == [], where


def test_kill_at_every_step_of_a_checkpoint(tmp_path) -> None:
    lines = _children(tmp_path, [0])
    marks = [int(line.split()[2]) for line in lines if line.startswith("epoch")]
    assert lines[-1] == "exit 0 0" and len(marks) == 2
    reference = load_file(str(tmp_path / "kill0" / "model.safetensors"))
    per_epoch = marks[1] - marks[0]
    assert per_epoch >= 10  # 3 writes, 4 flushes, journal, 3 renames, directory flushes
    # every step of epoch 2's checkpoint (epoch 1's are the same code) and two of epoch 1's
    points = [1, marks[0] - 2, *range(marks[0] + 1, marks[1] + 1)]
    exits = [line.split()[1:] for line in _children(tmp_path, points) if line.startswith("exit")]
    assert exits == [[str(k), "9"] for k in points]
    for k in points:
        _check_consistent_then_resume(tmp_path / f"kill{k}", reference, k)


def test_sigkill_during_training(tmp_path) -> None:
    """A real SIGKILL at an arbitrary moment of epoch 2."""
    run_job(train(tiny_experiment(epochs=2), tiny_data(), tmp_path / "ref"))
    reference = load_file(str(tmp_path / "ref" / "model.safetensors"))
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for i, delay in enumerate((0.05,)):
        server = subprocess.Popen([sys.executable, str(script), str(tmp_path / f"s{i}"), "0"],
                                  stdout=subprocess.PIPE, text=True, env=env)
        trainer = int(server.stdout.readline().split()[1])
        assert server.stdout.readline().startswith("epoch 1")  # saved; kill in epoch 2
        time.sleep(delay)
        os.kill(trainer, signal.SIGKILL)
        rest = server.stdout.read()
        assert server.wait() == 0
        out = tmp_path / f"s{i}" / "kill0"
        if "exit 0 0" in rest:  # finished before the kill arrived: nothing to test here
            continue
        _check_consistent_then_resume(out, reference, i)


def test_mismatched_state_and_card_refused_on_resume(tmp_path) -> None:
    """A state file from another checkpoint (copied by hand) is not resumed silently."""
    a, b = tmp_path / "a", tmp_path / "b"
    run_job(train(tiny_experiment(), tiny_data(), a))
    run_job(train(tiny_experiment(), tiny_data(), b))
    (b / "train_state.safetensors").write_bytes((a / "train_state.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="different checkpoints"):
        run_job(train(tiny_experiment(epochs=2), tiny_data(), b, resume=True))
    card = json.loads((b / "model.json").read_text())
    assert card["epochs"] == 1


def _state_file(out: Path, state: object, tensors: dict | None = None) -> None:
    """Replace the run's training state, keeping it tagged as the card's checkpoint."""
    from safetensors.torch import save_file

    card = json.loads((out / "model.json").read_text())
    tensors = tensors if tensors is not None else load_file(str(out / "train_state.safetensors"))
    save_file(tensors, str(out / "train_state.safetensors"),
              metadata={"state": state if isinstance(state, str) else json.dumps(state),
                        "checkpoint": card["checkpoint"]})


@pytest.mark.parametrize("case", ["epoch-string", "epoch-huge", "no-optimizer", "list",
                                  "deep", "not-json", "foreign-tensors"])
def test_hostile_train_state_refused_on_resume(files, tmp_path, capsys, case) -> None:
    out = tmp_path / "run"
    run_job(train(tiny_experiment("decoder"), tiny_data(), out))
    from safetensors import safe_open

    with safe_open(str(out / "train_state.safetensors"), "pt") as f:
        state = json.loads(f.metadata()["state"])
    if case == "epoch-string":
        state["epoch"] = "1"
    elif case == "epoch-huge":
        state["epoch"] = 10**12
    elif case == "no-optimizer":
        del state["optimizer"]
    elif case == "list":
        state = [state]
    elif case == "deep":
        state = "[" * 100_000 + "]" * 100_000
    elif case == "not-json":
        state = "{"
    _state_file(out, state, {"model.evil": torch.zeros(2)} if case == "foreign-tensors" else None)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError) as info:
        run_job(train(tiny_experiment("decoder", epochs=2), tiny_data(), out, resume=True))
    assert str(out / "train_state.safetensors") in str(info.value)
    assert "\n" not in str(info.value)
    assert (out / "model.safetensors").read_bytes() == before


def test_disk_full_before_first_epoch(files, tmp_path, capsys, monkeypatch) -> None:
    """Even the lock file cannot be written: one line naming the folder, nothing left."""
    out = tmp_path / "run"
    real = os.write

    def write(fd, data):
        if os.fstat(fd).st_ino == os.stat(out / LOCK).st_ino:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    refused(capsys, _train_argv(files, out), str(out), "No space left on device")
    assert not out.exists()


@pytest.mark.parametrize("journal", [
    b"{",
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"renames": [[".model.json./../../outside.tmp", "model.json"]]}).encode(),
    json.dumps({"renames": [[".model.json.abc.tmp", "../model.json"]]}).encode(),
])
def test_hostile_journal_moves_nothing(tmp_path, journal) -> None:
    """A crafted journal in a downloaded run folder cannot move files in or out of it."""
    out = tmp_path / "run"
    run_job(train(tiny_experiment(), tiny_data(), out))
    (tmp_path / "outside.tmp").write_text("secret")
    (out / ".model.json.abc.tmp").write_text("{}")
    (out / JOURNAL).write_bytes(journal)
    card = (out / "model.json").read_bytes()
    with pytest.raises(CheckpointError, match="journal") as info:
        load_checkpoint(out)
    assert str(out / JOURNAL) in str(info.value)
    assert (tmp_path / "outside.tmp").read_text() == "secret"
    assert (out / "model.json").read_bytes() == card
