"""``eegmi selftest``: every analysis on planted ground truths and controls.

Prints a table (analysis, case, score, bar, pass/fail) and a summary line, or
with ``--json`` one object.  Exits non-zero (2, with a one-line message on
stderr) when any check missed its bar, including a family that is not
installed or crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eegmi.selftest.run import FAMILIES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "selftest", help="run every analysis on planted ground truths and controls",
        description="Run each analysis family on cases whose answer is known (planted "
                    "power-law spectra, planted superposed SAE features, exact and rotated "
                    "pick & interpolate networks, randomised-model saliency) and on controls "
                    "that must fail; print the score, the bar and pass/fail for each. "
                    "Exit status 2 when any check fails.")
    p.add_argument("--quick", action="store_true",
                   help="small fast variants of every case (what the test suite runs)")
    p.add_argument("--only", nargs="+", choices=FAMILIES, metavar="FAMILY", default=None,
                   help=f"run only these families ({', '.join(FAMILIES)})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from eegmi.jobs import run_with_bar
    from eegmi.selftest.run import SelftestFailed, run_selftest

    result = run_with_bar(run_selftest(quick=args.quick, only=args.only), "selftest")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        sys.stdout.write(result.table() + "\n")
        for c in result.failed:
            if c.detail:
                sys.stdout.write(f"  {c.analysis} / {c.case}: {c.detail}\n")
        sys.stdout.write(result.summary() + "\n")
    sys.stdout.flush()
    if not result.passed:
        raise SelftestFailed(f"{len(result.failed)} of {len(result.checks)} self-test checks "
                             "failed (see the table)")
