"""Hostile and broken data files, generated on the fly (none is ever shipped).

Each ``*_pickle`` function returns the bytes of a small ``.dat`` file that a
restricted unpickler mishandles: it crashes, hangs, reads foreign memory or
allocates gigabytes.  :func:`run_isolated` loads a file in a child process under
a memory limit and a timeout, so a regression fails a test instead of taking the
test run down with it.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eegmi.data.deap_pickle import dumps_py2

ROOT = Path(__file__).resolve().parents[2]
HEAD = b"\x80\x02}q\x00"  # PROTO 2, EMPTY_DICT, BINPUT 0


def _key(name: bytes) -> bytes:
    return b"X" + struct.pack("<I", len(name)) + name


def _int(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def good_arrays(n_trials: int = 2, n_samples: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"labels": rng.uniform(1, 9, size=(n_trials, 4)),
            "data": rng.normal(scale=20.0, size=(n_trials, 40, n_samples))}


class _Reduce:
    """Pickles as the given ``__reduce__`` value (any callable, args and state)."""

    def __init__(self, value: tuple) -> None:
        self.value = value

    def __reduce__(self) -> tuple:
        return self.value


def structured_offset_pickle(offset: int = 1 << 20) -> bytes:
    """A DEAP-shaped file whose (2, 4) labels have a one-field structured dtype whose
    field lies ``offset`` bytes into an 8-byte item: a reader returns foreign memory."""
    fn, args, state = np.dtype([("a", "<f8")]).__reduce__()
    state = list(state)
    state[4] = {"a": (np.dtype("<f8"), offset)}
    dtype = _Reduce((fn, args, tuple(state)))
    labels = _Reduce((np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                      (1, (2, 4), dtype, False, bytes(64))))
    return pickle.dumps({"data": good_arrays()["data"], "labels": labels}, protocol=2)


def tuple_dag_key_pickle(levels: int = 47) -> bytes:
    """A 247-byte file: a tuple DAG of ``levels`` shared levels (2**levels leaves) used
    as a dict key, which a real unpickler hashes for ever."""
    body = b")q\x01"
    for i in range(1, levels + 1):
        body += b"h" + bytes([i]) + b"\x86q" + bytes([i + 1])
    return HEAD + body + b"K\x01s."


def deep_tuple_pickle(depth: int = 2_000_000) -> bytes:
    """A dict key nested ``depth`` tuples deep: hashing it overflows the C stack."""
    return HEAD + b")" + b"\x85" * depth + b"K\x01s."


def codecs_doubling_pickle(steps: int = 27) -> bytes:
    """~330 bytes whose ``_codecs.encode(..., 'hex')`` chain yields 10 * 2**steps bytes."""
    calls = b"c_codecs\nencode\nq\x01" + b"h\x01" * (steps - 1)
    chain = b"C\x0a" + b"0123456789" + b"X\x03\x00\x00\x00hex\x86R" * steps
    return HEAD + _key(b"data") + calls + chain + b"s."


def reconstruct_shape_pickle(shape: tuple[int, ...] = (100, 40, 100_000)) -> bytes:
    """~100 bytes: ``_reconstruct(ndarray, shape, 'b')`` with no data, 400 MB of int8
    that a loader then converts to float32 (2.6 GB in all)."""
    dims = b"".join(_int(d) for d in shape) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(shape)]
    return (HEAD + _key(b"data") + b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            + dims + b"C\x01b\x87R" + b"s.")


def lying_state_pickle() -> bytes:
    """An array state declaring (100, 40, 100000) float64 over a 100-byte payload."""
    return (HEAD + _key(b"data") + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            + _int(0) + b"\x85C\x01b\x87R(" + _int(1) + _int(100) + _int(40)
            + _int(100_000) + b"\x87cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R"
            + b"\x89C\x64" + bytes(100) + b"tbs.")


def shared_payload_pickle(copies: int = 40, n_bytes: int = 1 << 16) -> bytes:
    """``copies`` arrays that all view one memoised payload: together they declare far
    more bytes than the file holds."""
    out = HEAD + b"(" + b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02"
    for i in range(copies):
        letter = b"C\x01bq\x04" if i == 0 else b"h\x04"
        payload = (b"B" + struct.pack("<I", n_bytes) + bytes(n_bytes) + b"q\x05" if i == 0
                   else b"h\x05")
        dtype = b"cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
        out += (_key(f"a{i}".encode()) + b"h\x01h\x02" + _int(0) + b"\x85" + letter + b"\x87R("
                + _int(1) + b"J" + struct.pack("<i", n_bytes) + b"\x85" + dtype + b"\x89"
                + payload + b"tb")
    return out + b"u."


def memo_flood_pickle(n: int = 5000) -> bytes:
    return HEAD + b"".join(b"r" + struct.pack("<I", i + 1) for i in range(n)) + b"."


def dtype_pickle(dtype: str) -> bytes:
    """A DEAP-shaped file whose data has ``dtype`` (complex, datetime, object...)."""
    arr = good_arrays()["data"]
    if dtype.startswith("O"):
        return dumps_py2({"data": arr}).replace(b"U\x02f8", b"U\x02O8")
    return dumps_py2({"data": arr.astype(dtype)})


def zip_bomb(path: Path, gib: float = 2.0) -> Path:
    """An ``.npz`` whose deflated ``data`` member truly expands to ``gib`` GiB of zeros
    (1 MiB of zeros compresses to ~1 KiB; the pieces are flushed so they can be repeated)."""
    n_rows = int(gib * 2**30) // (32 * 4)
    header = _npy_header((n_rows, 32), "<f4")
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    piece = co.compress(bytes(1 << 20)) + co.flush(zlib.Z_FULL_FLUSH)
    n_pieces = n_rows * 32 * 4 // (1 << 20)
    tail = co.flush(zlib.Z_FINISH)
    stream = first + piece * n_pieces + tail
    size = len(header) + n_pieces * (1 << 20)
    names = np.array([f"C{i}" for i in range(32)])
    buf = _npy_header((32,), names.dtype.str) + names.tobytes()
    members = [("data.npy", stream, size, 0, zlib.DEFLATED),
               ("ch_names.npy", buf, len(buf), zlib.crc32(buf), 0)]
    path.write_bytes(_zip(members))
    return path


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text) + pad + 1) + (
        text + " " * pad + "\n").encode()


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive written by hand so a member can declare any uncompressed size
    (the bomb's CRC is left 0: the point is what happens before it is checked)."""
    out, central = b"", b""
    for name, data, size, crc, method in members:
        fields = struct.pack("<HHHHHIII", 20, 0, 8 if method else 0, 0, 0, crc, len(data),
                             size)
        central += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                    + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, len(out)) + name.encode())
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name.encode() + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(out), 0)
    return out + central + end


