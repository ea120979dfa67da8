"""``eegmi sweep SPEC.toml``: a grid of train or SAE runs, on Ray when installed.

Prints the table of every trial (validation and test figures, the analyses the spec
asks for) or, with ``--json``, one object; exits 2 with one line when a trial failed
(after the table).  ``--plan`` lists the trials and their state without running any.
See ``docs/sweeps.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eegmi.errors import EegmiError


class SweepFailed(EegmiError):
    """Some trials failed (their errors are in the table and the logs)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a grid of trainings or SAEs (on Ray when installed)",
        description="Run the trials of a sweep spec (experiments x seeds x overrides, or SAE "
                    "layers x dictionary sizes x sparsities) as ordinary 'eegmi train' / "
                    "'eegmi sae train' runs in SWEEP/trials/<trial-id>, in parallel on Ray "
                    "(pip install 'eegmi[cluster]') or one after another. Run it again to "
                    "resume: finished trials are skipped, interrupted ones continue with "
                    "--resume. Ends with the table of every trial's validation and test "
                    "figures and the analyses the spec asks for. See docs/sweeps.md.")
    p.add_argument("spec", type=Path, help="sweep spec (.toml)")
    p.add_argument("--out", type=Path, help="sweep folder (default: sweeps/<spec name>)")
    p.add_argument("--runner", choices=("auto", "ray", "local"), default="auto",
                   help="auto (default): Ray when installed, else one trial after another")
    p.add_argument("--address", help="an existing Ray cluster: 'auto' or HOST:6379 from one of "
                                     "its nodes, ray://HOST:10001 with ray[client] (default: "
                                     "a local instance)")
    p.add_argument("--cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--device", help="every trial's device: cpu, cuda ... (default: CUDA when "
                                    "the trial has a GPU)")
    p.add_argument("--plan", action="store_true",
                   help="list the trials and their state; run nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from eegmi.errors import ConfigError
    from eegmi.sweep.spec import load_spec
    from eegmi.sweep.table import format_table

    spec = load_spec(args.spec)
    out = args.out or Path("sweeps") / spec.name
    if args.cpus is not None and args.cpus < 1:
        raise ConfigError(f"--cpus must be at least 1, got {args.cpus}")
    as_json = bool(getattr(args, "json", False))
    if args.plan:
        table = _plan(spec, out)
    else:
        from eegmi.sweep.run import run_sweep

        table = run_sweep(spec, out, runner=args.runner, address=args.address,
                          num_cpus=args.cpus, device=args.device)
    if as_json:
        from eegmi.limits import finite_json

        sys.stdout.write(json.dumps(finite_json(table), allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_table(table) + "\n")
    sys.stdout.flush()
    failed = [r for r in table["trials"] if r["state"] == "failed"]
    if failed and not args.plan:
        raise SweepFailed(f"{len(failed)} of {len(table['trials'])} trials failed (their logs: "
                          f"{Path(table['out']) / 'logs'})")


def _plan(spec: Any, out: Path) -> dict[str, Any]:
    """The table of the trials as they stand, computed without writing anything."""
    from eegmi.sweep.layout import STATUS, read_json, trial_dir
    from eegmi.sweep.run import plan_of
    from eegmi.sweep.table import trial_row

    sweep = out.resolve()
    plan = plan_of(spec)
    status = read_json(sweep / STATUS, {})
    status = status if isinstance(status, dict) else {}
    rows = [trial_row(sweep, t, plan["analysis_options"], status.get(t["id"]))
            for t in plan["trials"]]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        r["path"] = str(trial_dir(sweep, r["id"]))
    return {"sweep": spec.name, "kind": spec.kind, "out": str(sweep),
            "analyses": list(spec.analyses), "counts": counts, "trials": rows}
