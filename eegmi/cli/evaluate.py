"""``eegmi evaluate``: metrics of a model on the held-out split of its data."""

from __future__ import annotations

import argparse
from typing import Any

from eegmi.cli.options import add_threads_option


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate", help="MSE / MAE / SSIM of a model on its held-out test split",
        description="Evaluate a bundled model (E1..E5) or a checkpoint folder on the test "
                    "split rebuilt from the settings in its model card: MSE, MAE, SSIM "
                    "over the whole image and over the head disc, beside a linear "
                    "baseline (PCA with the model's latent size fitted on the training "
                    "split's images) on the same frames.")
    p.add_argument("model", help="bundled model name or checkpoint folder")
    p.add_argument("--data", help="'synthetic' or a data path (default: the model's data)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the PCA baseline (PCA with the model's latent size, fitted on "
                        "the training split's images, scored on the same frames)")
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
                                 device=device, baseline=not args.no_baseline)
    out = {"model": loaded.name, "path": str(loaded.path), "data": str(source), **result}
    base = result.get("baseline")
    if base is not None and not getattr(args, "json", False):
        # text mode: the baseline as flat lines rather than one JSON blob
        out.pop("baseline")
        for key in ("mse", "mae", "ssim", "ssim_head"):
            out[f"baseline_pca{base['k']}_{key}"] = base[key]
        out["baseline_image_rank"] = base["image_rank"]
        lin = base.get("linear_decoder")
        if lin is not None:
            for key in ("mse", "mae", "ssim", "ssim_head"):
                out[f"baseline_linear_decoder_{key}"] = lin[key]
            out["baseline_linear_decoder_note"] = lin["note"]
        out["note"] = base["note"]
    return out
