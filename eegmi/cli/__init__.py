"""The ``eegmi`` command.

Every sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> dict | None``.  A returned dict is printed as one JSON object
when ``--json`` is given (otherwise as ``key: value`` lines).  Errors derived
from :class:`eegmi.errors.EegmiError` become one line on stderr and exit code 2;
any other exception exits 1 with a one-line message, and ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from eegmi import __version__
from eegmi.errors import Cancelled, EegmiError
from eegmi.limits import finite_json, one_line

#: Sub-command modules, in the order they appear in ``--help``.
COMMAND_MODULES = ("data", "train", "evaluate", "models", "analyze", "sae", "sweep", "figures",
                   "selftest", "rerun", "concepts")
#: Entry-point group through which other packages add sub-commands (the GUI adds
#: ``gui``); each entry names a ``register(subparsers)`` callable. This keeps the
#: library free of any import of the GUI package.
PLUGIN_GROUP = "eegmi.commands"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eegmi",
        description="Mechanistic interpretability workbench for EEG topographic-map models.",
    )
    parser.add_argument("--version", action="version", version=f"eegmi {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"eegmi.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"eegmi.cli.{name}":
                continue  # sub-command not part of this build
            raise
        module.register(sub)
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    # every sub-parser gets --json/--debug too, so they may follow the sub-command
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for subparser in getattr(action, "choices", {}).values():
            _add_common_recursive(subparser)
    return parser


def _add_common_recursive(parser: argparse.ArgumentParser) -> None:
    opts = {s for a in parser._actions for s in a.option_strings}
    if "--json" not in opts:
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="print one JSON object on stdout")
    if "--debug" not in opts:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show tracebacks on errors")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_common_recursive(child)


def emit(result: dict[str, Any] | None, as_json: bool) -> None:
    """Print a command's result: one JSON object, or readable lines."""
    if result is None:
        return
    if as_json:
        # strict JSON: a non-finite number (a metric of a diverged model...) becomes null
        plain = finite_json(json.loads(json.dumps(result, default=_json_default)))
        sys.stdout.write(json.dumps(plain, allow_nan=False) + "\n")
    else:
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.6g}"
            elif isinstance(value, (list, dict)):
                value = json.dumps(value, default=_json_default)
            sys.stdout.write(f"{key}: {value}\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    debug = bool(getattr(args, "debug", False))
    try:
        result = args.func(args)
    except EegmiError as exc:
        if debug:
            raise
        sys.stderr.write(f"eegmi: error: {one_line(exc.line(), 2000)}\n")
        return 2
    except Cancelled:
        sys.stderr.write("eegmi: cancelled\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("eegmi: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI contract is one line, no traceback
        if debug:
            raise
        sys.stderr.write(f"eegmi: error: {type(exc).__name__}: {one_line(exc, 2000)}\n")
        return 1
    emit(result, bool(getattr(args, "json", False)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
