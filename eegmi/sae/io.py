"""Saving and loading SAEs like models: safetensors weights + JSON metadata.

An SAE directory holds

- ``sae.safetensors``: ``W_enc (F, d)``, ``b_enc (F,)``, ``W_dec (d, F)``, ``b_dec (d,)``, ``scale ()``;
- ``sae.json``: ``{"format": "eegmi-sae", "version": 1, "config": SAEConfig,
  "hook": str | None, "mode": "spatial" | "flat" | None, "layer_shape": [..] | None,
  "normalisation": {"scale": float, "b_dec_units": "normalised"}, "metrics": {..},
  "provenance": {..}, "train": {..}, ...}``;
- ``decoder.npy``: unit decoder directions ``(F, d)`` float32 (``allow_pickle=False``);
- ``metrics.json``: the metrics alone, for scripts.

Nothing is unpickled; every file is written atomically.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from eegmi.errors import CheckpointError
from eegmi.paths import atomic_path
from eegmi.sae.model import SAEConfig, SparseAutoencoder

FORMAT = "eegmi-sae"
VERSION = 1
WEIGHTS = "sae.safetensors"
META = "sae.json"
DECODER = "decoder.npy"
METRICS = "metrics.json"


@dataclass
class LoadedSAE:
    """An SAE read from disk with its metadata (``hook``, ``mode``, ``layer_shape``, ``metrics``...)."""

    sae: SparseAutoencoder
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def hook(self) -> str | None:
        return self.meta.get("hook")

    @property
    def mode(self) -> str:
        return self.meta.get("mode") or "flat"

    @property
    def layer_shape(self) -> tuple[int, ...] | None:
        shape = self.meta.get("layer_shape")
        return tuple(shape) if shape else None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_sae(directory: str | Path, sae: SparseAutoencoder, meta: dict[str, Any] | None = None) -> Path:
    """Write an SAE directory (see module docstring); returns the directory.

    ``meta`` may carry ``hook``, ``mode``, ``layer_shape``, ``metrics``,
    ``provenance``, ``train`` and any other JSON-serialisable entries.
    """
    directory = Path(directory)
    meta = dict(meta or {})
    tensors = {k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "config": sae.config.to_dict(),
        "hook": meta.pop("hook", None),
        "mode": meta.pop("mode", None),
        "layer_shape": list(meta.pop("layer_shape", None) or []) or None,
        "normalisation": {"scale": float(sae.scale), "b_dec_units": "normalised (multiply by scale)"},
        **meta,
    }
    # serialise everything first, so a bad entry fails before any file is touched
    meta_text = json.dumps(doc, indent=2, default=_json_default)
    metrics_text = json.dumps(doc.get("metrics", {}), indent=2, default=_json_default)
    weights = save(tensors, metadata={"format": FORMAT})
    buf = io.BytesIO()
    np.save(buf, sae.decoder_directions.cpu().numpy().astype(np.float32), allow_pickle=False)
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in ((WEIGHTS, weights), (DECODER, buf.getvalue()),
                       (METRICS, metrics_text.encode()), (META, meta_text.encode())):
        with atomic_path(directory / name) as tmp:
            tmp.write_bytes(data)
    return directory


def load_sae(directory: str | Path, device: str | torch.device = "cpu") -> LoadedSAE:
    """Read an SAE directory written by :func:`save_sae`.

    Raises
    ------
    CheckpointError
        Missing files, wrong format, or weights that do not fit the stored config.
    """
    directory = Path(directory)
    meta_path, weights_path = directory / META, directory / WEIGHTS
    if not directory.is_dir():
        raise CheckpointError("SAE directory not found", directory)
    if not meta_path.is_file() or not weights_path.is_file():
        raise CheckpointError(f"not an SAE directory (needs {META} and {WEIGHTS})", directory)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable SAE metadata: {exc}", meta_path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"not an eegmi SAE file (format {meta.get('format') if isinstance(meta, dict) else None!r})", meta_path)
    try:
        config = SAEConfig.from_dict(meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"bad SAE config: {exc}", meta_path) from None
    except Exception as exc:  # ConfigError from impossible values
        raise CheckpointError(f"bad SAE config: {exc}", meta_path) from None
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable SAE weights: {exc}", weights_path) from None
    sae = SparseAutoencoder(config)
    expected = {k: tuple(v.shape) for k, v in sae.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
        raise CheckpointError(f"SAE weights do not fit config d_in={config.d_in}, "
                              f"n_features={config.n_features}: mismatched {diff}", weights_path)
    sae.load_state_dict(tensors)
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise CheckpointError("SAE weights contain NaN/inf", weights_path)
    sae.to(device).eval()
    return LoadedSAE(sae=sae, meta=meta, path=directory)
