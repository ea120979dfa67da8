"""The Ray runner: each trial a Ray task holding one GPU, or ``cpus_per_trial`` CPUs.

Ray is imported here only (the ``cluster`` extra: ``pip install 'eegmi[cluster]'``).
Without ``address`` a local Ray instance is started (and shut down afterwards); with
it, the trials run on that cluster, whose nodes must have eegmi installed and see the
sweep folder at the same path (a shared filesystem): a trial writes its run folder
there and the driver reads its progress and results from it.  A Ray instance already
initialised in this process (``ray.init(...)`` by the caller) is used as it is.

Resources: ``num_gpus=1`` per trial when the cluster has GPUs (the trial's
``CUDA_VISIBLE_DEVICES`` is set by Ray, and eegmi's default device is CUDA when
present), else ``num_cpus=cpus_per_trial``; the trial's torch threads are the CPUs it
holds.  Ray schedules as many trials at once as the resources allow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError
from eegmi.limits import one_line
from eegmi.sweep.execute import STOP_GRACE_S, run_trial
from eegmi.sweep.monitor import Monitor
from eegmi.sweep.spec import Trial


def ray_available() -> bool:
    """Whether the ``cluster`` extra (Ray) is installed."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def resources(cluster: dict[str, Any], cpus_per_trial: int,
              device: str | None = None) -> dict[str, Any]:
    """The Ray resource request of one trial on a cluster with ``cluster`` resources
    (``device`` ``"cpu"``: the trials run on CPUs even where there are GPUs)."""
    on_cpu = device is not None and device.strip().lower().startswith("cpu")
    if not on_cpu and float(cluster.get("GPU", 0) or 0) >= 1:
        return {"num_gpus": 1, "num_cpus": cpus_per_trial}
    return {"num_cpus": cpus_per_trial}


def run_ray(trials: list[Trial], sweep: Path, analyses: dict[str, dict[str, Any]],
            monitor: Monitor, cpus_per_trial: int = 1, address: str | None = None,
            num_cpus: int | None = None, device: str | None = None) -> list[dict[str, Any]]:
    """Run ``trials`` as Ray tasks; returns one outcome per trial, in completion order.

    Parameters
    ----------
    address
        An existing cluster (``ray://host:10001``, ``auto``...); None starts a local
        instance with ``num_cpus`` CPUs (None: all of them).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'eegmi[cluster]'") from None
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError, SystemExit) as exc:
            # Ray exits (SystemExit) when no cluster answers at the address
            where = f"reach the Ray cluster at {address}" if address else \
                "start a local Ray instance"
            why = f"exit status {exc.code}" if isinstance(exc, SystemExit) else one_line(exc)
            raise ConfigError(f"cannot {where} ({why})") from None
        started = True
    try:
        request = resources(ray.cluster_resources(), cpus_per_trial, device)
        threads = cpus_per_trial
        task = ray.remote(run_trial).options(**request, max_retries=0)
        refs: dict[Any, Trial] = {}
        for trial in trials:
            refs[task.remote(trial, str(sweep), analyses, threads, device)] = trial
            monitor.queue(trial)
        outcomes: list[dict[str, Any]] = []
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in ready:
                    trial = refs[ref]
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a lost worker, a node gone
                        outcome = {"id": trial.id, "state": "failed", "ran": [],
                                   "error": f"Ray task failed ({one_line(exc)})"}
                    monitor.end(trial, outcome)
                    outcomes.append(outcome)
                monitor.tick()
        except KeyboardInterrupt:
            # each task's child gets SIGINT and keeps its last checkpoint for --resume
            for ref in pending:
                ray.cancel(ref)
            ray.wait(pending, num_returns=len(pending), timeout=STOP_GRACE_S + 5)
            raise
        return outcomes
    finally:
        if started:
            ray.shutdown()
