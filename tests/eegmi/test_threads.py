"""Thread choice on a shared machine, and the ``--threads`` option of the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.cli import build_parser, main
from eegmi.devices import THREADS_ENV, choose_threads
from eegmi.errors import ConfigError


@pytest.fixture(autouse=True)
def _keep_threads(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores, load, total, expected", [
    (2, 0.0, 2, 2),     # idle machine: every core
    (2, 1.0, 2, 1),     # one other CPU-bound process: leave it its core
    (2, 15.0, 2, 1),    # overloaded: never below one
    (8, 2.2, 8, 6),
    (4, 8.0, 64, 4),    # a 4-core slice of a busy 64-CPU host: its share of the load
    (4, 0.4, 4, 4),     # a blip rounds away
])
def test_auto_counts_the_cores_other_processes_leave(cores, load, total, expected):
    assert choose_threads(None, cores=cores, load=load, total_cpus=total) == expected
    assert choose_threads("auto", cores=cores, load=load, total_cpus=total) == expected


def test_explicit_count_and_environment(monkeypatch):
    assert choose_threads(3, cores=2, load=9.0) == 3  # asked for: honoured
    monkeypatch.setenv(THREADS_ENV, "5")
    assert choose_threads(None, cores=2, load=0.0) == 5
    assert choose_threads(2, cores=2, load=0.0) == 2  # the option wins over the variable
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ConfigError, match=THREADS_ENV):
        choose_threads(None)
    with pytest.raises(ConfigError, match="--threads"):
        choose_threads(-1)


@pytest.mark.parametrize("argv", [
    ["train", "-e", "E1"], ["evaluate", "E1"], ["sae", "train", "--dict-size", "4", "--out", "x"],
    ["sae", "evaluate", "x"], ["analyze", "eigenspectrum", "E1"], ["analyze", "linearity", "E1"],
])
def test_every_model_command_takes_threads(argv):
    args = build_parser().parse_args([*argv, "--threads", "3"])
    assert args.threads == 3
    assert build_parser().parse_args(argv).threads is None
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--threads", "0"])


def test_threads_are_applied_before_the_command_runs(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.random.default_rng(0).random((200, 6)).astype(np.float32))
    target = 1 if torch.get_num_threads() != 1 else 2
    assert main(["sae", "train", "--activations", str(tmp_path / "X.npy"), "--dict-size", "8",
                 "--steps", "3", "--out", str(tmp_path / "sae"), "--threads", str(target)]) == 0
    assert torch.get_num_threads() == target
