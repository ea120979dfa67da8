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
    """Cores this process may use (affinity-aware), whatever else runs on them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Environment variable giving the default thread count (a number, or ``auto``).
THREADS_ENV = "EEGMI_THREADS"


def choose_threads(requested: int | str | None = None, cores: int | None = None,
                   load: float | None = None, total_cpus: int | None = None) -> int:
    """The number of torch CPU threads to use.

    An explicit positive ``requested`` is honoured as it is.  Otherwise (``None``,
    ``0`` or ``"auto"``; then ``$EEGMI_THREADS`` when set) the count is the cores
    this process may run on minus those other processes keep busy, at least one:
    on a shared machine an OpenMP thread that has to wait for a busy core stalls
    every step of its team (measured on 2 cores beside one other CPU-bound process:
    two threads train at 0.57x the speed of one).

    Parameters
    ----------
    requested
        ``--threads`` as given: a positive count, or ``None``/``0``/``"auto"``.
    cores
        Cores this process may use (default: its CPU affinity).
    load
        Runnable processes besides this one, machine-wide (default: the 1-minute
        load average, which counts this process's own running threads too, so it
        is read before torch starts any).
    total_cpus
        CPUs the load is spread over (default ``os.cpu_count()``); the busy share
        of this process's cores is ``load * cores / total_cpus``.

    Raises
    ------
    ConfigError
        When ``requested`` (or ``$EEGMI_THREADS``) is neither a positive count nor auto.
    """
    source = "--threads"
    if requested in (None, 0, "0", "auto") and os.environ.get(THREADS_ENV, "").strip():
        requested, source = os.environ[THREADS_ENV].strip(), f"${THREADS_ENV}"
    if requested not in (None, 0, "0", "auto"):
        try:
            n = int(requested)
        except (TypeError, ValueError):
            n = 0
        if n < 1:
            raise ConfigError(f"{source} must be a positive number of threads or 'auto', "
                              f"got {requested!r}")
        return n
    cores = cores if cores is not None else cpu_threads()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover - no load average on this OS
            load = 0.0
    total = total_cpus if total_cpus is not None else (os.cpu_count() or cores)
    busy = load * cores / max(total, cores)
    return max(1, min(cores, int(cores - busy + 0.5)))


def set_threads(requested: int | str | None = None) -> int:
    """Set torch's intra-op threads to :func:`choose_threads` (``requested``); returns it."""
    n = choose_threads(requested)
    torch.set_num_threads(n)
    return n
