"""``eegmi models``: the bundled trained models and their metrics."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="list bundled trained models with their metrics",
                              description="List the models shipped in resources/models.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from eegmi.training.catalog import list_bundled

    models = list_bundled()
    if getattr(args, "json", False):
        return {"models": models}
    nan = float("nan")
    sys.stdout.write(f"{'name':<10} {'kind':<8} {'latent':>6} {'epochs':>6} {'best':>5} "
                     f"{'val_mse':>10} {'test_mse':>10} {'test_mae':>8} {'ssim':>7} "
                     f"{'ssim_head':>9}\n")
    for m in models:
        met = m.get("metrics", {})

        def test(key: str, met: dict = met) -> float:
            # cards written before validation-steered training held bare test keys
            return float(met.get("test_" + key, met.get(key, nan)))

        sys.stdout.write(f"{m['name']:<10} {m['kind'] or '?':<8} {m['latent_dim'] or 0:>6} "
                         f"{m.get('epochs') or 0:>6} {met.get('best_epoch') or '-':>5} "
                         f"{met.get('val_mse', nan):>10.3e} {test('mse'):>10.3e} "
                         f"{test('mae'):>8.4f} {test('ssim'):>7.4f} {test('ssim_head'):>9.4f}\n")
    sys.stdout.write("test figures: scored once, at the end of training (training decides on "
                     "the validation split); best '-': a card from before best-epoch "
                     "selection (its last epoch); eegmi evaluate NAME adds the PCA baseline\n")
    return None
