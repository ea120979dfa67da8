"""Tiny sweeps for the sweep tests: a tiny experiment and recording, and a spec of
``len(seeds)`` one-epoch trials; trials can also be trained in this process (the same
folder the sweep's child would write) to set up finished and interrupted trials fast."""

from __future__ import annotations

from pathlib import Path

from tiny_training import TINY_TOML, tiny_data

#: small analyses: 20 held-out frames for α (no null), 128 random mixes for pick
ANALYSIS_TABLES = """
[analysis.alpha]
count = 20
null_seeds = 0
[analysis.pick_interpolate]
controls = false
folds = 2
inputs = {kind = "random", count = 128}
"""


def write_tiny_sweep(root: Path, seeds=(0, 1), epochs: int = 1, analyses=(),
                     extra: str = "", name: str = "tiny") -> Path:
    """``root/tiny.npz``, ``root/tiny.toml`` and the spec ``root/NAME_sweep.toml``; returns the spec."""
    from eegmi.data.loaders import save_npz

    root.mkdir(parents=True, exist_ok=True)
    if not (root / "tiny.npz").exists():
        save_npz(tiny_data(), root / "tiny.npz")
    (root / "tiny.toml").write_text(TINY_TOML, encoding="utf-8")
    listed = ", ".join(f'"{a}"' for a in analyses)
    text = (f'name = "{name}"\nseeds = [{", ".join(map(str, seeds))}]\nanalyses = [{listed}]\n'
            f'[train]\nexperiments = ["tiny.toml"]\ndata = "tiny.npz"\n'
            f'[train.set]\n"training.epochs" = {epochs}\n{extra}'
            + (ANALYSIS_TABLES if analyses else ""))
    spec = root / f"{name}_sweep.toml"
    spec.write_text(text, encoding="utf-8")
    return spec


def train_in_process(spec, sweep: Path, trial_id: str, epochs: int | None = None) -> Path:
    """Train one trial of ``spec`` into its sweep folder here (``epochs`` fewer than the
    trial's leaves an interrupted run: a checkpoint and its training state)."""
    from eegmi.data.loaders import load_dataset
    from eegmi.jobs import run_job
    from eegmi.sweep.layout import trial_dir
    from eegmi.sweep.run import write_plan
    from eegmi.training.experiments import ExperimentConfig
    from eegmi.training.loop import train

    write_plan(spec, sweep)
    d = spec.trial(trial_id).experiment
    if epochs is not None:
        d = {**d, "training": {**d["training"], "epochs": epochs}}
    exp = ExperimentConfig.from_dict(d)
    out = trial_dir(sweep, trial_id)
    run_job(train(exp, load_dataset(exp.data.source), out, command="in-process"))
    return out
