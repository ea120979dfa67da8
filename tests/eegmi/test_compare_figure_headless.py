"""The compare figure recomputed headless on a dataset frame: model B's input is the same
raw frame scaled by B's own training scaler (the workbench's rule), not A's vector."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model

from eegmi.analysis.compare import compare_forward
from eegmi.data.loaders import load_dataset
from eegmi.errors import ConfigError
from eegmi.figures.panel import figure_state, panel_figure
from eegmi.inference import Inference
from eegmi.jobs import run_job
from eegmi.training.checkpoint import load_checkpoint
from eegmi.workbench import Workbench


def test_compute_scales_the_frame_by_each_models_scaler(tmp_path) -> None:
    data_path = write_tiny_data(tmp_path / "d.npz")
    a = load_checkpoint(write_tiny_model(tmp_path / "a", seed=0, scale=20.0))
    b = load_checkpoint(write_tiny_model(tmp_path / "b", seed=1, scale=40.0))
    wb = Workbench(a.operator.montage)
    data = load_dataset(str(data_path))
    wb.set_data(str(data_path), data, a.scaler)
    wb.set_model(str(a.path), a, a.operator.montage)
    wb.set_frame(7)
    state = figure_state("compare", "Compare", wb.state(), None, {"tabs": ["layers"]})
    with pytest.raises(ConfigError, match="pin a second model first"):
        run_job(panel_figure("compare").compute(state, "cpu"))
    wb.pin(str(b.path), b)
    state = figure_state("compare", "Compare", wb.state(), None, {"tabs": ["layers"]})
    got = run_job(panel_figure("compare").compute(state, "cpu"))
    va, vb = wb.input_values(), wb.pinned_values()
    assert not np.allclose(va, vb)  # other scalers: other vectors for the same frame
    want = compare_forward(Inference(a), Inference(b), va, vb)
    np.testing.assert_array_equal(got["recon_b"], want.b.recon)
    np.testing.assert_array_equal(got["difference"], want.difference)
    assert not got["same_input"] and got["diff_range"] == want.diff_range
    assert "alpha_a" not in got  # no α options in the view: not run
