"""``eegmi evaluate``: metrics of a model on the held-out split of its data."""

from __future__ import annotations

import argparse
from typing import Any

from eegmi.cli.options import add_threads_option


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate", help="MSE / MAE / SSIM of a model on its held-out test split",
        description="Evaluate a bundled model (E1..E5) or a checkpoint folder on the test "
                    "split rebuilt from the settings in its model card.")
    p.add_argument("model", help="bundled model name or checkpoint folder")
    p.add_argument("--data", help="'synthetic' or a data path (default: the model's data)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    p.set_defaults(func=run)
    add_threads_option(p)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.loaders import load_dataset
    from eegmi.devices import pick_device
    from eegmi.training.cards import card_data_source
    from eegmi.training.checkpoint import load_checkpoint
    from eegmi.training.evaluation import evaluate_checkpoint

    device = pick_device(args.device)
    loaded = load_checkpoint(args.model, device=device)
    source = card_data_source(loaded.meta, args.data, loaded.path / "model.json")
    data = load_dataset(source, montage=loaded.operator.montage)
    result = evaluate_checkpoint(loaded, data, split=args.split, batch_size=args.batch_size,
                                 device=device)
    return {"model": loaded.name, "path": str(loaded.path), "data": str(source), **result}
