"""Shared timing helpers for the benchmarks: interleaved rounds and the machine's load.

Every benchmark compares A with B *in one run*, alternating them round by round,
so a change in the machine's load (this is often a shared 2-core VM) hits both
sides alike; each side reports the min and the median of its rounds.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def interleaved(fns: dict[str, Callable[[], object]], rounds: int,
                warmup: int = 1) -> dict[str, dict[str, float]]:
    """Time every function once per round, in turn, for ``rounds`` rounds.

    Returns ``{name: {"min_s", "median_s", "rounds"}}`` (seconds per call).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: {"min_s": min(v), "median_s": statistics.median(v), "rounds": len(v)}
            for k, v in times.items()}


def ratio(slow: dict[str, float], fast: dict[str, float]) -> dict[str, float]:
    """``slow / fast`` on the min and on the median (> 1: ``fast`` is faster)."""
    return {"min": round(slow["min_s"] / fast["min_s"], 3),
            "median": round(slow["median_s"] / fast["median_s"], 3)}
