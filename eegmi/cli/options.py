"""Options shared by several sub-commands."""

from __future__ import annotations

import argparse
import functools
from typing import Any


def _thread_count(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of threads or 'auto', got {text!r}")
    return n


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N|auto`` to ``parser`` and set torch's threads before its command runs.

    Call it after ``parser.set_defaults(func=...)``: the command is wrapped so that the
    thread count (:func:`eegmi.devices.set_threads`) is applied first.  A parser that
    already has ``--threads`` is left alone.
    """
    if any("--threads" in a.option_strings for a in parser._actions):
        return
    parser.add_argument(
        "--threads", type=_thread_count, default=None, metavar="N|auto",
        help="CPU threads for torch (default auto: the cores this process may use minus "
             "those other processes keep busy, by the load average; $EEGMI_THREADS sets "
             "the default)")
    func = parser.get_default("func")
    if func is None or getattr(func, "_sets_threads", False):
        return

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> Any:
        from eegmi.devices import set_threads

        set_threads(getattr(args, "threads", None))
        return func(args)

    run._sets_threads = True  # type: ignore[attr-defined]
    parser.set_defaults(func=run)
