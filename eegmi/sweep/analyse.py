"""The analyses a sweep asks for, on one finished train trial (a child process).

``python -m eegmi.sweep.analyse TRIAL_DIR --options JSON [--data D] [--device] [--threads]``
runs, with the existing recipes and their options (the recipes' defaults unless the
spec's ``[analysis.NAME]`` table changes them):

- ``alpha``: recipe ``spectra`` (:func:`eegmi.recipes.spectra.summarize_spectra`): α per
  depth layer beside the untrained null, the input's α, effective ranks, fit warnings;
- ``pick_interpolate``: the pick & interpolate test of the model
  (:func:`eegmi.recipes.propagation.model_pick`, summarised by ``pick_summary``): pick
  R², interpolate, alignment, axis alignment and the controls.

Inputs are the model's held-out (validation) frames, as in the panels and
``eegmi analyze``: nothing here reads the test split.  Results go into
``TRIAL_DIR/sweep_analyses.json`` keyed by the card's checkpoint id and each analysis'
options, written after every analysis, so a retrained trial or a changed option is
computed again and nothing else is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError, EegmiError
from eegmi.jobs import run_job
from eegmi.limits import one_line
from eegmi.sweep.layout import ANALYSES_FILE, read_json, train_card, write_json


def alpha_summary(loaded: Any, options: dict[str, Any], data: str | None, device: str,
                  label: str) -> dict[str, Any]:
    """Recipe ``spectra`` on ``loaded``; its summary (α per layer, null, input α...)."""
    from eegmi.recipes.base import RecipeContext
    from eegmi.recipes.spectra import SPECTRA, summarize_spectra
    from eegmi.sweep.spec import spectra_options

    opts = spectra_options(options)
    if opts.data is None and data:
        opts = replace(opts, data=data)
    context = RecipeContext(model=str(loaded.path), loaded=loaded, data=opts.data,
                            device=device, extra={"label": label})
    return summarize_spectra(run_job(SPECTRA.run(opts, context, None)))


def pick_summary_of(loaded: Any, options: dict[str, Any], data: str | None,
                    label: str) -> dict[str, Any]:
    """The pick & interpolate test of ``loaded`` (held-out frames), summarised."""
    from eegmi.analysis.pick_options import PickInterpolateOptions
    from eegmi.recipes.propagation import model_pick, pick_summary

    res = run_job(model_pick(loaded, PickInterpolateOptions.from_json(options), data,
                             label=label))
    return pick_summary(res)


def run_analyses(folder: Path, wanted: dict[str, dict[str, Any]], data: str | None,
                 device: str) -> dict[str, Any]:
    """Compute the analyses of ``wanted`` the folder lacks; returns the file's content."""
    from eegmi.training.checkpoint import load_checkpoint

    card = train_card(folder)
    if card is None:
        raise ConfigError("no finished model here to analyse", folder)
    saved = read_json(folder / ANALYSES_FILE, {})
    if not isinstance(saved, dict) or saved.get("checkpoint") != card.get("checkpoint"):
        saved = {}
    results: dict[str, Any] = dict(saved.get("results") or {})
    doc = {"checkpoint": card.get("checkpoint"), "results": results}
    loaded = load_checkpoint(folder, device=device)
    label = folder.name
    for name, options in wanted.items():
        previous = results.get(name)
        if isinstance(previous, dict) and previous.get("options") == options:
            continue
        if name == "alpha":
            summary = alpha_summary(loaded, options, data, device, label)
        elif name == "pick_interpolate":
            summary = pick_summary_of(loaded, options, data, label)
        else:
            raise ConfigError(f"unknown analysis {name!r}")
        results[name] = {"options": options, "summary": summary}
        write_json(folder / ANALYSES_FILE, doc)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eegmi.sweep.analyse",
                                     description="a sweep's analyses of one trained trial")
    parser.add_argument("trial_dir", type=Path)
    parser.add_argument("--options", required=True, help="JSON {analysis: options}")
    parser.add_argument("--data", help="the trial's data (when not synthetic)")
    parser.add_argument("--device")
    parser.add_argument("--threads", default="auto")
    args = parser.parse_args(argv)
    try:
        from eegmi.devices import pick_device, set_threads

        set_threads(args.threads if args.threads == "auto" else int(args.threads))
        wanted = json.loads(args.options)
        if not isinstance(wanted, dict):
            raise ConfigError("--options must be a JSON object")
        device = str(pick_device(args.device))
        run_analyses(args.trial_dir, wanted, args.data, device)
    except EegmiError as exc:
        sys.stderr.write(f"eegmi: error: {one_line(exc.line(), 2000)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("eegmi: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line in the trial's log, as the CLI does
        sys.stderr.write(f"eegmi: error: {type(exc).__name__}: {one_line(exc, 2000)}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the child's entry
    sys.exit(main())
