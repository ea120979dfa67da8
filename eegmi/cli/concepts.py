"""``eegmi concepts [NAME]``: what the workbench's numbers mean (the Help › Concepts texts)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "concepts", help="explain the quantities the workbench shows (α, action, FVE, ...)",
        description="Without NAME: every concept with its one-line explanation. With NAME "
                    "(a key, name or alias such as alpha, α, S, fve, 'pick R²'): its full text: "
                    "definition, sign and range, what it can and cannot defend, seed paper.")
    p.add_argument("name", nargs="?", default=None, help="concept key, name or alias")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from eegmi.concepts import CONCEPTS, find

    as_json = bool(getattr(args, "json", False))
    if args.name is None:
        if as_json:
            return {"concepts": [c.to_json() for c in CONCEPTS]}
        width = max(len(c.key) for c in CONCEPTS)
        for c in CONCEPTS:
            sys.stdout.write(f"{c.key:<{width}}  {c.name}: {c.short}\n")
        return None
    c = find(args.name)
    if as_json:
        return c.to_json()
    aliases = f"  (also: {', '.join(c.aliases)})" if c.aliases else ""
    body = "\n".join(textwrap.fill(par, 88) if par else "" for par in c.long.split("\n"))
    sys.stdout.write(f"{c.name} [{c.key}]{aliases}\n\n{body}\n")
    return None
