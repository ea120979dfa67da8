import numpy as np
import pytest

from eegmi.analysis.inputs import InputSpec, analysis_inputs
from eegmi.errors import ConfigError
from eegmi.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def e3():
    return load_checkpoint("E3")


def test_heldout_frames_come_from_the_validation_split(e3):
    from eegmi.analysis.inputs import _validation_indices
    from eegmi.data.loaders import load_dataset

    s = analysis_inputs(e3, InputSpec(count=64, seed=1))
    assert s.values.shape == (64, 32) and s.split == "val"
    assert "validation split" in s.description
    data = load_dataset("synthetic", montage=e3.operator.montage)
    val = _validation_indices(e3, data)
    want = e3.scaler.transform(np.asarray(data.values[val], dtype=np.float32))
    # every drawn frame is one of the validation frames
    d = np.abs(s.values[:, None, :] - want[None, :, :]).max(axis=2).min(axis=1)
    assert d.max() < 1e-6
    # the same spec gives the same frames; another seed other frames
    assert np.array_equal(s.values, analysis_inputs(e3, InputSpec(count=64, seed=1)).values)
    assert not np.array_equal(s.values, analysis_inputs(e3, InputSpec(count=64, seed=2)).values)


def test_random_mixes_are_explicit(e3):
    s = analysis_inputs(e3, InputSpec(kind="random", count=10, seed=3))
    assert s.split is None and s.values.shape == (10, 32)
    assert 0 <= s.values.min() and s.values.max() <= 1
    assert "random" in s.description


def test_bad_specs_are_refused(e3):
    with pytest.raises(ConfigError):
        analysis_inputs(e3, InputSpec(count=0))
    with pytest.raises(ConfigError):
        analysis_inputs(e3, InputSpec(kind="everything"))  # type: ignore[arg-type]
