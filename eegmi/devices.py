"""Where torch work runs: device choice and CPU thread counts, in one place."""

from __future__ import annotations

import os

import torch

from eegmi.errors import ConfigError


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA when present, else CPU; an explicit ``device`` is checked.

    Parameters
    ----------
    device
        ``None`` or ``"auto"`` for the default choice, else a torch device spec.

    Raises
    ------
    ConfigError
        If CUDA is requested but not available.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {str(device)!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def cpu_threads() -> int:
    """Cores this process may use (affinity-aware); the CLI sets torch's threads to it."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
