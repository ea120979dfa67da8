"""Recipe ``spectra``: the eigenspectrum analysis the Eigenspectra panel and
``eegmi analyze eigenspectrum`` run (one :class:`SpectraOptions`, defaults defined there).

The job computes, for the context's model, every depth layer's spectrum and α next to
``null_seeds`` untrained networks of the same architecture and to the input's own
spectrum (:func:`eegmi.analysis.spectra.model_spectra`); then the same spectra, without
a null, for each model in ``options.compare``; then, when ``options.projections > 0``,
random projections of the depth layers' response to a moving dipole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from eegmi.analysis.spectra_options import SpectraOptions, depth_layers
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, scaled_progress
from eegmi.recipes.base import Recipe, RecipeContext, register


@dataclass
class SpectraRun:
    """What one run of the recipe computed.

    Attributes
    ----------
    current
        Label of the context's model (the one with the null and the projections).
    reports
        label -> :class:`~eegmi.analysis.spectra.SpectraReport`, the current model first.
    projections
        :class:`~eegmi.analysis.projections.ProjectionAnalysis` of the current model,
        or None (``options.projections == 0``).
    options
        The options used.
    """

    current: str
    reports: dict[str, Any]
    projections: Any
    options: SpectraOptions = field(default_factory=SpectraOptions)

    @property
    def report(self) -> Any:
        """The current model's report."""
        return self.reports[self.current]

    @property
    def n_inputs(self) -> int:
        return int(self.report.inputs["n"])

    @property
    def inputs(self) -> str:
        """Description of the input set."""
        return str(self.report.inputs.get("description", ""))


def model_label(spec: str) -> str:
    """The short label of a model spec (a checkpoint folder's name, a bundled name)."""
    from pathlib import Path

    return Path(spec).name or spec or "model"


def run_spectra(options: SpectraOptions, context: RecipeContext,
                cancel: CancelToken | None = None) -> Job[SpectraRun]:
    """The recipe's job (see the module docstring); result :class:`SpectraRun`."""
    from eegmi.analysis.projections import projection_analysis
    from eegmi.analysis.spectra import model_spectra
    from eegmi.analysis.stimuli import make_stimulus
    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint

    loaded = context.loaded
    # the CLI names models as it printed them (``extra["label"]``); else the spec's name
    label = str(context.extra.get("label") or (model_label(context.model) if context.model
                                                 else getattr(loaded, "name", "") or "model"))
    # compared models are labelled as named (bundled names: E1..E5)
    others = [c for c in options.compare if c not in (context.model, label)]
    # progress steps: the current model and each null network, one per compared model,
    # one for the projections
    steps = 1 + options.null_seeds + len(others) + (1 if options.projections else 0)
    reports: dict[str, Any] = {}
    lo = 0.0
    for spec in [None, *others]:
        lab = label if spec is None else spec
        ld = loaded if spec is None else load_checkpoint(spec, device=context.device)
        # the null belongs to the current model; compared models show their trained α only
        opts = options if spec is None else replace(options, null_seeds=0)
        width = (1 + opts.null_seeds) / steps
        reports[lab] = yield from scaled_progress(
            model_spectra(ld, opts, label=lab, cancel=cancel), lo, lo + width, lab)
        lo += width
    proj = None
    if options.projections:
        adapter = adapt(loaded)
        stim = make_stimulus("dipole", loaded.operator, n_frames=100)
        if stim.values is None:  # a dipole stimulus is made from electrode values
            raise ConfigError("the dipole stimulus has no electrode values")
        inputs = stim.values if adapter.takes_values else adapter.shown_input(stim.values)
        names = depth_layers(adapter.hook_names(), adapter.latent_hook)
        proj = yield from scaled_progress(
            projection_analysis(loaded.model, inputs, names, n_projections=options.projections,
                                seed=options.seed, stimulus="dipole", cancel=cancel),
            lo, 1.0, "projections")
    return SpectraRun(label, reports, proj, options)


def _num(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def summarize_spectra(run: SpectraRun) -> dict[str, Any]:
    """The numbers a user reads: per layer of the current model α, the null's mean ± sd,
    effective rank, fit window and warnings; the input's α; compared models' α; the
    projections' average action per layer."""
    rep = run.report
    layers: dict[str, Any] = {}
    for name, es in rep.spectra.items():
        null = rep.null.get(name)
        layers[name] = {
            "alpha": _num(es.alpha),
            "null_mean": _num(null.mean) if null is not None else None,
            "null_sd": _num(null.sd) if null is not None else None,
            "effective_rank": int(es.effective_rank),
            "fit_range": None if es.fit is None else [int(v) for v in es.fit.fit_range],
            "r2": None if es.fit is None else _num(es.fit.r2),
            "warnings": list(es.warnings)}
    out: dict[str, Any] = {
        "model": run.current, "inputs": run.inputs, "n_inputs": run.n_inputs,
        "alpha": {n: v["alpha"] for n, v in layers.items()},
        "input_alpha": _num(rep.input.alpha), "layers": layers,
        "compare": {lab: {n: _num(a) for n, a in r.alphas().items()}
                    for lab, r in run.reports.items() if lab != run.current}}
    if run.projections is not None:
        out["action"] = {n: _num(r.action_mean) for n, r in run.projections.layers.items()}
    return out


def spectra_arrays(run: SpectraRun) -> dict[str, np.ndarray]:
    """Explained variances by ``label/layer`` (the input's as ``label/input``)."""
    arrays = {f"{lab}/{n}": np.asarray(es.explained_variance)
              for lab, rep in run.reports.items() for n, es in rep.spectra.items()}
    arrays.update({f"{lab}/input": np.asarray(rep.input.explained_variance)
                   for lab, rep in run.reports.items()})
    return arrays


SPECTRA = register(Recipe(name="spectra", options_type=SpectraOptions, run=run_spectra,
                          summary=summarize_spectra))

__all__ = ["SPECTRA", "SpectraRun", "model_label", "run_spectra", "summarize_spectra"]
