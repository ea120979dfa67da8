"""Hostile and broken data files: one DataError line naming the file, fast, bounded memory.

Files that crashed, hung or exhausted the old restricted unpickler are loaded in a
child process under a memory limit and a timeout (:func:`hostile_files.run_isolated`),
so a regression fails here instead of hanging or killing the test run.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys

import numpy as np
import pytest
from hostile_files import (
    codecs_doubling_pickle,
    deep_tuple_pickle,
    dtype_pickle,
    good_arrays,
    lying_state_pickle,
    memo_flood_pickle,
    reconstruct_shape_pickle,
    run_isolated,
    shared_payload_pickle,
    structured_offset_pickle,
    tuple_dag_key_pickle,
    zip_bomb,
)

from eegmi.data.deap import read_deap_file
from eegmi.data.deap_pickle import dumps_py2, loads
from eegmi.data.loaders import load_eeg, read_native
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.recording import EEGData
from eegmi.errors import DataError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits, FIFOs")


def refused(path, *parts: str) -> str:
    """Load ``path`` in-process; it must be refused with one line naming it and ``parts``."""
    with pytest.raises(DataError) as err:
        load_eeg(path)
    line = str(err.value)
    assert line.startswith(str(path) + ": ") and "\n" not in line, line
    for part in parts:
        assert part in line, line
    return line


# -- the attacks that crashed, hung or blew up the restricted unpickler -------------------
@posix_only
@pytest.mark.parametrize("make, expect", [
    # old: labels of garbage floats read outside the array (small offset), SIGSEGV (large)
    (lambda: structured_offset_pickle(1 << 12), "dtype 'V8' is not a plain int or float"),
    (lambda: structured_offset_pickle(1 << 30), "dtype 'V8' is not a plain int or float"),
    # old: hashing a 2**47-leaf DAG never ends
    (tuple_dag_key_pickle, "nested deeper than"),
    # old: SIGSEGV (C stack overflow hashing the key)
    (deep_tuple_pickle, "nested deeper than"),
    # old: 368 bytes -> 1.3 GB of hex
    (codecs_doubling_pickle, "_codecs.encode used as something else"),
    # old: 400 MB of uninitialised int8, 2.6 GB once converted
    (reconstruct_shape_pickle, "shape (100, 40, 100000) instead of numpy's (0,)"),
], ids=["structured-offset", "structured-offset-segv", "tuple-dag-key", "deep-tuple",
        "codecs-doubling", "reconstruct-shape"])
def test_known_pickle_attacks_refused_in_bounded_time_and_memory(tmp_path, make, expect) -> None:
    path = tmp_path / "s01.dat"
    path.write_bytes(make())
    if make is tuple_dag_key_pickle:
        assert path.stat().st_size == 247
    out = run_isolated(path, timeout=120, memory_gib=1.0)
    assert not out.timed_out and out.returncode == 3, (out.returncode, out.message)
    assert out.message.startswith(f"{path}: not a DEAP file: ") and expect in out.message


@pytest.mark.parametrize("blob, expect", [
    (lying_state_pickle(), "declares 3200000000 bytes but its data holds 100"),
    (shared_payload_pickle(), "arrays declare more bytes than the file holds"),
    (memo_flood_pickle(), "more than 1000 memo entries"),
    (b"\x80\x02" + b"(" * 100_000 + b".", "marks nested deeper than"),
    (b"\x80\x02" + b"N" * 100_000 + b".", "values on the pickle stack"),
    (b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b".", "truncated: 4611686018427387904 bytes"),
    (b"\x80\x02}q\x00(X\x01\x00\x00\x00a)u.", "dict value 'a' is a tuple"),
    (b"\x80\x02}q\x00(K\x01K\x02u.", "a dict key is a number, not a short name"),
    (b"\x80\x02}}.", "more than one dict"),
    (b"\x80\x02]q\x00.", "pickle opcode EMPTY_LIST"),
    (b"\x80\x05\x97.", "pickle opcode NEXT_BUFFER"),
    (b"\x80\x02\xff.", "unknown pickle opcode 0xff"),
    (b"\x80\x02}q\x00", "the pickle has no STOP"),
    (b"\x80\x02cbuiltins\neval\n.", "objects other than arrays (builtins.eval)"),
], ids=["lying-state", "shared-payload", "memo-flood", "mark-flood", "stack-flood",
        "huge-length", "tuple-value", "int-key", "two-dicts", "list", "out-of-band-buffer",
        "unknown-opcode", "no-stop", "eval"])
def test_malformed_pickles_refused(tmp_path, blob, expect) -> None:
    path = tmp_path / "s01.dat"
    path.write_bytes(blob)
    refused(path, expect)


@pytest.mark.parametrize("dtype", ["c16", "<M8[ns]", "<m8[s]", "O8", "?"])
def test_deap_non_numeric_dtypes_refused(tmp_path, dtype) -> None:
    path = tmp_path / "s01.dat"
    path.write_bytes(dtype_pickle(dtype))
    refused(path, "not a plain int or float type")


# -- real files keep loading, exactly ---------------------------------------------------------
@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_python2_deap_layout_loads_exactly(tmp_path, module) -> None:
    arrays = good_arrays(n_trials=3, n_samples=100, seed=4)
    blob = dumps_py2(arrays, module)
    assert module.encode() + b"\n_reconstruct" in blob and b"T" + struct.pack(
        "<i", arrays["data"].nbytes) in blob  # the array data is one BINSTRING
    reference = pickle.loads(blob, encoding="latin1")  # trusted: we just wrote it
    decoded = loads(blob)
    for key in arrays:
        assert decoded[key].dtype == reference[key].dtype == np.float64
        np.testing.assert_array_equal(decoded[key], reference[key])
        np.testing.assert_array_equal(decoded[key], arrays[key])
    path = tmp_path / "s03.dat"
    path.write_bytes(blob)
    eeg, labels = read_deap_file(path)
    np.testing.assert_array_equal(eeg, arrays["data"][:, :32].astype(np.float32))
    np.testing.assert_array_equal(labels, arrays["labels"].astype(np.float32))
    data = load_eeg(path)
    assert data.subjects() == [3] and data.values.shape == (300, 32)


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("kind", ["f8", ">f4", "fortran", "i2", "u1", "strided"])
def test_every_protocol_and_plain_dtype_matches_pickle(protocol, kind) -> None:
    data = good_arrays(seed=protocol)["data"]
    arr = {"f8": data, ">f4": data.astype(">f4"), "fortran": np.asfortranarray(data),
           "i2": (data * 10).astype(np.int16), "u1": (data % 200).astype(np.uint8),
           "strided": data[:, :, ::2]}[kind]
    blob = pickle.dumps({"data": arr, "labels": np.ones((2, 4)), "n": 7}, protocol=protocol)
    got = loads(blob)
    assert got["data"].dtype == arr.dtype and got["n"] == 7
    np.testing.assert_array_equal(got["data"], arr)


def test_labels_checked_like_data(tmp_path) -> None:
    arrays = good_arrays()
    path = tmp_path / "s01.dat"
    arrays["labels"][1, 2] = np.nan
    path.write_bytes(dumps_py2(arrays))
    refused(path, "DEAP 'labels' has 1 NaN/Inf values")
    arrays = good_arrays()
    path.write_bytes(dumps_py2({"data": arrays["data"], "labels": arrays["labels"][0]}))
    refused(path, "DEAP 'labels' must be an array (trials=2, ratings), got (4,)")
    path.write_bytes(dumps_py2({"data": arrays["data"], "labels": arrays["labels"][:1]}))
    refused(path, "got (1, 4)")
    arrays["labels"][0, 0] = 1e300
    path.write_bytes(dumps_py2(arrays))
    refused(path, "DEAP 'labels' has values beyond the float32 range")
    arrays = good_arrays()
    arrays["data"][0, 3, 5] = -1e300
    path.write_bytes(dumps_py2(arrays))
    refused(path, "DEAP 'data' has values beyond the float32 range")
    arrays = good_arrays()
    path.write_bytes(dumps_py2({"data": arrays["data"]}))
    eeg, labels = read_deap_file(path)  # labels are optional
    assert labels.shape == (2, 0) and eeg.shape == (2, 32, 64)


def test_subject_ids_from_file_names_are_range_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EEGMI_CACHE", str(tmp_path / "cache"))
    blob = dumps_py2(good_arrays())
    big = tmp_path / "s1000000.dat"
    big.write_bytes(blob)
    refused(big, "subject number 1000000 in the file name is out of range 0..32767")
    folder = tmp_path / "deap"
    folder.mkdir()
    (folder / "s1.dat").write_bytes(blob)
    (folder / "s01.dat").write_bytes(blob)
    with pytest.raises(DataError, match="two files for subject 1"):
        load_eeg(folder)


# -- npz / npy -------------------------------------------------------------------------------
def _npz(path, **arrays):
    arrays.setdefault("ch_names", np.array(DEAP_CHANNELS))
    np.savez(path, **arrays)
    return path


@posix_only
def test_npz_zip_bomb_refused_before_decompressing(tmp_path) -> None:
    path = zip_bomb(tmp_path / "bomb.npz", gib=2.0)
    assert path.stat().st_size < 4 << 20
    out = run_isolated(path, timeout=120, memory_gib=1.0)  # the old loader needs 2.5 GB
    assert not out.timed_out and out.returncode == 3, (out.returncode, out.message)
    assert "npz member 'data' declares 2.00 GiB" in out.message and "zip bomb" in out.message


def test_npz_members_checked_before_reading(tmp_path) -> None:
    vals = np.random.default_rng(0).normal(size=(20, 32))
    p = _npz(tmp_path / "obj.npz", data=vals, ch_names=np.array(DEAP_CHANNELS, dtype=object))
    refused(p, "member 'ch_names' holds Python objects")
    # a member whose .npy header declares more rows than the archive holds
    good = _npz(tmp_path / "good.npz", data=vals)
    blob = good.read_bytes().replace(b"'shape': (20, 32)", b"'shape': (99, 32)")
    lying = tmp_path / "lying.npz"
    lying.write_bytes(blob)
    refused(lying, "member 'data' declares shape (99, 32)")
    refused(_npz(tmp_path / "sf.npz", data=vals, sfreq=np.ones(3)), "'sfreq' must be one number")
    refused(_npz(tmp_path / "sub.npz", data=vals, subject=np.zeros(5, int)),
            "must have shape (20,)")


@pytest.mark.parametrize("key, value, expect", [
    ("subject", np.full(20, 10**6), "npz 'subject' value 1000000 is out of range 0..32767"),
    ("subject", np.full(20, -1), "value -1 is out of range"),
    ("subject", np.full(20, 1.5), "must hold whole numbers"),
    ("trial", np.full(20, 2**40), "npz 'trial' value 1099511627776 is out of range"),
    ("sfreq", np.float64(np.inf), "sampling rate must be positive and finite"),
    ("sfreq", np.complex128(128 + 1j), "npz 'sfreq' is complex"),
])
def test_npz_metadata_out_of_range_refused_not_wrapped(tmp_path, key, value, expect) -> None:
    vals = np.random.default_rng(0).normal(size=(20, 32))
    refused(_npz(tmp_path / "x.npz", data=vals, **{key: value}), expect)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
@pytest.mark.parametrize("dtype, expect", [
    ("c8", "is complex (complex64): refusing to drop the imaginary part"),
    ("m8[ms]", "holds dates or time spans"),
    ("M8[s]", "holds dates or time spans"),
    ("?", "non-numeric dtype bool"),
])
def test_complex_and_time_values_refused(tmp_path, suffix, dtype, expect) -> None:
    vals = (np.random.default_rng(0).normal(size=(20, 32)) * 100).astype(np.int64).astype(dtype)
    path = tmp_path / f"x{suffix}"
    if suffix == ".npz":
        _npz(path, data=vals)
    else:
        np.save(path, vals)
    refused(path, expect)


@pytest.mark.parametrize("big", [3e38, -3e38, 1e19])
def test_values_too_large_to_render_refused(tmp_path, big) -> None:
    vals = np.random.default_rng(0).normal(size=(20, 32)).astype(np.float32)
    vals[4, DEAP_CHANNELS.index("Pz")] = big
    np.save(tmp_path / "x.npy", vals)
    refused(tmp_path / "x.npy", "channel Pz has values up to", "too large to scale or render")
    refused(_npz(tmp_path / "x.npz", data=vals), "channel Pz has values up to")


def test_zip_named_npy_and_npy_named_npz(tmp_path) -> None:
    vals = np.random.default_rng(0).normal(size=(20, 32))
    npz = _npz(tmp_path / "x.npz", data=vals)
    fake = tmp_path / "x.npy"
    fake.write_bytes(npz.read_bytes())
    refused(fake, "file named .npy is a zip archive (an .npz?): rename it to .npz")
    np.save(tmp_path / "y.npy", vals)
    fake = tmp_path / "y.npz"
    fake.write_bytes((tmp_path / "y.npy").read_bytes())
    refused(fake, "file named .npz is an .npy array")
    fake.write_bytes(b"hello")
    refused(fake, "file named .npz is not an npz archive")


def test_sampling_rate_must_be_finite() -> None:
    with pytest.raises(DataError, match="positive and finite"):
        EEGData(np.zeros((2, 1), np.float32), ("Cz",), float("inf"), np.zeros(2), np.zeros(2))


# -- not regular files -----------------------------------------------------------------------
@posix_only
@pytest.mark.parametrize("name", ["s01.dat", "x.npy", "x.npz", "x.edf", "deap/s02.dat",
                                  "rec.vhdr"])
def test_fifo_refused_without_blocking(tmp_path, name) -> None:
    target = tmp_path / name
    target.parent.mkdir(exist_ok=True)
    if name == "rec.vhdr":  # the header is fine, the data file it names is a FIFO
        target.write_text("Brain Vision Data Exchange Header File Version 1.0\n"
                          "[Common Infos]\nDataFile=rec.eeg\n")
        os.mkfifo(tmp_path / "rec.eeg")
        where = tmp_path / "rec.eeg"
    else:
        os.mkfifo(target)
        where = target
    if name.startswith("deap/"):
        (target.parent / "s01.dat").write_bytes(dumps_py2(good_arrays()))
        target = target.parent
    out = run_isolated(target, timeout=60, memory_gib=1.0)
    assert not out.timed_out and out.returncode == 3, (out.returncode, out.message)
    assert out.message == f"{where}: is a FIFO (named pipe), not a regular file: refusing to read it"


def test_device_and_folder_refused(tmp_path) -> None:
    if os.path.exists("/dev/zero"):
        link = tmp_path / "s01.dat"
        link.symlink_to("/dev/zero")
        refused(link, "is a character device, not a regular file")
    (tmp_path / "d.npy").mkdir()  # load_eeg reads folders as DEAP sets; a reader wants a file
    with pytest.raises(DataError, match="d.npy: is a folder, not a file"):
        read_native(tmp_path / "d.npy")


def test_output_sizes_bounded_before_allocating(tmp_path, monkeypatch) -> None:
    """uint8 data grows 4x as float32; a reorder of a memory-mapped .npy is a full copy."""
    import eegmi.data.deap as deap
    import eegmi.data.files as files

    data = (good_arrays(n_samples=1000)["data"] % 200).astype(np.uint8)  # 80 kB in the file
    path = tmp_path / "s01.dat"
    path.write_bytes(dumps_py2({"data": data}))
    monkeypatch.setattr(deap, "MAX_DEAP_BYTES", 200_000)
    refused(path, "DEAP 'data' (2, 40, 1000) is too large for one subject file")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(100, 32)))
    monkeypatch.setattr(files, "physical_memory", lambda: 10_000)
    with pytest.raises(DataError, match="reordering the channels into the montage needs"):
        load_eeg(tmp_path / "x.npy", montage="biosemi32", ch_names=list(DEAP_CHANNELS)[::-1])


def test_float32_file_gives_owned_writable_arrays(tmp_path) -> None:
    arrays = {k: v.astype(np.float32) for k, v in good_arrays().items()}
    path = tmp_path / "s01.dat"
    path.write_bytes(dumps_py2(arrays))
    eeg, labels = read_deap_file(path)
    assert eeg.flags.owndata and eeg.flags.writeable and labels.flags.owndata
    np.testing.assert_array_equal(eeg, arrays["data"][:, :32])
