"""Training data stay where they are: channels reordered per batch, the scaler fitted on a sample."""

from __future__ import annotations

import numpy as np
import pytest

from eegmi.data.dataset import ChannelView, TopomapBatches
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.preprocess import ClipScaler
from eegmi.data.recording import EEGData
from eegmi.errors import DataError
from eegmi.training.experiments import ExperimentConfig
from eegmi.training.prepare import prepare_data


def _recording(path, n_frames: int) -> EEGData:
    """A memory-mapped recording whose columns are the montage's channels shuffled,
    plus one extra channel the montage does not use."""
    rng = np.random.default_rng(3)
    names = list(DEAP_CHANNELS) + ["EXG1"]
    perm = rng.permutation(len(names))
    values = rng.normal(size=(n_frames, len(names))).astype(np.float32) * np.linspace(1, 3, len(names))
    np.save(path, values[:, perm])
    trials = 50
    return EEGData(values=np.load(path, mmap_mode="r"), ch_names=tuple(names[i] for i in perm),
                   sfreq=128.0, subject=np.zeros(n_frames, np.int16),
                   trial=np.repeat(np.arange(trials), n_frames // trials).astype(np.int32),
                   provenance={"path": str(path), "loader": "test"})


def _experiment() -> ExperimentConfig:
    return ExperimentConfig.from_dict({"name": "t", "model": {"kind": "decoder", "latent_dim": 32,
                                                               "filters": [4, 8, 8]}})


@pytest.mark.parametrize("n_frames", [2_000, 100_000])  # the larger one makes the scaler sample
def test_per_batch_reorder_equals_the_whole_copy(tmp_path, n_frames):
    data = _recording(tmp_path / "v.npy", n_frames)
    prep = prepare_data(_experiment(), data)
    assert isinstance(prep.values, ChannelView)
    assert prep.values.base is data.values  # the memmap itself, never a copy of it
    # what prepare_data did before: the whole recording reordered in memory
    from eegmi.data.montage import get_montage, match_channels

    order = match_channels(data.ch_names, get_montage("biosemi32"))
    whole = np.asarray(data.values[:, order], dtype=np.float32)
    old_scaler = ClipScaler.fit(whole[prep.split.train])
    assert (prep.scaler.lo, prep.scaler.hi) == (old_scaler.lo, old_scaler.hi)
    assert prep.values.shape == whole.shape
    rows = prep.values[5:9]
    np.testing.assert_array_equal(rows, whole[5:9])
    assert rows.flags.writeable and not np.shares_memory(rows, data.values)
    pick = np.sort(np.random.default_rng(0).choice(n_frames, 500, replace=False))
    np.testing.assert_array_equal(prep.values.gather(pick, chunk_rows=64), whole[pick])
    idx = prep.split.val[:300]
    new = TopomapBatches(prep.values, idx, prep.operator, prep.scaler, batch_size=64, shuffle=True)
    old = TopomapBatches(whole, idx, prep.operator, prep.scaler, batch_size=64, shuffle=True)
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a.index, b.index)
        assert np.array_equal(a.values.numpy(), b.values.numpy())
        assert np.array_equal(a.images.numpy(), b.images.numpy())


def test_non_finite_values_found_in_any_chunk(tmp_path):
    data = _recording(tmp_path / "v.npy", 2_000)
    values = np.array(data.values)
    unused = data.ch_names.index("EXG1")
    values[:, unused] = np.nan  # a channel the montage does not take is not checked
    data.values = values
    assert prepare_data(_experiment(), data).values.all_finite(chunk_rows=100)
    used = data.ch_names.index("Cz")
    values[1_777, used] = np.inf
    view = ChannelView(values, [used])
    assert not view.all_finite(chunk_rows=100)
    with pytest.raises(DataError, match="NaN or infinity"):
        prepare_data(_experiment(), data)
