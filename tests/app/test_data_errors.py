"""Hostile and broken data files opened from the GUI: the loader's one-line message is shown,
the window keeps working and keeps its data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from gui_fixtures import write_tiny_data
from hostile_files import tuple_dag_key_pickle

from eegmi.data.montage import DEAP_CHANNELS


def _bad_files(root: Path) -> list[tuple[Path, str]]:
    dag = root / "s01.dat"
    dag.write_bytes(tuple_dag_key_pickle())  # hung the loader (and the GUI) for ever
    big = np.random.default_rng(0).normal(size=(40, 32)).astype(np.float32)
    big[3, 0] = 3e38
    huge = root / "huge.npz"
    np.savez(huge, data=big, ch_names=np.array(DEAP_CHANNELS))
    files = [(dag, f"{dag}: not a DEAP file: tuples nested deeper than 8"),
             (huge, f"{huge}: channel Fp1 has values up to 3e+38")]
    if hasattr(os, "mkfifo"):
        fifo = root / "pipe.npy"
        os.mkfifo(fifo)
        files.append((fifo, f"{fifo}: is a FIFO (named pipe), not a regular file"))
    return files


def test_bad_data_files_show_the_loader_message(qtbot, window, tmp_path) -> None:
    s = window.session
    good = write_tiny_data(tmp_path / "good.npz")
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        window.open_data(good)
    loaded = s.data
    for path, message in _bad_files(tmp_path):
        with qtbot.waitSignal(s.error, timeout=20000) as blocker:
            window.open_data(path)
        assert blocker.args[0].startswith(message)
        assert "\n" not in blocker.args[0]
        assert window.error_box is not None and window.error_box.isVisible()
        assert window.error_box.text().startswith(message)
        window.error_box.close()
        assert s.data is loaded  # the loaded recording stays
    assert "good.npz" in window.data_label.text()
