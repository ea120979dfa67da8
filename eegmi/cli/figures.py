"""``eegmi figures``: the paper-style figure set, or one panel figure re-rendered from its state.

Without ``--from``: for each model, original topomaps beside reconstructions (the GUI's
File → Figure set).  With ``--from STATE.json --out FILE.pdf|png|svg``: the figure a
workbench panel exported, recomputed headless from the state written beside it (model,
data, input, view, analysis) and drawn again in the same style (``--width-in``,
``--height-in``, ``--dpi`` override the exported size).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "figures", help="render the figure set, or re-render a panel figure from its state",
        description="Without --from: for each model, the original topomaps of chosen frames "
                    "beside its reconstructions (PNG + PDF) and a figure_set.json manifest. "
                    "With --from STATE.json: re-render the panel figure whose state the "
                    "workbench wrote beside it (File > Export panel, gui --export-panels) "
                    "into --out (.pdf, .svg or .png).")
    p.add_argument("--out", required=True,
                   help="output folder (figure set) or figure file FILE.pdf|png|svg (--from)")
    p.add_argument("--from", dest="state", default=None, metavar="STATE.json",
                   help="a panel figure's state (.json written beside the figure)")
    p.add_argument("--width-in", type=float, default=None, help="figure width in inches (--from)")
    p.add_argument("--height-in", type=float, default=None, help="figure height in inches (--from)")
    p.add_argument("--dpi", type=int, default=None, help="resolution (--from; PNG pixels per inch)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    p.add_argument("--models", nargs="+", default=None,
                   help="bundled names or checkpoint folders (default: every bundled model)")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a data file")
    p.add_argument("--frames", type=int, nargs="+", default=None,
                   help="frame indices (default: four spread over the recording)")
    p.set_defaults(func=run)


def _device(spec: str) -> str:
    if spec == "auto":
        from eegmi.devices import pick_device

        return pick_device().type
    return spec


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.errors import ConfigError
    from eegmi.jobs import run_with_bar

    if args.state is not None:
        from eegmi.figures.export import figure_from_state_job

        render = {"width_in": args.width_in, "height_in": args.height_in, "dpi": args.dpi}
        return run_with_bar(figure_from_state_job(args.state, args.out, _device(args.device),
                                                  render), "figure")
    if any(v is not None for v in (args.width_in, args.height_in, args.dpi)):
        raise ConfigError("--width-in, --height-in and --dpi apply to --from STATE.json only")
    from eegmi.figures import figure_set_job
    from eegmi.training.catalog import list_bundled

    models = args.models or [str(m["name"]) for m in list_bundled()]
    if not models:
        raise ConfigError("no models given and none bundled")
    return run_with_bar(figure_set_job(args.out, models, args.data, args.frames,
                                       _device(args.device)), "figures")
