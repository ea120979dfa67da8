"""Run every analysis family's self-test and gather one table.

Families run in the fixed order of :data:`FAMILIES`; each is the module
``eegmi.selftest.<family>`` with ``checks(quick, cancel) -> Job[list[Check]]``.
A family is never skipped silently: a module that is missing, fails to import,
raises, or returns no rows becomes a failed row saying so, and the other
families still run.  Only cancellation stops the whole run.

Nothing here imports torch: the families import what they need when they run,
so the GUI can import this module on its own thread.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eegmi.errors import Cancelled, ConfigError, EegmiError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.selftest.check import Check

#: analysis families in the order they run (pick & interpolate, eigenspectra,
#: saliency sanity checks, sparse autoencoders)
FAMILIES: tuple[str, ...] = ("pick", "spectra", "sanity", "sae")


class SelftestFailed(EegmiError):
    """Raised by the CLI after printing the table when a check missed its bar."""


@dataclass
class SelftestResult:
    """All rows of one self-test run.

    Attributes
    ----------
    checks
        Every family's rows, in family order.
    families
        The families that were run.
    quick
        Whether the quick variants ran.
    seconds
        Wall time per family.
    """

    checks: list[Check]
    families: list[str]
    quick: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        """True when there is at least one row and every row met its bar."""
        return bool(self.checks) and not self.failed

    def summary(self) -> str:
        """One line: how many rows passed, which failed, total time."""
        n, bad = len(self.checks), self.failed
        total = sum(self.seconds.values())
        head = f"{n - len(bad)} of {n} checks passed"
        if bad:
            where = "; ".join(f"{c.analysis}: {c.case}" for c in bad[:4])
            more = f" (+{len(bad) - 4} more)" if len(bad) > 4 else ""
            head += f", {len(bad)} failed ({where}{more})"
        mode = "quick" if self.quick else "full"
        return f"self-test {'PASSED' if self.passed else 'FAILED'}: {head}; {mode} run in {total:.1f} s"

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "quick": self.quick,
            "families": list(self.families),
            "n_checks": len(self.checks),
            "n_failed": len(self.failed),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "checks": [c.to_json() for c in self.checks],
            "summary": self.summary(),
        }

    def table(self) -> str:
        """The rows as a fixed-width text table (analysis, case, score, bar, result)."""
        head = ("analysis", "case", "score", "bar", "result")
        body = [(c.analysis, c.case, format_score(c.score), c.bar, "pass" if c.passed else "FAIL")
                for c in self.checks]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                 for row in [head, tuple("-" * w for w in widths), *body]]
        return "\n".join(lines)


def format_score(score: float) -> str:
    """A score as the table shows it (``-`` when there is none)."""
    return f"{score:.4g}" if math.isfinite(score) else "-"


def _failed_row(family: str, case: str, detail: str = "") -> Check:
    return Check(family, case, float("nan"), "family runs and reports checks", False, detail)


def _load(family: str) -> Any:
    """The family's module, or a failed row explaining why it is not usable."""
    name = f"eegmi.selftest.{family}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return _failed_row(family, "not installed", f"no module {name}")
        return _failed_row(family, "import failed", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one broken family must not hide the others
        return _failed_row(family, "import failed", f"{type(exc).__name__}: {exc}")
    if not callable(getattr(module, "checks", None)):
        return _failed_row(family, "no checks() function", f"{name} has no checks()")
    return module


def _family_rows(family: str, module: Any, quick: bool, cancel: CancelToken | None,
                 lo: float, hi: float) -> Job[list[Check]]:
    """Drive one family's job, mapping its progress into ``[lo, hi]`` of the run."""
    try:
        job = module.checks(quick=quick, cancel=cancel)
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                p = next(job)
            except StopIteration as stop:
                rows = stop.value
                break
            frac = p.fraction or 0.0
            yield Progress(lo + (hi - lo) * frac, 1.0, f"{family}: {p.message}".rstrip(": "),
                           p.payload)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a failed row, the run goes on
        return [_failed_row(family, "raised an error", f"{type(exc).__name__}: {exc}")]
    if not isinstance(rows, list) or not all(isinstance(r, Check) for r in rows):
        return [_failed_row(family, "returned something other than a list of Check rows",
                            f"got {type(rows).__name__}")]
    if not rows:
        return [_failed_row(family, "returned no checks")]
    return rows


def run_selftest(quick: bool = False, only: Sequence[str] | None = None,
                 cancel: CancelToken | None = None) -> Job[SelftestResult]:
    """Run the self-test families (all, or those in ``only``) in :data:`FAMILIES` order.

    Parameters
    ----------
    quick
        Ask every family for its quick variant (the suite's CI run).
    only
        Families to run; None runs all.
    cancel
        Polled between progress reports; the run stops with :class:`Cancelled`.

    Yields
    ------
    Progress
        ``done`` in [0, 1] across the whole run; the message names the family.

    Returns
    -------
    SelftestResult
    """
    if only is not None:
        unknown = sorted(set(only) - set(FAMILIES))
        if unknown:
            raise ConfigError(f"unknown self-test famil{'ies' if len(unknown) > 1 else 'y'} "
                              f"{', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
        if not only:
            raise ConfigError("no self-test family chosen")
    families = [f for f in FAMILIES if only is None or f in only]
    rows: list[Check] = []
    seconds: dict[str, float] = {}
    n = len(families)
    for i, family in enumerate(families):
        if cancel is not None:
            cancel.raise_if_cancelled()
        t0 = time.perf_counter()
        yield Progress(i / n, 1.0, f"{family}: starting")
        module = _load(family)
        if isinstance(module, Check):
            rows.append(module)
        else:
            rows.extend((yield from _family_rows(family, module, quick, cancel, i / n, (i + 1) / n)))
        seconds[family] = time.perf_counter() - t0
    yield Progress(1.0, 1.0, "self-test done")
    return SelftestResult(rows, families, quick, seconds)
