"""Helpers the ``eegmi analyze`` model commands share: loading a model with its input
pipeline and writing an analysis' numbers and figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.paths import atomic_path


def _load(spec: str, device: str) -> tuple[Any, Any]:
    import torch

    from eegmi.analysis.propagation import pipeline_for
    from eegmi.training.checkpoint import load_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_checkpoint(spec, device=device)
    return loaded, pipeline_for(loaded)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_out(out: Path, stem: str, result: dict[str, Any], arrays: dict[str, np.ndarray],
               figures: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    from eegmi.cli.analyze import write_json

    try:
        for name, fig in figures.items():
            with atomic_path(out / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
    finally:
        for fig in figures.values():
            plt.close(fig)
    with atomic_path(out / f"{stem}.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{_safe(k): v for k, v in arrays.items()})
    write_json(out / f"{stem}.json", result)
    return str(out)


def _plt() -> Any:
    from eegmi.cli.analyze import _pyplot  # Agg backend, set once for all analyses

    return _pyplot()
