"""``eegmi figures``: the paper-style figure set, headless (the GUI's File → Figure set)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "figures", help="render original-vs-reconstruction figures for models",
        description="For each model, the original topomaps of chosen frames beside its "
                    "reconstructions (PNG + PDF) and a figure_set.json manifest.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--models", nargs="+", default=None,
                   help="bundled names or checkpoint folders (default: every bundled model)")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a data file")
    p.add_argument("--frames", type=int, nargs="+", default=None,
                   help="frame indices (default: four spread over the recording)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.errors import ConfigError
    from eegmi.figures import figure_set_job
    from eegmi.jobs import run_with_bar
    from eegmi.training.catalog import list_bundled

    models = args.models or [str(m["name"]) for m in list_bundled()]
    if not models:
        raise ConfigError("no models given and none bundled")
    return run_with_bar(figure_set_job(args.out, models, args.data, args.frames), "figures")
