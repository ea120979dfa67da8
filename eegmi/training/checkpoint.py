"""Model checkpoints (safetensors + JSON card) and the resumable training state.

A checkpoint is a directory holding ``model.safetensors`` (weights) and ``model.json``
(``config``, ``scaler``, ``injection``, ``montage``, ``operator``, ``data`` provenance,
``split``, ``metrics``, ``experiment``, ``command``).  The training state needed by
``--resume`` (optimizer and scheduler, epoch counters) is one more file,
``train_state.safetensors``: tensors as tensors, scalars as a JSON string in the
safetensors metadata, so one atomic rename makes a consistent snapshot and no pickle
is ever involved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from eegmi.errors import CheckpointError
from eegmi.models.config import ModelConfig
from eegmi.models.hooks import HookedModel
from eegmi.models.vae import build_model
from eegmi.paths import atomic_path
from eegmi.training.catalog import CARD, WEIGHTS, list_bundled, models_dir, read_card, resolve_model

__all__ = ["CARD", "WEIGHTS", "list_bundled", "models_dir", "read_card", "resolve_model"]  # re-exported

STATE = "train_state.safetensors"
FORMAT = "eegmi-model/1"


@dataclass
class LoadedModel:
    """A model loaded from a checkpoint, with everything needed to feed it.

    Attributes
    ----------
    model
        The :class:`HookedModel` in eval mode.
    config
        Its :class:`ModelConfig`.
    meta
        The whole ``model.json`` card.
    scaler
        The :class:`eegmi.data.preprocess.ClipScaler` fitted on the training split.
    injection_config
        The :class:`eegmi.data.injection.InjectionConfig` the model was trained with.
    operator
        The :class:`eegmi.data.topomap.TopomapOperator` that renders its images.
    path
        The checkpoint directory.
    """

    model: HookedModel
    config: ModelConfig
    meta: dict[str, Any]
    scaler: Any
    injection_config: Any
    operator: Any
    path: Path

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.path.name)


def save_checkpoint(
    directory: str | Path, model: HookedModel, meta: dict[str, Any], dtype: str = "float32"
) -> Path:
    """Write ``model.safetensors`` and ``model.json`` atomically into ``directory``.

    Parameters
    ----------
    directory
        Checkpoint folder (created if needed).
    model
        A model with a ``config`` attribute.
    meta
        Card contents (scaler, injection, montage, operator, data, split, metrics, ...).
    dtype
        ``"float32"`` or ``"float16"`` (halves the file; loads back as float32).
    """
    directory = Path(directory)
    cast = {"float32": torch.float32, "float16": torch.float16}[dtype]
    tensors = {k: v.detach().to("cpu", cast).contiguous() for k, v in model.state_dict().items()}
    card = {"format": FORMAT, **meta, "config": model.config.to_dict(), "weights_dtype": dtype}
    with atomic_path(directory / WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    with atomic_path(directory / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=2, default=_plain), encoding="utf-8")
    return directory


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; truncated or foreign files raise :class:`CheckpointError`."""
    if not path.is_file():
        raise CheckpointError("weights file missing", path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"not a readable safetensors file ({exc})", path) from None


def load_state_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path,
                    prefix: str = "") -> None:
    """Copy ``tensors`` into ``model`` after checking every name and shape.

    Only keys starting with ``prefix`` are expected/copied when a prefix is given.

    Raises
    ------
    CheckpointError
        Naming the first missing, unexpected or mis-shaped tensor.
    """
    own = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    theirs = {k: v for k, v in tensors.items() if k.startswith(prefix)}
    for key, value in own.items():
        if key not in theirs:
            raise CheckpointError(f"tensor {key!r} missing: another architecture?", path)
        if tuple(theirs[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"tensor {key!r} has shape {tuple(theirs[key].shape)}, the model needs "
                f"{tuple(value.shape)}: another architecture?", path)
    extra = sorted(set(theirs) - set(own))
    if extra:
        raise CheckpointError(f"unexpected tensor {extra[0]!r}: another architecture?", path)
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(theirs[key].to(value.dtype))


def load_checkpoint(name_or_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint directory or bundled model by name.

    Raises
    ------
    CheckpointError
        Missing/truncated files, malformed card, or weights of another architecture.
    """
    from eegmi.data.injection import InjectionConfig
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import get_operator

    path = resolve_model(name_or_path)
    meta = read_card(path / CARD)
    try:
        config = ModelConfig.from_dict(meta["config"], path / CARD)
    except Exception as exc:  # ConfigError inside a card is a checkpoint problem
        raise CheckpointError(f"bad model config ({getattr(exc, 'message', exc)})",
                              path / CARD) from None
    model = build_model(config)
    load_state_into(model, read_weights(path / WEIGHTS), path / WEIGHTS)
    model.to(device).eval()
    try:
        scaler = ClipScaler.from_dict(meta["scaler"])
        inj = meta.get("injection", {})
        injection_config = InjectionConfig(marks=bool(inj.get("marks", False)),
                                           occlusion=bool(inj.get("occlusion", False)),
                                           mark_value=float(inj.get("mark_value", 1.0)))
        op = meta.get("operator", {})
        operator = get_operator(meta.get("montage", {}).get("name", "biosemi32"),
                                size=int(op.get("size", config.image_size)),
                                method=str(op.get("method", "cubic")))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"model card incomplete ({exc!r})", path / CARD) from None
    return LoadedModel(model, config, meta, scaler, injection_config, operator, path)


def save_train_state(directory: str | Path, tensors: dict[str, torch.Tensor],
                     state: dict[str, Any]) -> None:
    """Atomically write the resumable training state (tensors + JSON scalars)."""
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(Path(directory) / STATE) as tmp:
        save_file(clean, str(tmp), metadata={"state": json.dumps(state)})


def load_train_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``train_state.safetensors``: ``(tensors, state)``.

    Raises
    ------
    CheckpointError
        Missing or unreadable state.
    """
    from safetensors import safe_open

    path = Path(directory) / STATE
    tensors = read_weights(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = json.loads((f.metadata() or {})["state"])
    except (KeyError, json.JSONDecodeError, SafetensorError) as exc:
        raise CheckpointError(f"training state has no readable metadata ({exc!r})", path) from None
    return tensors, state
