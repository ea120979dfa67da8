"""``eegmi train``: train an experiment preset (or a copied and edited TOML)."""

from __future__ import annotations

import argparse
import os
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
                    "resumable state are written into --out after every epoch. Started by "
                    "torchrun (torchrun --nproc-per-node N -m eegmi train ...) it trains one "
                    "model across N processes with DistributedDataParallel.")
    p.add_argument("--experiment", "-e", required=True,
                   help="preset name (E1..E5, stagewise, pick_init) or a .toml file")
    p.add_argument("--data", help="'synthetic' or a data file/folder (default: the preset's)")
    p.add_argument("--epochs", type=int, help="total epochs (overrides the preset)")
    p.add_argument("--out", help="checkpoint folder (default: runs/<experiment>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument("--batch-size", type=int,
                   help="batch size (per process under torchrun: a step takes N x this)")
    p.add_argument("--lr", type=float, help="initial learning rate")
    p.add_argument("--weight-decay", type=float, help="AdamW (decoupled) weight decay")
    p.add_argument("--max-frames", type=int, help="use at most N frames (spread over the splits)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present; "
                                    "under torchrun cpu or cuda, each process on "
                                    "cuda:LOCAL_RANK)")
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


def _command_line(args: argparse.Namespace, ranks: Any = None) -> str:
    """The canonical ``eegmi train`` command that reproduces this run (for the model card);
    a run across processes is recorded as its ``torchrun`` command."""
    parts = ["eegmi", "train", "--experiment", args.experiment]
    if ranks is not None:
        nodes = ranks.world // max(1, ranks.local_world)
        launch = ["torchrun", "--nproc-per-node", str(ranks.local_world)]
        if nodes > 1:
            launch += ["--nnodes", str(nodes)]
        parts = [*launch, "-m", *parts]
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


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """One process: train as always.  Started by torchrun: join the run as one rank
    (:mod:`eegmi.training.distributed`); only rank 0 reports, writes and prints."""
    from eegmi.training.distributed import launched_by_torchrun

    if not launched_by_torchrun():
        return _train(args, None)
    return _run_rank(args)


def _run_rank(args: argparse.Namespace) -> dict[str, Any] | None:
    """One rank's whole run: the first rank to fail reports its error (one line); a rank
    failing after it (its peer gone) exits quietly with the same status.  torchrun then
    stops the ranks still waiting for the failed one."""
    from eegmi.devices import THREADS_ENV, choose_threads
    from eegmi.errors import EegmiError
    from eegmi.training.distributed import process_group, ranks_from_env, threads_per_rank

    try:
        ranks = ranks_from_env(args.device)
    except EegmiError:  # the same on every rank: rank 0 says it
        if os.environ.get("RANK", "").strip() == "0":
            raise
        raise SystemExit(2) from None
    with process_group(ranks):
        if getattr(args, "threads", None) is None and not os.environ.get(THREADS_ENV, "").strip():
            import torch

            # the ranks of a node share its cores (an explicit --threads is per process)
            torch.set_num_threads(threads_per_rank(choose_threads(), ranks.local_world))
        try:
            result = _train(args, ranks)
        except BaseException as exc:
            if isinstance(exc, SystemExit) or ranks.first_failure():
                raise
            code = 2 if isinstance(exc, EegmiError) else 130 if isinstance(
                exc, KeyboardInterrupt) else 1
            raise SystemExit(code) from None
    return result if ranks.main else None


def _train(args: argparse.Namespace, ranks: Any) -> dict[str, Any]:
    from eegmi.data.loaders import load_dataset
    from eegmi.training.loop import train

    exp = _overridden(args)
    out = Path(args.out or Path("runs") / exp.name)
    data = load_dataset(exp.data.source, montage=exp.data.montage)
    command = _command_line(args, ranks)
    main = ranks is None or ranks.main
    bar = ProgressBar(f"train {exp.name}") if main else None
    as_json = bool(getattr(args, "json", False))
    if ranks is not None and main:
        sys.stderr.write(f"eegmi: {ranks.describe(exp.training.batch_size)}\n")
        sys.stderr.flush()

    def report(p: Progress) -> None:
        if bar is None:  # ranks other than 0 run the same job silently
            return
        bar(p)
        if not bar.enabled and not as_json and p.keep:  # logs: one line per epoch
            sys.stderr.write(p.message + "\n")
            sys.stderr.flush()

    try:
        result = run_job(train(exp, data, out, resume=args.resume, device=args.device,
                               command=command, weights_dtype=args.weights_dtype,
                               ranks=ranks), report)
    finally:
        if bar is not None:
            bar.close()
    return {"out": str(result.out_dir), "experiment": exp.name, "epochs": result.epochs,
            **{k: v for k, v in result.metrics.items() if k != "epoch"}}
