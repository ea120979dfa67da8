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
    sys.stdout.write(f"{'name':<10} {'kind':<8} {'latent':>6} {'epochs':>6} "
                     f"{'ssim':>7} {'mse':>10} {'mae':>8}\n")
    for m in models:
        met = m.get("metrics", {})
        sys.stdout.write(f"{m['name']:<10} {m['kind'] or '?':<8} {m['latent_dim'] or 0:>6} "
                         f"{m.get('epochs') or 0:>6} {met.get('ssim', float('nan')):>7.4f} "
                         f"{met.get('mse', float('nan')):>10.3e} {met.get('mae', float('nan')):>8.4f}\n")
    return None
