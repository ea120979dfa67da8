"""``eegmi data convert``: a DEAP folder decoded once into a memory-mapped set, atomically,
with progress; later loads memory-map it without decoding."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import eegmi.data.deap as deap
from eegmi.cli import main
from eegmi.data.convert import META, convert_deap, is_converted, load_converted
from eegmi.data.loaders import load_eeg
from eegmi.errors import DataError
from eegmi.jobs import Cancelled, CancelToken, run_job

N_S = 256


def write_deap(path: Path, seed: int, n_trials: int = 2) -> Path:
    data = np.random.default_rng(seed).normal(scale=20.0, size=(n_trials, 40, N_S))
    with open(path, "wb") as fh:
        pickle.dump({"data": data, "labels": np.ones((n_trials, 4))}, fh, protocol=2)
    return path


@pytest.fixture()
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EEGMI_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "deap"
    d.mkdir()
    write_deap(d / "s02.dat", 2, n_trials=3)
    write_deap(d / "s01.dat", 1)
    (d / "notes.txt").write_text("ignored")
    return d


def _no_decoding(monkeypatch) -> None:
    def refuse(path):
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr(deap, "read_deap_file", refuse)


def test_convert_then_load_without_decoding(folder, tmp_path, monkeypatch) -> None:
    out = tmp_path / "set"
    reports = []
    job = convert_deap(folder, out)
    done = run_job(job, on_progress=reports.append)
    assert done.n_frames == (2 + 3) * N_S and done.n_files == 2 and not done.reused
    assert [r.message for r in reports] == ["s01.dat (1/2)", "s02.dat (2/2)", "done"]
    assert reports[-1].done == reports[-1].total  # bytes of the files
    assert is_converted(out) and sorted(p.name for p in out.iterdir()) == sorted(
        [META, "values.npy", "subject.npy", "trial.npy"])
    reference = load_eeg(folder)  # the folder cache path decodes the same files
    _no_decoding(monkeypatch)
    data = load_eeg(out)
    assert isinstance(data.values, np.memmap) and data.provenance["loader"] == "converted"
    np.testing.assert_array_equal(np.asarray(data.values), np.asarray(reference.values))
    np.testing.assert_array_equal(data.subject, [1] * 2 * N_S + [2] * 3 * N_S)
    np.testing.assert_array_equal(data.trial[:N_S + 1], [0] * N_S + [1])
    assert data.ch_names == reference.ch_names and data.sfreq == 128.0
    again = run_job(convert_deap(folder, out))  # the same files: reused, nothing decoded
    assert again.reused and again.n_frames == done.n_frames
    # another montage: its channels picked by name from the same set
    from eegmi.data.montage import get_montage

    names = list(reference.ch_names[:8])[::-1]
    sub = load_converted(out, get_montage("biosemi32", ch_names=names))
    assert sub.ch_names == tuple(names)
    np.testing.assert_array_equal(sub.values, np.asarray(reference.values)[:, 7::-1])


def test_a_bad_file_cancel_or_stop_leaves_nothing(folder, tmp_path) -> None:
    out = tmp_path / "set"
    (folder / "s03.dat").write_bytes(b"\x80\x02}q\x00")  # a truncated pickle
    with pytest.raises(DataError, match="s03.dat"):
        run_job(convert_deap(folder, out))
    (folder / "s03.dat").unlink()
    token = CancelToken()
    job = convert_deap(folder, out, cancel=token)
    next(job)
    next(job)  # the first file is written
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(job)
    job = convert_deap(folder, out)
    next(job)
    next(job)
    job.close()  # a consumer that stops (as a kill would, but with cleanup)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_stale_partial_of_a_dead_writer_is_swept(folder, tmp_path) -> None:
    out = tmp_path / "set"
    stale = tmp_path / ".set.partial-999999999"  # no such process
    stale.mkdir()
    (stale / "values.npy").write_bytes(b"half")
    assert not is_converted(stale)
    run_job(convert_deap(folder, out))
    assert not stale.exists() and is_converted(out)


def test_out_holding_something_else_is_refused(folder, tmp_path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("mine")
    with pytest.raises(DataError, match="not an empty folder"):
        run_job(convert_deap(folder, busy))
    assert (busy / "x.txt").read_text() == "mine"
    out = tmp_path / "set"
    run_job(convert_deap(folder, out))
    write_deap(folder / "s04.dat", 4)
    with pytest.raises(DataError, match="other files"):
        run_job(convert_deap(folder, out))


def test_damaged_set_is_one_line(folder, tmp_path) -> None:
    out = tmp_path / "set"
    run_job(convert_deap(folder, out))
    with open(out / "values.npy", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(DataError, match="damaged"):
        load_eeg(out)
    meta = json.loads((out / META).read_text())
    meta["n_frames"] = -3
    (out / META).write_text(json.dumps(meta))
    with pytest.raises(DataError, match="n_frames"):
        load_eeg(out)


def test_cli_convert_and_info(folder, tmp_path, capsys) -> None:
    out = tmp_path / "set"
    assert main(["data", "convert", str(folder), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n_frames"] == 5 * N_S and res["bytes"] == 5 * N_S * 32 * 4 and not res["reused"]
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["shape"] == [5 * N_S, 32]
    assert main(["data", "convert", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]


def test_killed_conversion_leaves_no_set(folder, tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "set"
    script = ("import sys, time\n"
              "import eegmi.data.deap as deap\n"
              "read = deap.read_deap_file\n"
              "def slow(p):\n"
              "    time.sleep(30)\n"
              "    return read(p)\n"
              "deap.read_deap_file = slow\n"
              "from eegmi.data.convert import convert_deap\n"
              "from eegmi.jobs import run_job\n"
              "run_job(convert_deap(sys.argv[1], sys.argv[2]))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script, str(folder), str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        partial = tmp_path / f".set.partial-{proc.pid}"
        while not (partial / "values.npy").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists() and partial.exists()
    with pytest.raises(DataError):
        load_eeg(partial)  # a partial folder is never taken for a set
    run_job(convert_deap(folder, out))
    assert is_converted(out) and not partial.exists()
