"""ClipScaler: global percentile clipping, [0, 1] scaling, storage, numpy and torch."""

import json

import numpy as np
import pytest
import torch

from eegmi.data.preprocess import ClipScaler
from eegmi.errors import DataError


def test_fit_uses_global_percentiles() -> None:
    rng = np.random.default_rng(0)
    # Channels with different scales: per-channel scaling would flatten this pattern.
    values = rng.normal(size=(2000, 4)) * np.array([1.0, 2.0, 5.0, 10.0])
    s = ClipScaler.fit(values)
    lo, hi = np.percentile(values, [5, 95])
    assert s.lo == pytest.approx(lo) and s.hi == pytest.approx(hi)
    x = s.transform(values)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    # The spatial ordering of channel spreads is kept.
    spread = x.std(axis=0)
    assert np.all(np.diff(spread) > 0)
    frac_clipped = np.mean((values < s.lo) | (values > s.hi))
    assert frac_clipped == pytest.approx(0.10, abs=0.01)


def test_transform_inverse_roundtrip_inside_bounds() -> None:
    s = ClipScaler(lo=-2.0, hi=6.0)
    v = np.array([[-5.0, -2.0, 2.0, 6.0, 9.0]])
    np.testing.assert_allclose(s.transform(v), [[0.0, 0.0, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(s.inverse(s.transform(v)), np.clip(v, -2.0, 6.0), atol=1e-6)


def test_torch_matches_numpy() -> None:
    s = ClipScaler(lo=-1.0, hi=3.0)
    v = np.random.default_rng(1).normal(size=(8, 32)) * 3
    t = s.transform(torch.from_numpy(v).float())
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), s.transform(v), atol=1e-6)
    np.testing.assert_allclose(s.inverse(t).numpy(), s.inverse(s.transform(v)), atol=1e-5)
    fitted = ClipScaler.fit(torch.from_numpy(v))
    assert fitted.lo == pytest.approx(ClipScaler.fit(v).lo)


def test_subsample_is_deterministic_and_close() -> None:
    rng = np.random.default_rng(2)
    values = rng.standard_t(3, size=(20000, 8))
    full = ClipScaler.fit(values)
    a = ClipScaler.fit(values, max_samples=40000)
    b = ClipScaler.fit(values, max_samples=40000)
    assert a == b
    assert a.lo != full.lo  # it really subsampled
    assert a.lo == pytest.approx(full.lo, rel=0.05) and a.hi == pytest.approx(full.hi, rel=0.05)


def test_to_dict_roundtrip_through_json() -> None:
    s = ClipScaler.fit(np.arange(1000.0).reshape(100, 10), q_low=10, q_high=90)
    d = json.loads(json.dumps(s.to_dict()))
    assert ClipScaler.from_dict(d) == s
    with pytest.raises(DataError):
        ClipScaler.from_dict({"lo": 1.0})


def test_flat_and_bad_data_raise() -> None:
    with pytest.raises(DataError, match="flat"):
        ClipScaler.fit(np.full((50, 4), 3.0))
    with pytest.raises(DataError, match="NaN"):
        ClipScaler.fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(DataError, match="empty"):
        ClipScaler.fit(np.zeros((0, 4)))
    with pytest.raises(DataError, match="flat"):
        ClipScaler(lo=1.0, hi=1.0)
