"""Synthetic EEG: determinism, known sources recoverable, default set cached without pickle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from eegmi.data import synthetic
from eegmi.data.loaders import load_eeg
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.synthetic import make_synthetic, source_time_courses, write_synthetic
from eegmi.errors import DataError

SMALL = dict(n_subjects=2, trials_per_subject=2, seconds_per_trial=8.0)


@pytest.fixture(scope="module")
def small():
    return make_synthetic(**SMALL, seed=3)


def test_shape_channels_and_labels(small) -> None:
    n_t = 8 * 128
    assert small.values.shape == (2 * 2 * n_t, 32)
    assert small.values.dtype == np.float32
    assert small.ch_names == DEAP_CHANNELS
    assert small.sfreq == 128.0
    assert small.subjects() == [0, 1]
    assert small.n_trials() == 4
    # frames of a trial are contiguous
    assert np.all(small.trial[:n_t] == 0) and np.all(small.trial[n_t:2 * n_t] == 1)
    # average reference: channels sum to zero at every frame
    assert np.abs(small.values.sum(axis=1)).max() < 1e-3
    assert 1.0 < float(small.values.std()) < 100.0  # plausible µV scale


def test_deterministic_and_seed_dependent(small) -> None:
    again = make_synthetic(**SMALL, seed=3)
    np.testing.assert_array_equal(again.values, small.values)
    other = make_synthetic(**SMALL, seed=4)
    assert not np.allclose(other.values, small.values)


def test_subjects_have_different_layouts(small) -> None:
    gt = small.ground_truth
    pos0 = gt["src_pos"][gt["src_subject"] == 0]
    pos1 = gt["src_pos"][gt["src_subject"] == 1]
    assert pos0.shape == pos1.shape
    assert np.linalg.norm(pos0 - pos1, axis=1).min() > 1e-4
    kinds = set(gt["src_kind"].tolist())
    assert {"theta", "alpha", "beta", "blink", "pink"} <= kinds
    for band, (lo, hi) in synthetic.BANDS.items():
        f = gt["src_freq"][gt["src_kind"] == band]
        assert np.all((f >= lo) & (f <= hi))


def test_ground_truth_regenerates_each_trial(small) -> None:
    gt = small.ground_truth
    for s, tr in [(0, 1), (1, 0)]:
        tc, noise = source_time_courses(gt, s, tr)
        topo = gt["src_topography"][gt["src_subject"] == s]
        x = tc.T @ topo + noise
        x -= x.mean(axis=1, keepdims=True)
        frames = (small.subject == s) & (small.trial == tr)
        np.testing.assert_allclose(small.values[frames], x, atol=1e-3)
        # what is left after removing the sources is the documented sensor noise
        resid = small.values[frames] - (tc.T @ topo - (tc.T @ topo).mean(1, keepdims=True))
        assert abs(resid.std() - synthetic.NOISE_UV * np.sqrt(31 / 32)) < 0.05


def test_alpha_rhythm_visible_in_spectrum(small) -> None:
    gt = small.ground_truth
    sel = (gt["src_subject"] == 0) & (gt["src_kind"] == "alpha")
    k = np.flatnonzero(sel)[0]
    ch = int(np.abs(gt["src_topography"][k]).argmax())
    frames = (small.subject == 0) & (small.trial == 0)
    f, p = welch(small.values[frames, ch], fs=128.0, nperseg=512)
    band = (f >= 6) & (f <= 35)
    peak = f[band][p[band].argmax()]
    osc = gt["src_freq"][(gt["src_subject"] == 0) & np.isfinite(gt["src_freq"])]
    assert np.min(np.abs(osc - peak)) <= 0.5


def test_blinks_are_frontal_transients(small) -> None:
    gt = small.ground_truth
    k = np.flatnonzero((gt["src_subject"] == 0) & (gt["src_kind"] == "blink"))[0]
    top = DEAP_CHANNELS[int(np.abs(gt["src_topography"][k]).argmax())]
    assert top in {"Fp1", "Fp2", "AF3", "AF4", "Fz", "F3", "F4", "F7", "F8"}
    times = gt["blink_time_s"][(gt["blink_subject"] == 0) & (gt["blink_trial"] == 0)]
    assert len(times) >= 1
    frames = np.flatnonzero((small.subject == 0) & (small.trial == 0))
    x = small.values[frames, DEAP_CHANNELS.index(top)]
    at_blink = np.abs(x[np.round(times * 128).astype(int)]).mean()
    assert at_blink > 2 * np.median(np.abs(x))


def test_bad_sizes_raise() -> None:
    with pytest.raises(DataError):
        make_synthetic(n_subjects=0)


def test_write_and_load_back_with_truth(small, tmp_path) -> None:
    paths = write_synthetic(small, tmp_path)
    back = load_eeg(paths["data"])
    np.testing.assert_array_equal(back.values, small.values)
    np.testing.assert_array_equal(back.subject, small.subject)
    np.testing.assert_array_equal(back.trial, small.trial)
    assert back.ground_truth is not None
    np.testing.assert_array_equal(back.ground_truth["src_pos"], small.ground_truth["src_pos"])
    assert back.ground_truth["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "synthetic.npz", "synthetic.truth.json", "synthetic.truth.npz"]
    # the .npz files need no pickle
    with np.load(paths["truth_npz"], allow_pickle=False) as z:
        assert "src_kind" in z.files


def test_default_dataset_cached_on_disk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EEGMI_CACHE", str(tmp_path))
    synthetic.default_dataset.cache_clear()
    try:
        first = synthetic.default_dataset()
        assert first.n_frames == 4 * 10 * 30 * 128
        assert first.subjects() == [0, 1, 2, 3]
        cached = sorted(p.name for p in tmp_path.iterdir())
        assert any(name.endswith(".npz") for name in cached)
        synthetic.default_dataset.cache_clear()
        second = synthetic.default_dataset()  # now read from the disk cache
        assert second.provenance.get("cache")
        np.testing.assert_array_equal(second.values, first.values)
        np.testing.assert_array_equal(second.ground_truth["src_topography"],
                                      first.ground_truth["src_topography"])
    finally:
        synthetic.default_dataset.cache_clear()
