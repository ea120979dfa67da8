"""Helpers the ``eegmi analyze`` model commands share: loading a model with its input
pipeline and writing an analysis' numbers and figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.paths import atomic_path


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
