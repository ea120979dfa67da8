"""Reading one full-size DEAP file: the strict opcode reader against the restricted
unpickler it replaced and against plain ``pickle.load``.

A realistic ``sNN.dat`` is written first: ``{"labels": (40, 4), "data": (40, 40, 8064)}``
float64 in the byte layout of DEAP's Python 2 files (103 MB; ``--protocol N`` writes
it with Python 3's pickle instead).  Each round times the three readers in turn
(interleaved, so drifting machine load hits all of them alike), each returning
what ``read_deap_file`` returns: the 32 EEG channels and the labels as float32.
Then each reader runs once more in a fresh child process for its peak memory.

Run ``python benchmarks/deap_load.py [--rounds 5] [--protocol py2|0..5]``; the last
line printed is one JSON object (medians in seconds, ``ratio_new_over_old``).
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.deap import read_deap_file
from eegmi.data.deap_pickle import dumps_py2

SHAPE = (40, 40, 8064)


class OldSafeUnpickler(pickle.Unpickler):
    """The reader this benchmark compares against (eegmi before issue 11)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _convert(obj: dict) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(obj["data"][:, :32], dtype=np.float32),
            np.asarray(obj["labels"], dtype=np.float32))


def read_old(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:
        return _convert(OldSafeUnpickler(fh, encoding="latin1").load())


def read_plain(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:
        return _convert(pickle.load(fh, encoding="latin1"))


READERS = {"new": read_deap_file, "old": read_old, "pickle": read_plain}


def write_file(path: Path, protocol: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    arrays = {"labels": rng.uniform(1, 9, size=(SHAPE[0], 4)),
              "data": rng.normal(scale=20.0, size=SHAPE)}
    blob = (dumps_py2(arrays) if protocol == "py2"
            else pickle.dumps(arrays, protocol=int(protocol)))
    path.write_bytes(blob)


def high_water_kib() -> int:
    """Peak resident memory of this process (``VmHWM``: unlike ``ru_maxrss`` it does not
    start from the parent's size after fork + exec)."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(text.split("VmHWM:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_mib(reader: str, path: Path) -> float:
    """Peak resident memory a fresh process adds by reading, after all its imports."""
    code = (f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "import deap_load\nfrom pathlib import Path\n"
            "base = deap_load.high_water_kib()\n"
            f"deap_load.READERS[{reader!r}](Path({str(path)!r}))\n"
            "print(deap_load.high_water_kib() - base)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--protocol", default="py2", help="py2 (DEAP's layout) or 0..5")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s01.dat"
        write_file(path, args.protocol)
        size = path.stat().st_size
        first = {name: fn(path) for name, fn in READERS.items()}  # warm the page cache
        for name in ("old", "pickle"):
            for a, b in zip(first["new"], first[name], strict=True):
                np.testing.assert_array_equal(a, b)
        del first
        times: dict[str, list[float]] = {name: [] for name in READERS}
        for r in range(args.rounds):
            for name, fn in READERS.items():
                t = time.perf_counter()
                fn(path)
                times[name].append(time.perf_counter() - t)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()),
                  flush=True)
        peaks = {name: peak_mib(name, path) for name in READERS}
    med = {name: statistics.median(v) for name, v in times.items()}
    result = {
        "file_mb": size / 1e6, "protocol": args.protocol, "rounds": args.rounds,
        "median_s": med, "min_s": {k: min(v) for k, v in times.items()},
        "peak_extra_mib": peaks,
        "ratio_new_over_old": med["new"] / med["old"],
        "ratio_new_over_pickle": med["new"] / med["pickle"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
