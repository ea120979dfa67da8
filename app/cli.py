"""``eegmi gui``: the workbench's sub-command of the ``eegmi`` CLI.

The Qt-free library never imports the GUI; instead this package plugs the
sub-command in through the ``eegmi.commands`` entry-point group declared in
pyproject.toml. Qt itself is imported only when the command runs, so
``eegmi --help`` stays light.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.main import add_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the interactive workbench",
        description="Open the workbench window on a dataset and a model.")
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from app.export_panels import request_from_args
    from app.main import run as run_gui

    export = request_from_args(args)  # a bad --inject/--formats is one error line
    code = run_gui(args.model, args.data, args.screenshot, export, pin=args.pin)
    if code:
        raise SystemExit(code)
    if args.screenshot:
        return {"screenshot": args.screenshot}
    if export is not None:
        return {"export_panels": str(export.folder)}
    return None
