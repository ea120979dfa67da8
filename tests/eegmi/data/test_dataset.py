"""Splits without leakage; topomap batches rendered per batch, scaled, injected; memmap input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.data.dataset import Split, TopomapBatches, split_frames
from eegmi.data.injection import Injection, InjectionConfig
from eegmi.data.preprocess import ClipScaler
from eegmi.data.recording import EEGData
from eegmi.data.topomap import get_operator
from eegmi.errors import ConfigError

N_T = 512  # frames per trial


def make_data(n_subjects: int = 4, n_trials: int = 5) -> EEGData:
    n = n_subjects * n_trials * N_T
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 32)).astype(np.float32)
    subject = np.repeat(np.arange(n_subjects, dtype=np.int16), n_trials * N_T)
    trial = np.tile(np.repeat(np.arange(n_trials, dtype=np.int32), N_T), n_subjects)
    names = tuple(get_operator().montage.ch_names)
    return EEGData(values, names, 128.0, subject, trial, {"path": "test"})


def check_partition(split: Split, n: int, exact: bool = True) -> None:
    parts = [split.train, split.val, split.test]
    allidx = np.concatenate(parts)
    assert len(np.unique(allidx)) == len(allidx)  # disjoint
    if exact:
        assert len(allidx) == n
    for p in parts:
        assert p.dtype == np.int64 and np.all(np.diff(p) > 0) and len(p) > 0


@pytest.mark.parametrize("by", ["subject", "trial"])
def test_group_splits_do_not_share_groups(by) -> None:
    data = make_data()
    split = split_frames(data, by=by, fractions=(0.5, 0.25, 0.25), seed=1)
    check_partition(split, data.n_frames)
    key = data.subject.astype(np.int64) if by == "subject" else (
        data.subject.astype(np.int64) * 1000 + data.trial)
    groups = [set(key[p].tolist()) for p in (split.train, split.val, split.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2])
    assert not (groups[1] & groups[2])
    if by == "subject":
        assert [len(g) for g in groups] == [2, 1, 1]
    else:
        assert [len(g) for g in groups] == [10, 5, 5]


def test_split_is_deterministic_and_seeded() -> None:
    data = make_data()
    a = split_frames(data, by="trial", seed=3)
    b = split_frames(data, by="trial", seed=3)
    c = split_frames(data, by="trial", seed=4)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_time_split_blocks_and_guard() -> None:
    data = make_data(n_subjects=1, n_trials=2)
    split = split_frames(data, by="time", fractions=(0.5, 0.25, 0.25), seed=0,
                         block_seconds=1.0, guard_seconds=0.25)
    check_partition(split, data.n_frames, exact=False)
    part = np.full(data.n_frames, -1)
    for i, p in enumerate((split.train, split.val, split.test)):
        part[p] = i
    # every 128-frame block is within one split (guard frames excepted)
    for start in range(0, data.n_frames, 128):
        assigned = set(part[start:start + 128].tolist()) - {-1}
        assert len(assigned) == 1
    # no two frames of different splits closer than the guard (32 frames) within a trial
    labelled = np.flatnonzero(part >= 0)
    for i, j in zip(labelled[:-1], labelled[1:], strict=True):
        same_trial = data.trial[i] == data.trial[j]
        if same_trial and part[i] != part[j]:
            assert j - i > 32
    dropped = int((part < 0).sum())
    assert 0 < dropped <= 32 * (data.n_frames // 128)


def test_bad_split_arguments() -> None:
    data = make_data(n_subjects=2)
    with pytest.raises(ConfigError, match="cannot split 2 subject"):
        split_frames(data, by="subject")
    with pytest.raises(ConfigError, match="summing to 1"):
        split_frames(data, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ConfigError, match="unknown split"):
        split_frames(data, by="frame")
    one = split_frames(data, by="trial", fractions=(1.0, 0.0, 0.0))
    assert len(one.train) == data.n_frames and len(one.val) == 0 and len(one.test) == 0


@pytest.fixture(scope="module")
def op():
    return get_operator("biosemi32", 40, "cubic")


def test_batches_render_scale_and_inject(op) -> None:
    data = make_data(n_subjects=1, n_trials=1)
    scaler = ClipScaler.fit(data.values)
    inj = Injection(op, InjectionConfig(marks=True, occlusion=True))
    idx = np.array([5, 400, 3, 77, 250], dtype=np.int64)
    batches = TopomapBatches(data.values, idx, op, scaler, inj, batch_size=2)
    assert len(batches) == 3
    got = list(batches)
    assert [len(b.index) for b in got] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b.index for b in got]), idx)  # order kept
    b = got[0]
    want_vals = scaler.transform(data.values[idx[:2]])
    np.testing.assert_allclose(b.values.numpy(), want_vals, atol=1e-6)
    assert b.target.shape == (2, 1, 40, 40) and b.images.shape == (2, 1, 40, 40)
    want_img = op.render(want_vals)
    np.testing.assert_allclose(b.target[:, 0].numpy(), want_img, atol=1e-5)
    np.testing.assert_allclose(b.images.numpy(), inj.apply(b.target).numpy())
    assert not torch.equal(b.images, b.target)  # occlusion and marks changed the input
    plain = next(iter(TopomapBatches(data.values, idx, op, scaler, None, batch_size=2)))
    assert torch.equal(plain.images, plain.target)


def test_shuffle_is_seeded_and_changes_per_pass(op) -> None:
    data = make_data(n_subjects=1, n_trials=1)
    scaler = ClipScaler.fit(data.values)
    idx = np.arange(0, 200, dtype=np.int64)

    def orders(seed: int) -> list[np.ndarray]:
        it = TopomapBatches(data.values, idx, op, scaler, batch_size=50, shuffle=True, seed=seed)
        return [np.concatenate([b.index for b in it]) for _ in range(2)]

    a1, a2 = orders(7)
    b1, _ = orders(7)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, a2)  # a new order each pass
    assert sorted(a1.tolist()) == idx.tolist()
    dl = TopomapBatches(data.values, idx[:120], op, scaler, batch_size=50, drop_last=True)
    assert len(dl) == 2 and [len(b.index) for b in dl] == [50, 50]


def test_memmap_values(op, tmp_path) -> None:
    data = make_data(n_subjects=1, n_trials=1)
    path = tmp_path / "values.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=data.values.shape)
    mm[:] = data.values
    mm.flush()
    ro = np.load(path, mmap_mode="r")
    scaler = ClipScaler.fit(data.values)
    idx = np.array([300, 10, 150])
    a = next(iter(TopomapBatches(ro, idx, op, scaler, batch_size=8)))
    b = next(iter(TopomapBatches(data.values, idx, op, scaler, batch_size=8)))
    assert torch.equal(a.target, b.target)


def test_batches_reject_mismatched_operator(op) -> None:
    with pytest.raises(ConfigError, match="do not fit"):
        TopomapBatches(np.zeros((10, 5), np.float32), np.arange(3), op, None)
    with pytest.raises(ConfigError, match="batch_size"):
        TopomapBatches(np.zeros((10, 32), np.float32), np.arange(3), op, None, batch_size=0)
