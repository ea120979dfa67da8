"""Helpers the ``eegmi analyze`` commands share: common options, loading models with
their input pipeline, and writing an analysis' numbers and figures (atomically)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.paths import atomic_path


def model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", nargs="+", metavar="NAME", default=None,
                   help="hook names to analyse (default: every hook point)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=int, default=256, help="inputs per batch (default 256)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write the numbers (.npz, .json) and figures (.png) here")


def _load_models(specs: list[str], device: str) -> dict[str, Any]:
    from eegmi.training.checkpoint import load_checkpoint

    out: dict[str, Any] = {}
    for spec in specs:
        loaded = load_checkpoint(spec, device=device)
        label = loaded.name
        while label in out:
            label += "'"
        out[label] = loaded
    return out


def _nested(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One model: its dict as is; several: each key nested by model label."""
    if len(results) == 1:
        label, res = next(iter(results.items()))
        return {"model": label, **res}
    keys = next(iter(results.values())).keys()
    out: dict[str, Any] = {k: {lab: r[k] for lab, r in results.items()} for k in keys}
    return {"models": list(results), **out}


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write one JSON file atomically (numpy scalars converted)."""
    from eegmi.cli import _json_default

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default), encoding="utf-8")


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # numpy's stub lets a ``**`` dict fill ``allow_pickle: bool``; every value is an array
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def _save_fig(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _device(device: str) -> str:
    """The torch device of a ``--device`` option (``auto``: the best available)."""
    from eegmi.devices import pick_device

    return str(pick_device(device))


def _load(spec: str, device: str) -> tuple[Any, Any]:
    """The loaded model and its :class:`~eegmi.models.adapter.ModelAdapter`."""
    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(spec, device=_device(device))
    return loaded, adapt(loaded)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_out(out: Path, stem: str, result: dict[str, Any], arrays: dict[str, np.ndarray],
               figures: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    try:
        for name, fig in figures.items():
            with atomic_path(out / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
    finally:
        for fig in figures.values():
            plt.close(fig)
    _save_npz(out / f"{stem}.npz", {_safe(k): v for k, v in arrays.items()})
    write_json(out / f"{stem}.json", result)
    return str(out)


def _plt() -> Any:
    return _pyplot()  # Agg backend, set once for all analyses


def input_set_options(p: argparse.ArgumentParser, count: int) -> None:
    p.add_argument("--inputs", choices=("heldout", "random"), default="heldout",
                   help="held-out dataset frames (default: the model's validation split of its "
                        "own training data, or any frames of --data) or i.i.d. random mixes")
    p.add_argument("--count", type=int, default=count, help=f"how many inputs (default {count})")
    p.add_argument("--data", default=None, metavar="SPEC",
                   help="'synthetic' or an EEG file for --inputs heldout (default: the data the "
                        "model card names)")


def common_options(p: argparse.ArgumentParser, data: bool = True, batch_size: int = 256) -> None:
    if data:
        p.add_argument("--data", default=None, metavar="SPEC",
                       help="'synthetic' or an EEG file: use its frames (scaled by the model's "
                            "scaler) instead of random mixes")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help=f"inputs per batch (default {batch_size})")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write the numbers (.npz, .json) and figures (.png) here")


def attribution_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", default="enc.act3", help="Grad-CAM hook point (default enc.act3)")
    p.add_argument("--nt-samples", type=int, default=16, help="SmoothGrad samples (default 16)")
    p.add_argument("--noise", type=float, default=0.15, help="SmoothGrad noise / input range (0.15)")
    p.add_argument("--ig-steps", type=int, default=32, help="Integrated Gradients steps (default 32)")
