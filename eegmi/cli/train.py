"""``eegmi train``: train an experiment preset (or a copied and edited TOML)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from eegmi.cli.options import add_threads_option
from eegmi.jobs import Progress, ProgressBar, run_job


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train", help="train a model from an experiment preset",
        description="Train E1..E5, stagewise, pick_init or a TOML experiment file. "
                    "Checkpoints (model.safetensors + model.json), history.jsonl and the "
                    "resumable state are written into --out after every epoch.")
    p.add_argument("--experiment", "-e", required=True,
                   help="preset name (E1..E5, stagewise, pick_init) or a .toml file")
    p.add_argument("--data", help="'synthetic' or a data file/folder (default: the preset's)")
    p.add_argument("--epochs", type=int, help="total epochs (overrides the preset)")
    p.add_argument("--out", help="checkpoint folder (default: runs/<experiment>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="initial learning rate")
    p.add_argument("--weight-decay", type=float, help="AdamW (decoupled) weight decay")
    p.add_argument("--max-frames", type=int, help="use at most N frames (spread over the splits)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                   help="dtype of the saved model weights (float16 halves the file)")
    p.set_defaults(func=run)
    add_threads_option(p)


def _overridden(args: argparse.Namespace) -> Any:
    from eegmi.errors import ConfigError
    from eegmi.training.experiments import ExperimentConfig, load_experiment

    exp = load_experiment(args.experiment)
    d = exp.to_dict()
    given = {}
    for flag, section, key in (("epochs", "training", "epochs"), ("seed", "training", "seed"),
                               ("batch_size", "training", "batch_size"),
                               ("lr", "training", "lr"),
                               ("weight_decay", "training", "weight_decay"),
                               ("max_frames", "data", "max_frames"), ("data", "data", "source")):
        value = getattr(args, flag)
        if value is not None:
            d[section][key] = value
            given[f"{section}.{key}:"] = "--" + flag.replace("_", "-")
    try:
        return ExperimentConfig.from_dict(d, exp.path)
    except ConfigError as exc:
        option = given.get(exc.message.split(" ", 1)[0])
        if option:  # the bad value came from the command line, not from the preset file
            raise ConfigError(f"{option}: {exc.message}") from None
        raise


def _command_line(args: argparse.Namespace) -> str:
    """The canonical ``eegmi train`` command that reproduces this run (for the model card)."""
    parts = ["eegmi", "train", "--experiment", args.experiment]
    for flag in ("data", "epochs", "out", "seed", "batch_size", "lr", "weight_decay",
                 "max_frames", "device"):
        value = getattr(args, flag)
        if value is not None:
            parts += ["--" + flag.replace("_", "-"), str(value)]
    if args.weights_dtype != "float32":
        parts += ["--weights-dtype", args.weights_dtype]
    if args.resume:
        parts.append("--resume")
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.loaders import load_dataset
    from eegmi.training.loop import train

    exp = _overridden(args)
    out = Path(args.out or Path("runs") / exp.name)
    data = load_dataset(exp.data.source, montage=exp.data.montage)
    command = _command_line(args)
    bar = ProgressBar(f"train {exp.name}")
    as_json = bool(getattr(args, "json", False))

    def report(p: Progress) -> None:
        bar(p)
        if not bar.enabled and not as_json and p.keep:  # logs: one line per epoch
            sys.stderr.write(p.message + "\n")
            sys.stderr.flush()

    try:
        result = run_job(train(exp, data, out, resume=args.resume, device=args.device,
                               command=command, weights_dtype=args.weights_dtype), report)
    finally:
        bar.close()
    return {"out": str(result.out_dir), "experiment": exp.name, "epochs": result.epochs,
            **{k: v for k, v in result.metrics.items() if k != "epoch"}}
