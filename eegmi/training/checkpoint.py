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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from eegmi.errors import CheckpointError
from eegmi.limits import MAX_CARD_BYTES, one_line
from eegmi.models.config import ModelConfig
from eegmi.models.hooks import HookedModel
from eegmi.models.vae import ConfiguredModel, build_model
from eegmi.training.cards import card_parts
from eegmi.training.catalog import CARD, WEIGHTS, list_bundled, models_dir, read_card, resolve_model
from eegmi.training.rundir import commit, recover_for_reading

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
    directory: str | Path, model: ConfiguredModel, meta: dict[str, Any], dtype: str = "float32",
    state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
) -> Path:
    """Write ``model.safetensors``, ``model.json`` (and the training state) as one unit.

    All files carry the same random ``checkpoint`` id and are committed together
    (:func:`eegmi.training.rundir.commit`): after a crash at any point they all
    belong to the same epoch.

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
    state
        ``(tensors, scalars)`` of the resumable training state, written with the model.

    Raises
    ------
    CheckpointError
        The folder cannot be written (disk full...); the previous checkpoint is kept.
    """
    directory = Path(directory)
    cast = {"float32": torch.float32, "float16": torch.float16}[dtype]
    tensors = {k: v.detach().to("cpu", cast).contiguous() for k, v in model.state_dict().items()}
    ckpt_id = uuid.uuid4().hex
    card = {"format": FORMAT, **meta, "config": model.config.to_dict(), "weights_dtype": dtype,
            "checkpoint": ckpt_id}
    card_text = json.dumps(card, indent=2, default=_plain)
    writers = {
        WEIGHTS: lambda tmp: save_file(tensors, str(tmp), metadata={"checkpoint": ckpt_id}),
        CARD: lambda tmp: tmp.write_text(card_text, encoding="utf-8"),
    }
    if state is not None:
        writers[STATE] = _state_writer(*state, ckpt_id)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create the folder ({one_line(exc.strerror or exc)})",
                              directory) from None
    commit(directory, writers)
    return directory


def _state_writer(tensors: dict[str, torch.Tensor], state: dict[str, Any],
                  ckpt_id: str) -> Any:
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {"state": json.dumps(state), "checkpoint": ckpt_id}
    return lambda tmp: save_file(clean, str(tmp), metadata=metadata)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
_INT_DTYPES = ("BOOL", "U8", "I8", "I16", "I32", "I64")


def read_weights(path: Path, expected: dict[str, tuple[int, ...]] | None = None,
                 prefix: str = "") -> dict[str, torch.Tensor]:
    """Load a safetensors file of finite float tensors.

    The header is checked first (names, shapes and dtypes against ``expected`` when
    given, restricted to keys starting with ``prefix``), so a file from another
    model or one declaring huge tensors is refused before any tensor is read.

    Raises
    ------
    CheckpointError
        Missing, truncated or foreign file; a tensor that is not float, mis-shaped,
        or holds NaN/infinity.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file missing (or not a regular file)", path)
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = [k for k in f.keys() if k.startswith(prefix)]
            header = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape()))
                      for k in keys}
            _check_header(header, expected, path)
            tensors = {k: f.get_tensor(k) for k in keys}
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError("tensors too large to load", path) from None
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError... all mean unreadable
        raise CheckpointError(f"not a readable safetensors file ({one_line(exc)})", path) from None
    for key, value in tensors.items():
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"tensor {key!r} contains NaN or infinity", path)
    return tensors


def _check_header(header: dict[str, tuple[str, tuple[int, ...]]],
                  expected: dict[str, tuple[int, ...]] | None, path: Path) -> None:
    if expected is not None:
        for key, want in expected.items():  # in the model's order: the first difference
            if key not in header:
                raise CheckpointError(f"tensor {key!r} missing: another architecture?", path)
            if header[key][1] != tuple(want):
                raise CheckpointError(f"tensor {key!r} has shape {header[key][1]}, the model "
                                      f"needs {tuple(want)}: another architecture?", path)
        extra = sorted(set(header) - set(expected))
        if extra:
            raise CheckpointError(f"unexpected tensor {extra[0]!r}: another architecture?", path)
    # model weights are floats; a training state may also hold integer counters
    allowed = _FLOAT_DTYPES if expected is not None else (*_FLOAT_DTYPES, *_INT_DTYPES)
    for key, (dtype, _) in header.items():
        if dtype not in allowed:
            raise CheckpointError(f"tensor {key!r} has dtype {dtype}, not a "
                                  f"{'float' if expected is not None else 'real'} type", path)


def weights_id(path: Path) -> str | None:
    """The ``checkpoint`` id stored in a safetensors file's metadata (None if absent)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            value = (f.metadata() or {}).get("checkpoint")
    except Exception:  # noqa: BLE001 - unreadable files are reported by read_weights
        return None
    return value if isinstance(value, str) else None


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

    Everything the card declares is checked before anything is allocated: sizes
    within :mod:`eegmi.limits`, finite numbers, a built-in montage name (a card never
    makes eegmi read another file), weights of this architecture holding finite values.

    Raises
    ------
    CheckpointError
        Missing/truncated files, malformed card, or weights of another architecture.
    """
    path = resolve_model(name_or_path)
    recover_for_reading(path)
    card_path = path / CARD
    meta = read_card(card_path)
    try:
        config = ModelConfig.from_dict(meta["config"], card_path)
    except Exception as exc:  # noqa: BLE001 - ConfigError inside a card is a checkpoint problem
        raise CheckpointError(f"bad model config ({one_line(getattr(exc, 'message', exc))})",
                              card_path) from None
    scaler, injection_config, operator = card_parts(meta, config, card_path)
    model = build_model(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tensors = read_weights(path / WEIGHTS, expected)
    card_id = meta.get("checkpoint")
    if card_id is not None and weights_id(path / WEIGHTS) != card_id:
        raise CheckpointError("weights and model card belong to different checkpoints "
                              "(interrupted write?)", path)
    load_state_into(model, tensors, path / WEIGHTS)
    model.to(device).eval()
    return LoadedModel(model, config, meta, scaler, injection_config, operator, path)


def save_train_state(directory: str | Path, tensors: dict[str, torch.Tensor],
                     state: dict[str, Any]) -> None:
    """Write the resumable training state alone (tensors + JSON scalars) as one commit."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    commit(directory, {STATE: _state_writer(tensors, state, uuid.uuid4().hex)})


def load_train_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``train_state.safetensors``: ``(tensors, state)``.

    Raises
    ------
    CheckpointError
        Missing or unreadable state, or a state from another checkpoint than the
        folder's model card.
    """
    path = Path(directory) / STATE
    tensors = read_weights(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            text = meta["state"]
            if len(text) > MAX_CARD_BYTES:
                raise ValueError("state metadata too large")
            state = json.loads(text)
        if not isinstance(state, dict):
            raise ValueError("state metadata is not a table")
    except (KeyError, ValueError, RecursionError, SafetensorError) as exc:
        raise CheckpointError(f"training state has no readable metadata ({one_line(exc)})",
                              path) from None
    card = Path(directory) / CARD
    if card.is_file() and meta.get("checkpoint") is not None:
        card_id = read_card(card).get("checkpoint")
        if card_id is not None and card_id != meta.get("checkpoint"):
            raise CheckpointError("training state and model card belong to different "
                                  "checkpoints (interrupted write?)", path)
    return tensors, state
