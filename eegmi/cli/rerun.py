"""``eegmi rerun STATE.json``: re-run a panel's exported analysis state headless."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eegmi.cli.options import add_threads_option
from eegmi.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "rerun", help="re-run an analysis from a state exported by the workbench",
        description="Re-run the analysis a workbench panel exported (the STATE.json written "
                    "beside a panel export): same recipe, options, model and data, headless. "
                    "Prints the same summary numbers the panel showed.")
    p.add_argument("state", type=Path, help="exported state (.json)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    p.set_defaults(func=run)
    add_threads_option(p)  # as the analyze commands: the same thread count, the same sums


def load_state(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``: a panel's state (its ``"analysis"`` entry), a panel's
    exported ``.json`` (File › Export panel nests that state under ``"state"``), or the
    recipe state itself."""
    from eegmi.limits import read_json_card

    obj = read_json_card(path, ConfigError, "analysis state")
    if not isinstance(obj, dict):
        raise ConfigError("analysis state must be a JSON object", path)
    if "analysis" not in obj and isinstance(obj.get("state"), dict) and "analysis" in obj["state"]:
        obj = obj["state"]
    inner = obj.get("analysis", obj)
    if not isinstance(inner, dict):
        raise ConfigError("'analysis' must be a JSON object", path)
    return inner


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.jobs import run_with_bar
    from eegmi.recipes.base import read_state, rerun_job

    state = load_state(args.state)
    try:
        recipe, _, _ = read_state(state)
    except ConfigError as exc:
        raise ConfigError(str(exc.args[0] if exc.args else exc), args.state) from None
    device = args.device
    if device == "auto":
        from eegmi.devices import pick_device

        device = pick_device().type
    recipe, result = run_with_bar(rerun_job(state, device=device), recipe.name)
    return {"recipe": recipe.name, "model": state.get("model"), "data": state.get("data"),
            "summary": recipe.summary(result)}
