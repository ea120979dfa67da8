"""Loaders: DEAP pickles (safely), MNE raw formats, npy/npz, and every bad input refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import mne
import numpy as np
import pytest

from eegmi.data.deap import read_deap_file
from eegmi.data.loaders import load_dataset, load_eeg, read_native
from eegmi.data.montage import DEAP_CHANNELS, get_montage
from eegmi.errors import DataError

N_S = 256  # samples per tiny DEAP trial


def deap_array(seed: int, n_trials: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=20.0, size=(n_trials, 40, N_S))


def write_deap(path: Path, data: np.ndarray) -> Path:
    with open(path, "wb") as fh:
        pickle.dump({"data": data, "labels": np.ones((len(data), 4))}, fh, protocol=2)
    return path


class Evil:
    """A pickle payload that would create a marker file if executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("EEGMI_CACHE", str(d))
    return d


def test_deap_file_in_montage_order(tmp_path) -> None:
    raw = deap_array(0)
    path = write_deap(tmp_path / "s07.dat", raw)
    data = load_eeg(path)
    assert data.values.shape == (2 * N_S, 32)
    assert data.sfreq == 128.0
    assert data.ch_names == DEAP_CHANNELS
    assert set(data.subject.tolist()) == {7}
    # frame 5 of trial 1 is sample 5 of trial 1, first 32 channels, by name
    row = N_S + 5
    np.testing.assert_allclose(data.values[row], raw[1, :32, 5], rtol=1e-6)
    assert data.trial[row] == 1
    # a reordered montage picks columns by name, not by position
    mont = get_montage("biosemi32", ch_names=["Cz", "Fp1", "O2"])
    sub = load_eeg(path, montage=mont)
    want = [DEAP_CHANNELS.index(c) for c in ("Cz", "Fp1", "O2")]
    np.testing.assert_allclose(sub.values[row], raw[1, want, 5], rtol=1e-6)


def test_deap_python2_style_strings(tmp_path) -> None:
    """Files written by Python 2 hold the array buffer as a str, not via _codecs."""
    raw = deap_array(1, n_trials=1).astype("<f8")
    state = (1, raw.shape, np.dtype("<f8"), False, raw.tobytes().decode("latin1"))

    class Py2Array:
        def __reduce__(self):
            return (np._core.multiarray._reconstruct, (np.ndarray, (0,), "b"), state)

    path = tmp_path / "s01.dat"
    blob = pickle.dumps({"data": Py2Array(), "labels": np.zeros((1, 4))}, protocol=2)
    # the DEAP originals name numpy 1's module path
    old_name = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old_name != blob
    path.write_bytes(old_name)
    eeg, labels = read_deap_file(path)
    np.testing.assert_allclose(eeg[0], raw[0, :32], rtol=1e-6)
    assert labels.shape == (1, 4)


