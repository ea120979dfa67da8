"""Files ``eegmi analyze eigenspectrum --out DIR`` writes: numbers, spectra and α against depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eegmi.analysis.spectra import SpectraReport
from eegmi.cli.analyze_common import _pyplot, _safe, _save_fig, _save_npz, write_json

ALPHA_LABEL = "α  (eigenvalue ∝ k^-α; seed 001 plots -α)"


def _spectrum_figures(out: Path, spectra: dict[str, dict[str, Any]]) -> list[str]:
    """One log-log figure per layer (all models, dashed Huber fits); returns the layer names."""
    plt = _pyplot()
    layer_names = list(dict.fromkeys(n for layers in spectra.values() for n in layers))
    for name in layer_names:
        fig, ax = plt.subplots(figsize=(5, 4))
        for lab, layers in spectra.items():
            es = layers.get(name)
            if es is None:
                continue
            k = np.arange(1, es.explained_variance.size + 1)
            pos = es.explained_variance > 0
            line = ax.loglog(k[pos], es.explained_variance[pos], label=lab)[0]
            if es.fit is not None:
                lo, hi = es.fit.fit_range
                kf = np.arange(lo, min(hi, k.size) + 1)
                ax.loglog(kf, es.fit.predict(kf), "--", color=line.get_color(),
                          label=f"α = {es.fit.alpha:.2f} (fit {lo}-{hi})")
            if es.effective_rank and not es.rank_lower_bound:
                ax.axvline(es.effective_rank, color=line.get_color(), lw=0.6, ls=":")
        warned = any(layers.get(name) is not None and layers[name].warnings
                     for layers in spectra.values())
        ax.set(xlabel="component k", ylabel="explained variance",
               title=name + ("  (see warnings)" if warned else ""))
        ax.legend(fontsize=7)
        fig.tight_layout()
        _save_fig(fig, out / f"spectrum_{_safe(name)}.png")
    return layer_names


def write_spectra(out: Path, spectra: dict[str, dict[str, Any]], result: dict[str, Any]) -> Path:
    """Spectra without controls (an activation matrix): ``spectra.npz`` (keys
    ``MODEL__LAYER``), ``eigenspectrum.json``, ``spectrum_LAYER.png`` and ``alpha_vs_depth.png``."""
    arrays = {f"{_safe(lab)}__{_safe(n)}": es.explained_variance
              for lab, layers in spectra.items() for n, es in layers.items()}
    names = _spectrum_figures(out, spectra)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(names)), 4))
    for lab, layers in spectra.items():
        ys = [np.nan if n not in layers or layers[n].alpha is None else layers[n].alpha
              for n in names]
        ax.plot(range(len(names)), ys, "o-", label=lab)
    ax.axhline(1.0, ls="--", color="grey", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=ALPHA_LABEL, title="α against depth (grey: α = 1)")
    fig.tight_layout()
    _save_fig(fig, out / "alpha_vs_depth.png")
    _save_npz(out / "spectra.npz", arrays)
    write_json(out / "eigenspectrum.json", result)
    return out


def write_reports(out: Path, reports: dict[str, SpectraReport], result: dict[str, Any]) -> Path:
    """Write ``spectra.npz`` (explained variances: ``MODEL__LAYER``, ``MODEL__input``,
    ``MODEL__untrainedSEED__LAYER``), ``eigenspectrum.json``, ``spectrum_LAYER.png`` and
    ``alpha_vs_depth.png`` (trained α per model, untrained mean ± sd as error bars, the
    input's α at depth 0, a grey line at α = 1)."""
    plt = _pyplot()
    arrays: dict[str, np.ndarray] = {}
    for lab, rep in reports.items():
        for n, es in rep.spectra.items():
            arrays[f"{_safe(lab)}__{_safe(n)}"] = es.explained_variance
        arrays[f"{_safe(lab)}__input"] = rep.input.explained_variance
        for seed, ls in zip(rep.options.null_seed_list(), rep.null_spectra, strict=True):
            for n, es in ls.spectra.items():
                arrays[f"{_safe(lab)}__untrained{seed}__{_safe(n)}"] = es.explained_variance
    layer_names = _spectrum_figures(out, {lab: rep.spectra for lab, rep in reports.items()})
    fig, ax = plt.subplots(figsize=(max(5.5, 0.6 * (len(layer_names) + 1)), 4.2))
    xs = np.arange(1, len(layer_names) + 1)
    for i, (lab, rep) in enumerate(reports.items()):
        colour = f"C{i % 10}"
        ys = [np.nan if (a := rep.spectra[n].alpha if n in rep.spectra else None) is None else a
              for n in layer_names]
        ax.plot(xs, ys, "o-", color=colour, label=f"{lab} trained")
        if rep.null:
            mean = [np.nan if (v := rep.null.get(n)) is None or v.mean is None else v.mean
                    for n in layer_names]
            sd = [0.0 if (v := rep.null.get(n)) is None or v.sd is None else v.sd
                  for n in layer_names]
            ax.errorbar(xs + 0.08, mean, yerr=sd, fmt="s--", color=colour, alpha=0.6, ms=4,
                        capsize=3, label=f"{lab} untrained ({len(rep.null_spectra)} seeds, "
                                         f"mean ± sd)")
        warned = [x for x, n in zip(xs, layer_names, strict=True)
                  if n in rep.spectra and rep.spectra[n].warnings and rep.spectra[n].alpha]
        if warned:
            ax.plot(warned, [rep.spectra[layer_names[int(x) - 1]].alpha for x in warned], "o",
                    mfc="none", mec="red", ms=11, label="fit warning" if i == 0 else None)
        if rep.input.alpha is not None:
            ax.plot([0], [rep.input.alpha], "D", color=colour, ms=7,
                    label=f"{lab} input" if len(reports) > 1 else "input")
    ax.axhline(1.0, ls="--", color="grey", lw=0.8)
    ax.set_xticks(np.arange(0, len(layer_names) + 1), ["input", *layer_names], rotation=60,
                  ha="right", fontsize=7)
    ax.set(ylabel=ALPHA_LABEL, title="α against depth (grey: α = 1)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    _save_fig(fig, out / "alpha_vs_depth.png")
    _save_npz(out / "spectra.npz", arrays)
    write_json(out / "eigenspectrum.json", result)
    return out
