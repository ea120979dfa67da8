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
from safetensors import safe_open
from safetensors.torch import save

from eegmi.errors import CheckpointError, EegmiError
from eegmi.limits import (
    MAX_SAE_FEATURES,
    MAX_SAE_WEIGHTS,
    MAX_SAE_WIDTH,
    check_float,
    check_int,
    is_int,
    one_line,
    read_json_card,
)
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

    The card is checked before anything is allocated: sizes within
    :mod:`eegmi.limits`, ``hook``/``mode``/``layer_shape`` consistent with the
    config, and the weights' header names and shapes; weights must be finite.

    Raises
    ------
    CheckpointError
        Missing files, wrong format, impossible sizes, or weights that do not fit
        the stored config.
    """
    directory = Path(directory)
    meta_path, weights_path = directory / META, directory / WEIGHTS
    if not directory.is_dir():
        raise CheckpointError("SAE directory not found", directory)
    if not meta_path.is_file() or not weights_path.is_file():
        raise CheckpointError(f"not an SAE directory (needs {META} and {WEIGHTS})", directory)
    meta = read_json_card(meta_path, CheckpointError, "SAE metadata")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"not an eegmi SAE file (format {str(fmt)[:40]!r})", meta_path)
    config = _config(meta.get("config"), meta_path)
    _check_layout(meta, config, meta_path)
    expected = {"W_enc": (config.n_features, config.d_in), "b_enc": (config.n_features,),
                "W_dec": (config.d_in, config.n_features), "b_dec": (config.d_in,), "scale": ()}
    tensors = _read_weights(weights_path, expected, config)
    sae = SparseAutoencoder(config)
    sae.load_state_dict(tensors)
    if not float(sae.scale) > 0:
        raise CheckpointError(f"SAE input scale {float(sae.scale)} must be > 0", weights_path)
    sae.to(device).eval()
    return LoadedSAE(sae=sae, meta=meta, path=directory)


def _config(d: Any, meta_path: Path) -> SAEConfig:
    """The card's :class:`SAEConfig`, with types and sizes checked before it is built."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"bad SAE config: {why}", meta_path)

    if not isinstance(d, dict):
        raise bad("'config' must be a table")
    try:
        d_in = check_int(d.get("d_in"), "d_in", 1, MAX_SAE_WIDTH, None)
        n_features = check_int(d.get("n_features"), "n_features", 1, MAX_SAE_FEATURES, None)
        if "l1" in d:
            check_float(d["l1"], "l1", 0.0, 1e6, None)
        if "k" in d:
            check_int(d["k"], "k", 1, n_features, None)
        if "kind" in d and not isinstance(d["kind"], str):
            raise bad(f"kind {str(d['kind'])[:40]!r} is not a string")
        if "l1_decoder_norm" in d and not isinstance(d["l1_decoder_norm"], bool):
            raise bad("l1_decoder_norm must be true or false")
        if d_in * n_features > MAX_SAE_WEIGHTS:
            raise bad(f"d_in x n_features = {d_in * n_features} weights per matrix "
                      f"(at most {MAX_SAE_WEIGHTS})")
        return SAEConfig.from_dict(d)
    except CheckpointError:
        raise
    except EegmiError as exc:
        raise bad(exc.message) from None


def _check_layout(meta: dict[str, Any], config: SAEConfig, meta_path: Path) -> None:
    """``hook``, ``mode`` and ``layer_shape`` must be of the right type and fit ``d_in``."""
    hook, mode, shape = meta.get("hook"), meta.get("mode"), meta.get("layer_shape")
    if hook is not None and (not isinstance(hook, str) or len(hook) > 200):
        raise CheckpointError(f"hook {str(hook)[:40]!r} must be a layer name", meta_path)
    if mode not in (None, "spatial", "flat"):
        raise CheckpointError(f"mode {str(mode)[:40]!r} must be spatial or flat", meta_path)
    if shape is None:
        return
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(is_int(v) and 1 <= v <= MAX_SAE_WIDTH for v in shape)):
        raise CheckpointError(f"layer_shape {str(shape)[:60]} must be 1 to 4 positive sizes",
                              meta_path)
    flat = 1
    for v in shape:
        flat *= int(v)
    width = flat if (len(shape) <= 1 or mode != "spatial") else int(shape[0])
    if flat > MAX_SAE_WIDTH or width != config.d_in:
        raise CheckpointError(f"layer_shape {shape} ({mode or 'flat'}) gives width {width}, "
                              f"the SAE reads d_in={config.d_in}", meta_path)
    for key in ("provenance", "metrics", "train", "normalisation"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CheckpointError(f"'{key}' must be a table", meta_path)


def _read_weights(path: Path, expected: dict[str, tuple[int, ...]],
                  config: SAEConfig) -> dict[str, torch.Tensor]:
    """The five SAE tensors, their header checked before reading; finite floats only."""
    try:
        with safe_open(str(path), framework="pt") as f:
            header = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape()))
                      for k in f.keys()}
            got = {k: v[1] for k, v in header.items()}
            if got != expected:
                diff = sorted(k for k in set(expected) | set(got)
                              if expected.get(k) != got.get(k))
                raise CheckpointError(f"SAE weights do not fit config d_in={config.d_in}, "
                                      f"n_features={config.n_features}: mismatched "
                                      f"{diff[:5]}", path)
            for key, (dtype, _) in header.items():
                if dtype not in ("F16", "BF16", "F32", "F64"):
                    raise CheckpointError(f"SAE tensor {key!r} has dtype {dtype}, not a float "
                                          "type", path)
            tensors = {k: f.get_tensor(k) for k in header}
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError("SAE weights too large to load", path) from None
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError...: unreadable
        raise CheckpointError(f"unreadable SAE weights ({one_line(exc)})", path) from None
    for key, value in tensors.items():
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"SAE weights contain NaN/inf (tensor {key!r})", path)
    return tensors


def load_for_model(directory: str | Path, hook_names: list[str] | tuple[str, ...],
                   device: str | torch.device = "cpu") -> LoadedSAE:
    """:func:`load_sae`, checked to read one of a model's layers ``hook_names``.

    Raises
    ------
    DataError
        The SAE was trained on a raw activation matrix, or reads a layer the model lacks.
    """
    from eegmi.errors import DataError

    loaded = load_sae(directory, device=device)
    if loaded.hook is None:
        raise DataError("this SAE was trained on a raw activation matrix, not a model layer", directory)
    if loaded.hook not in hook_names:
        raise DataError(f"SAE reads layer {loaded.hook!r}, which the current model does not have", directory)
    return loaded


def resave(loaded: LoadedSAE, directory: str | Path) -> Path:
    """Write a loaded (or freshly trained) SAE with its metadata to ``directory``."""
    meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "version", "config",
                                                               "normalisation")}
    return save_sae(directory, loaded.sae, meta)
