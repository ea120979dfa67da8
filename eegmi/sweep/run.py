"""Run a sweep: plan the folder, run what is not done, write the table.

:func:`run_sweep` is what ``eegmi sweep`` calls.  It locks the sweep folder, writes the
plan (``plan.json``, a copy of the spec, each train trial's experiment TOML), asks every
trial's folder how far it got, runs the trials that are not done on the chosen runner,
records failures in ``status.json`` and returns the table of :mod:`eegmi.sweep.table`
(also written to ``results.json``).  Running it again resumes: done trials are
skipped, interrupted ones continue with ``--resume``, failed ones are tried again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from eegmi.errors import ConfigError
from eegmi.sweep.layout import (
    PLAN,
    RESULTS,
    SPEC_COPY,
    STATUS,
    SweepLock,
    experiment_file,
    read_json,
    trial_state,
    write_json,
)
from eegmi.sweep.monitor import Monitor
from eegmi.sweep.spec import SweepSpec, Trial
from eegmi.sweep.table import read_sweep

RUNNERS = ("auto", "ray", "local")


def plan_of(spec: SweepSpec) -> dict[str, Any]:
    """The ``plan.json`` of a spec: what the table and the GUI read."""
    return {"name": spec.name, "kind": spec.kind, "spec": str(spec.path.resolve()),
            "analyses": list(spec.analyses), "analysis_options": spec.analysis_options,
            "cpus_per_trial": spec.cpus_per_trial,
            "trials": [{"id": t.id, "kind": t.kind, "params": t.params, "epochs": t.epochs}
                       for t in spec.trials]}


def write_plan(spec: SweepSpec, sweep: Path) -> None:
    """Write the plan, the spec copy and every train trial's experiment file."""
    import tomli_w

    from eegmi.paths import atomic_path

    write_json(sweep / PLAN, plan_of(spec))
    with atomic_path(sweep / SPEC_COPY) as tmp:
        tmp.write_text(spec.text, encoding="utf-8")
    for t in spec.trials:
        if t.experiment is None:
            continue
        text = tomli_w.dumps(t.experiment)
        target = experiment_file(sweep, t.id)
        try:
            same = target.read_text(encoding="utf-8") == text
        except OSError:
            same = False
        if not same:  # rewritten only when changed: a running trial reads it once
            with atomic_path(target) as tmp:
                tmp.write_text(text, encoding="utf-8")


def states(spec: SweepSpec, sweep: Path) -> dict[str, str]:
    """Each trial's state read from its folder (``pending``/``partial``/``trained``/``done``)."""
    return {t.id: trial_state(sweep, t.id, t.kind, t.epochs, spec.analysis_options)
            for t in spec.trials}


def changed_settings(trial: Trial, sweep: Path) -> list[str]:
    """The experiment keys (``section.key``) whose value in a train trial's card differs
    from the spec's, the epochs aside (a finished trial is kept as it is)."""
    from eegmi.sweep.layout import train_card, trial_dir

    card = train_card(trial_dir(sweep, trial.id)) if trial.experiment is not None else None
    saved = card.get("experiment") if card else None
    if not isinstance(saved, dict) or trial.experiment is None:
        return []
    import json

    changed = []
    spec_values = json.loads(json.dumps(trial.experiment))  # tuples as the card's lists
    for section, values in spec_values.items():
        if not isinstance(values, dict):
            continue
        found = saved.get(section)
        old: dict[str, Any] = found if isinstance(found, dict) else {}
        for key, value in values.items():
            if (section, key) != ("training", "epochs") and key in old and old[key] != value:
                changed.append(f"{section}.{key}")
    return changed


def choose_runner(runner: str, address: str | None) -> str:
    """``"ray"`` or ``"local"`` for ``runner`` (``auto``: Ray when installed)."""
    from eegmi.sweep.ray_runner import ray_available

    if runner not in RUNNERS:
        raise ConfigError(f"runner {runner!r} is not one of {', '.join(RUNNERS)}")
    if runner == "local":
        if address:
            raise ConfigError("--address needs the Ray runner, not --runner local")
        return "local"
    if ray_available():
        return "ray"
    if runner == "ray" or address:
        raise ConfigError("Ray is not installed: pip install 'eegmi[cluster]'")
    return "local"


