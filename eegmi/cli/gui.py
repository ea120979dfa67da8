"""``eegmi gui``: open the workbench window (Qt is imported only when it runs)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the interactive workbench",
        description="Open the workbench window on a dataset and a model.")
    parser.add_argument("--model", default=None,
                        help="bundled model name (E1..E5) or checkpoint folder "
                             "(default: the first bundled model)")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' (embedded default) or an EEG file")
    parser.add_argument("--screenshot", metavar="FILE", default=None,
                        help="render the window after loading, save it as PNG and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from app.main import run as run_gui

    code = run_gui(args.model, args.data, args.screenshot)
    if code:
        raise SystemExit(code)
    if args.screenshot:
        return {"screenshot": args.screenshot}
    return None
