"""Headless figure sets: originals beside reconstructions for each model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model

from eegmi.errors import Cancelled, ConfigError, DataError
from eegmi.figures import default_frames, figure_set_job
from eegmi.jobs import CancelToken, run_job


def test_figure_set_writes_png_pdf_and_manifest(tmp_path) -> None:
    data = write_tiny_data(tmp_path / "d.npz")
    models = [str(write_tiny_model(tmp_path / "m1", seed=0)),
              str(write_tiny_model(tmp_path / "m2", seed=1, marks=True))]
    reports = []
    manifest = run_job(figure_set_job(tmp_path / "out", models, str(data), frames=[0, 7, 59]),
                       reports.append)
    assert reports[-1].fraction == 1.0
    out = tmp_path / "out"
    for name in ("m1", "m2"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
        assert len(manifest["models"][name]["ssim"]) == 3
    on_disk = json.loads((out / "figure_set.json").read_text())
    assert on_disk["frames"] == [0, 7, 59]
    assert on_disk["models"]["m1"]["mse"] != on_disk["models"]["m2"]["mse"]


def test_cancelled_and_bad_requests_write_nothing(tmp_path) -> None:
    data = write_tiny_data(tmp_path / "d.npz")
    model = str(write_tiny_model(tmp_path / "m1"))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(figure_set_job(tmp_path / "out", [model], str(data), cancel=token), cancel=token)
    with pytest.raises(DataError):
        run_job(figure_set_job(tmp_path / "out", [model], str(data), frames=[60]))
    with pytest.raises(ConfigError):
        run_job(figure_set_job(tmp_path / "out", [], str(data)))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_default_frames_spread_over_recording() -> None:
    assert default_frames(100) == [0, 33, 66, 99]
    assert default_frames(2) == [0, 1]
    assert np.all(np.diff(default_frames(1000, 6)) > 0)