def test_malicious_pickle_refused_without_running(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "s01.dat"
    with open(path, "wb") as fh:
        pickle.dump({"data": Evil(marker)}, fh, protocol=2)
    with pytest.raises(DataError, match="posix.system|os.system|objects other than arrays"):
        load_eeg(path)
    assert not marker.exists()
    with open(path, "wb") as fh:
        pickle.dump(Evil(marker), fh, protocol=4)
    with pytest.raises(DataError):
        load_eeg(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (pickle.dumps([1, 2, 3], protocol=2), "not a DEAP file"),
    (pickle.dumps({"labels": np.zeros(3)}, protocol=2), "not a DEAP file"),
    (pickle.dumps({"data": np.zeros((2, 10, 5))}, protocol=2), "32 channels"),
    (b"not a pickle at all", "truncated or corrupt"),
])
def test_bad_deap_files(tmp_path, content, message) -> None:
    path = tmp_path / "s02.dat"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        load_eeg(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_deap_file(tmp_path) -> None:
    full = write_deap(tmp_path / "full.dat", deap_array(0)).read_bytes()
    path = tmp_path / "s03.dat"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_eeg(path)


def test_nan_and_flat_channels_named(tmp_path) -> None:
    raw = deap_array(0)
    raw[0, DEAP_CHANNELS.index("Oz"), :7] = np.nan
    with pytest.raises(DataError, match="channel Oz has 7 NaN/Inf"):
        load_eeg(write_deap(tmp_path / "s04.dat", raw))
    raw = deap_array(0)
    raw[:, DEAP_CHANNELS.index("T8"), :] = 3.0
    with pytest.raises(DataError, match="flat channel.*T8"):
        load_eeg(write_deap(tmp_path / "s05.dat", raw))


def test_deap_folder_becomes_memmap_cache(tmp_path, cache) -> None:
    folder = tmp_path / "deap"
    folder.mkdir()
    a, b = deap_array(1), deap_array(2, n_trials=3)
    write_deap(folder / "s02.dat", b)
    write_deap(folder / "s01.dat", a)
    (folder / "notes.txt").write_text("ignored")
    data = load_eeg(folder)
    assert isinstance(data.values, np.memmap)
    assert data.values.shape == (5 * N_S, 32)
    expect = np.concatenate([a[:, :32].transpose(0, 2, 1).reshape(-1, 32),
                             b[:, :32].transpose(0, 2, 1).reshape(-1, 32)])
    np.testing.assert_allclose(np.asarray(data.values), expect, rtol=1e-6)
    assert data.subjects() == [1, 2]
    assert data.n_trials() == 5
    files = sorted(p.name for p in cache.iterdir())
    assert not any(name.endswith(".tmp") for name in files)
    stamp = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = load_eeg(folder)  # reuses the cache, writes nothing
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamp
    np.testing.assert_array_equal(np.asarray(again.values), np.asarray(data.values))


def test_deap_folder_cache_build_removes_a_killed_builds_temporaries(tmp_path, cache) -> None:
    """A build killed with -9 leaves its temporary files; the next build of the same
    cache (under the lock, so none is in use) removes them."""
    folder = tmp_path / "deap"
    folder.mkdir()
    write_deap(folder / "s01.dat", deap_array(1))
    load_eeg(folder)
    built = [p for p in cache.iterdir() if p.suffix != ".lock"]
    base = next(p for p in built if p.name.endswith(".values.npy")).name[: -len(".values.npy")]
    for p in built:
        p.unlink()
    stale = [cache / f".{base}.values.npy.k1ll3d.tmp", cache / f".{base}.trial.npy.x.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 4096)
    other = cache / ".deap_otherkey.values.npy.a.tmp"  # another cache's build: not touched
    other.write_bytes(b"x")
    load_eeg(folder)
    assert not any(p.exists() for p in stale)
    assert other.exists()
    assert not any(p.name.endswith(".tmp") and base in p.name for p in cache.iterdir())


def test_deap_folder_with_bad_file_leaves_no_cache(tmp_path, cache) -> None:
    folder = tmp_path / "deap"
    folder.mkdir()
    write_deap(folder / "s01.dat", deap_array(1))
    (folder / "s02.dat").write_bytes(b"")
    with pytest.raises(DataError, match="s02.dat: file is empty"):
        load_eeg(folder)
    # nothing but the (empty) build lock is left
    assert not cache.exists() or all(p.suffix == ".lock" for p in cache.iterdir())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no DEAP files"):
        load_eeg(empty)


def make_raw(names: list[str], sfreq: float, seconds: float = 4.0) -> mne.io.RawArray:
    t = np.arange(int(seconds * sfreq)) / sfreq
    rng = np.random.default_rng(0)
    # a 5 Hz sine of 10 µV on every channel (phase differs), plus noise; MNE stores volts
    phases = rng.uniform(0, 2 * np.pi, size=(len(names), 1))
    data = 10e-6 * np.sin(2 * np.pi * 5 * t + phases) + 1e-7 * rng.normal(size=(len(names), len(t)))
    types = ["eog" if n == "EXG1" else "eeg" for n in names]
    return mne.io.RawArray(data, mne.create_info(names, sfreq, types), verbose="error")


def test_fif_resampled_by_name_in_microvolts(tmp_path) -> None:
    names = list(reversed(DEAP_CHANNELS)) + ["EXG1"]
    names = [n.upper() for n in names]  # case differs from the montage
    raw = make_raw(names, 256.0)
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    data = load_eeg(path)
    assert data.sfreq == 128.0
    assert data.provenance["original_sfreq"] == 256.0
    assert data.values.shape == (4 * 128, 32)
    assert data.ch_names == DEAP_CHANNELS
    # amplitude is ~10 µV, the channel is the right one (phase matches the source column)
    oz = data.values[64:-64, DEAP_CHANNELS.index("Oz")]
    src = raw.get_data(picks=["OZ"])[0, 128:-128:2] * 1e6
    assert 9.0 < np.abs(oz).max() < 11.5
    assert np.corrcoef(oz, src)[0, 1] > 0.99


def test_fif_missing_channels_named(tmp_path) -> None:
    raw = make_raw([n for n in DEAP_CHANNELS if n not in ("Pz", "O1")], 128.0)
    path = tmp_path / "short_raw.fif"
    raw.save(path, verbose="error")
    with pytest.raises(DataError, match="missing channel.*Pz, O1|missing channel.*O1, Pz"):
        load_eeg(path)
    native = read_native(path)
    assert "Pz" in native.info(DEAP_CHANNELS)["missing_channels"]


def write_brainvision(folder: Path, names: list[str], values_uv: np.ndarray, sfreq: float) -> Path:
    vhdr = folder / "rec.vhdr"
    chans = "\n".join(f"Ch{i + 1}={n},,1,µV" for i, n in enumerate(names))
    vhdr.write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        "DataFile=rec.eeg\nMarkerFile=rec.vmrk\nDataFormat=BINARY\n"
        f"DataOrientation=MULTIPLEXED\nNumberOfChannels={len(names)}\n"
        f"SamplingInterval={1e6 / sfreq}\n\n[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n"
        f"[Channel Infos]\n{chans}\n", encoding="utf-8")
    (folder / "rec.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        "DataFile=rec.eeg\n\n[Marker Infos]\nMk1=New Segment,,1,1,0\n", encoding="utf-8")
    values_uv.astype("<f4").tofile(folder / "rec.eeg")
    return vhdr


def test_brainvision(tmp_path) -> None:
    rng = np.random.default_rng(5)
    vals = rng.normal(scale=15.0, size=(300, 32))
    path = write_brainvision(tmp_path, list(DEAP_CHANNELS), vals, 128.0)
    data = load_eeg(path)
    np.testing.assert_allclose(data.values, vals, rtol=1e-4, atol=1e-3)


def write_edf(path: Path, names: list[str], values_uv: np.ndarray, sfreq: int) -> Path:
    """A minimal EDF (16-bit, 1 s records) written by hand; MNE's EDF export needs edfio."""
    n_rec = values_uv.shape[0] // sfreq
    ns = len(names)

    def field(text: object, width: int) -> bytes:
        return str(text).ljust(width)[:width].encode("ascii")

    head = (field("0", 8) + field("X", 80) + field("X", 80) + field("01.01.20", 8)
            + field("00.00.00", 8) + field(256 * (ns + 1), 8) + field("", 44)
            + field(n_rec, 8) + field(1, 8) + field(ns, 4))
    cols = [
        [field(n, 16) for n in names], [field("", 80)] * ns, [field("uV", 8)] * ns,
        [field(-500, 8)] * ns, [field(500, 8)] * ns, [field(-32768, 8)] * ns,
        [field(32767, 8)] * ns, [field("", 80)] * ns, [field(sfreq, 8)] * ns,
        [field("", 32)] * ns,
    ]
    head += b"".join(b"".join(c) for c in cols)
    digital = np.round((values_uv + 500) / 1000 * 65535 - 32768).astype("<i2")
    recs = digital[: n_rec * sfreq].reshape(n_rec, sfreq, ns).transpose(0, 2, 1)
    path.write_bytes(head + recs.tobytes())
    return path


def test_edf(tmp_path) -> None:
    rng = np.random.default_rng(6)
    vals = rng.normal(scale=20.0, size=(3 * 128, 32))
    path = write_edf(tmp_path / "rec.edf", list(DEAP_CHANNELS), vals, 128)
    data = load_eeg(path)
    np.testing.assert_allclose(data.values, vals, atol=0.05)  # 16-bit quantisation


def test_npz_and_npy(tmp_path) -> None:
    rng = np.random.default_rng(2)
    vals = rng.normal(size=(50, 32)).astype(np.float32)
    order = np.arange(32)[::-1]
    npz = tmp_path / "x.npz"
    np.savez(npz, data=vals[:, order], ch_names=np.array(DEAP_CHANNELS)[order],
             sfreq=256.0, subject=np.full(50, 3), trial=np.arange(50) // 25)
    data = load_eeg(npz)
    np.testing.assert_array_equal(data.values, vals)
    assert data.sfreq == 256.0 and data.subjects() == [3] and data.n_trials() == 2
    npy = tmp_path / "x.npy"
    np.save(npy, vals)
    data = load_eeg(npy)  # 32 columns: montage order by default
    assert isinstance(data.values, np.memmap)
    np.testing.assert_array_equal(data.values, vals)
    np.save(npy, vals[:, :10])
    with pytest.raises(DataError, match="give the channel names"):
        load_eeg(npy)
    mont = get_montage("biosemi32", ch_names=DEAP_CHANNELS[:10])
    sub = load_eeg(npy, montage=mont, ch_names=DEAP_CHANNELS[:10])
    np.testing.assert_array_equal(sub.values, vals[:, :10])


def test_bad_arrays(tmp_path) -> None:
    vals = np.random.default_rng(0).normal(size=(20, 32))
    dup = list(DEAP_CHANNELS)
    dup[5] = "Fp1"
    p = tmp_path / "dup.npz"
    np.savez(p, data=vals, ch_names=np.array(dup))
    with pytest.raises(DataError, match="duplicate channel.*Fp1"):
        load_eeg(p)
    p = tmp_path / "obj.npz"
    np.savez(p, data=np.array([{"a": 1}] * 4, dtype=object).reshape(2, 2),
             ch_names=np.array(["Fp1", "Fp2"]))
    with pytest.raises(DataError, match="not a readable .npz"):
        load_eeg(p)
    p = tmp_path / "nokeys.npz"
    np.savez(p, x=vals)
    with pytest.raises(DataError, match="'data' and 'ch_names'"):
        load_eeg(p)
    p = tmp_path / "shape.npz"
    np.savez(p, data=vals[:, :5], ch_names=np.array(DEAP_CHANNELS))
    with pytest.raises(DataError, match="must be \\(frames, channels\\)"):
        load_eeg(p)
    p = tmp_path / "inf.npy"
    bad = vals.copy()
    bad[3, DEAP_CHANNELS.index("Cz")] = np.inf
    np.save(p, bad)
    with pytest.raises(DataError, match="channel Cz has 1 NaN/Inf"):
        load_eeg(p)
    p = tmp_path / "trunc.npz"
    np.savez(tmp_path / "ok.npz", data=vals, ch_names=np.array(DEAP_CHANNELS))
    p.write_bytes((tmp_path / "ok.npz").read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable .npz"):
        load_eeg(p)
    p = tmp_path / "vec.npy"
    np.save(p, vals[0])
    with pytest.raises(DataError, match="shape"):
        load_eeg(p)


def test_unknown_and_missing_paths(tmp_path) -> None:
    p = tmp_path / "data.xyz"
    p.write_text("hello")
    with pytest.raises(DataError, match="unknown file type '.xyz'"):
        load_eeg(p)
    with pytest.raises(DataError, match="no such file"):
        load_eeg(tmp_path / "absent.edf")
    p = tmp_path / "broken.edf"
    p.write_bytes(b"0" * 100)
    with pytest.raises(DataError, match="MNE cannot read"):
        load_eeg(p)
    before = sorted(tmp_path.iterdir())
    assert sorted(tmp_path.iterdir()) == before  # nothing written beside the inputs


def test_load_dataset_synthetic_spec(tmp_path, monkeypatch) -> None:
    from eegmi.data import synthetic

    monkeypatch.setattr(synthetic, "default_dataset",
                        lambda: synthetic.make_synthetic(1, 1, 2.0, seed=1))
    data = load_dataset("synthetic")
    assert data.values.shape == (256, 32) and data.ground_truth is not None
    mont = get_montage("biosemi32", ch_names=["Oz", "Fz"])
    sub = load_dataset("SYNTHETIC", montage=mont)
    np.testing.assert_array_equal(sub.values[:, 0], data.values[:, DEAP_CHANNELS.index("Oz")])