@dataclass
class Outcome:
    """What loading a file did in a child process."""

    returncode: int  # 3: refused with a DataError, 0: loaded, <0: killed by a signal
    message: str
    seconds: float
    peak_mib: float
    timed_out: bool = False


_CHILD = """
import json, resource, sys, time
from eegmi.errors import DataError
from eegmi.data.loaders import load_eeg
t = time.perf_counter()
try:
    load_eeg(sys.argv[1])
    msg, rc = "loaded", 0
except DataError as exc:
    msg, rc = str(exc), 3
try:  # VmHWM, unlike ru_maxrss, does not inherit the parent's size across fork + exec
    peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError, ValueError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"message": msg, "seconds": time.perf_counter() - t, "peak_mib": peak}))
sys.exit(rc)
"""


def run_isolated(path: Path, timeout: float = 120.0, memory_gib: float = 1.5,
                 code_root: Path = ROOT) -> Outcome:
    """Load ``path`` with ``load_eeg`` in a child limited to ``memory_gib`` of address
    space and ``timeout`` seconds (``code_root`` chooses whose eegmi is imported)."""
    def limit() -> None:
        cap = int(memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, PYTHONPATH=str(code_root), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], env=env,
                              cwd=code_root, preexec_fn=limit, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(-9, "timed out", time.perf_counter() - start, float("nan"), True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode in (0, 3) and lines:
        info = json.loads(lines[-1])
        return Outcome(proc.returncode, info["message"], info["seconds"], info["peak_mib"])
    tail = (proc.stderr.strip().splitlines() or [""])[-1]
    return Outcome(proc.returncode, tail, time.perf_counter() - start, float("nan"))