def run_sweep(spec: SweepSpec, out: str | Path, runner: str = "auto",
              address: str | None = None, num_cpus: int | None = None,
              device: str | None = None, stream: TextIO | None = None) -> dict[str, Any]:
    """Run every trial of ``spec`` that is not done into the sweep folder ``out``.

    Parameters
    ----------
    runner
        ``"auto"`` (Ray when installed, else one trial after another), ``"ray"`` or
        ``"local"``.
    address
        An existing Ray cluster; None: a local instance with ``num_cpus`` CPUs.
    device
        Passed to every trial (``--device``); None: CUDA when the trial sees a GPU.
    stream
        Progress lines (default stderr).

    Returns
    -------
    dict
        The table (:func:`eegmi.sweep.table.read_sweep`) plus ``runner`` and ``ran``
        (the trials this call ran, with their outcome).
    """
    stream = stream if stream is not None else sys.stderr
    sweep = Path(out).resolve()
    chosen = choose_runner(runner, address)
    with SweepLock(sweep):
        write_plan(spec, sweep)
        before = states(spec, sweep)
        for t in spec.trials:
            changed = changed_settings(t, sweep) if before[t.id] in ("done", "trained") else []
            if changed:
                stream.write(f"eegmi: sweep: warning: {t.id} was trained with other "
                             f"{', '.join(changed)} than the spec gives now; it is kept as it "
                             f"is (delete {sweep / 'trials' / t.id} to train it again)\n")
        todo = [t for t in spec.trials if before[t.id] != "done"]
        done = len(spec.trials) - len(todo)
        resumed = sum(1 for t in todo if before[t.id] == "partial" and t.kind == "train")
        stream.write(f"eegmi: sweep {spec.name}: {len(spec.trials)} trials, {done} done, "
                     f"{len(todo)} to run ({resumed} resumed) on "
                     f"{'Ray' if chosen == 'ray' else 'this machine, one at a time'}\n")
        if chosen == "local" and runner == "auto":
            from eegmi.sweep.local import NO_RAY_HINT

            stream.write(NO_RAY_HINT + "\n")
        stream.flush()
        monitor = Monitor(sweep, spec.name, len(spec.trials), done, stream)
        outcomes: list[dict[str, Any]] = []
        try:
            if todo:
                outcomes = _run(chosen, todo, sweep, spec, monitor, address, num_cpus, device)
        finally:
            _record(sweep, spec.trials, outcomes)
        table = read_sweep(sweep)
        table.update(runner=chosen, ran=outcomes)
        write_json(sweep / RESULTS, table)
    return table


def _run(chosen: str, todo: list[Trial], sweep: Path, spec: SweepSpec, monitor: Monitor,
         address: str | None, num_cpus: int | None, device: str | None) -> list[dict[str, Any]]:
    if chosen == "ray":
        from eegmi.sweep.ray_runner import run_ray

        return run_ray(todo, sweep, spec.analysis_options, monitor, spec.cpus_per_trial,
                       address, num_cpus, device)
    from eegmi.sweep.local import run_local

    return run_local(todo, sweep, spec.analysis_options, monitor, device=device)


def _record(sweep: Path, trials: list[Trial], outcomes: list[dict[str, Any]]) -> None:
    """``status.json``: the failed trials' errors (a trial done since is dropped)."""
    status = read_json(sweep / STATUS, {})
    status = status if isinstance(status, dict) else {}
    ids = {t.id for t in trials}
    status = {k: v for k, v in status.items() if k in ids}
    for o in outcomes:
        if o.get("state") == "failed":
            status[o["id"]] = {"state": "failed", "error": o.get("error", "")}
        else:
            status.pop(o["id"], None)
    write_json(sweep / STATUS, status)
