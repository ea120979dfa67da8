"""Eigenspectra figure: the chosen layer's spectrum with its power-law fit, α against
depth beside its untrained-network control and the input, and the action per layer.

``data_from_result(run, view)`` turns a :class:`eegmi.recipes.spectra.SpectraRun` into
the figure's numbers (the panel and :func:`compute` both call it); ``view["layer"]`` is
the layer whose spectrum is drawn (the panel's layer box).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.figures.panels._analysis import NOT_RUN, fmt, num, rerun, size_of
from eegmi.figures.replay import caption
from eegmi.figures.style import CYCLE, add_caption, new_figure, short_layer
from eegmi.jobs import Job

NAME = "spectra"


def default_layer(layers: list[str]) -> str:
    """The layer the panel shows first: ``enc.act1`` when there is one."""
    return "enc.act1" if "enc.act1" in layers else layers[0]


def data_from_result(run: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """The figure's numbers from a ``SpectraRun``.

    Returns
    -------
    dict
        ``layer``, ``spectrum (K,)`` its explained variances, ``fit_k``/``fit_y`` the
        fitted line over the fit window (empty without a fit), ``alpha``, ``r2``,
        ``fit_range``, ``effective_rank``, ``warnings``; ``layers`` (depth order),
        ``alpha_trained (L,)``, ``null_mean (L,)``, ``null_sd (L,)`` (NaN where
        missing), ``warned (L,)`` bool, ``input_alpha``, ``n_null``;
        ``compare_labels`` and ``compare_alpha (M, L)``; ``action_layers`` and
        ``action (A,)`` (empty without projections); ``model``, ``inputs``.
    """
    rep = run.report
    layers = list(rep.spectra)
    layer = str(view.get("layer") or "")
    if layer not in rep.spectra:
        layer = default_layer(layers)
    es = rep.spectra[layer]
    ev = np.asarray(es.explained_variance, dtype=np.float64)
    fit_k = np.zeros(0)
    fit_y = np.zeros(0)
    if es.fit is not None:
        lo, hi = es.fit.fit_range
        fit_k = np.arange(lo, min(hi, ev.size) + 1, dtype=np.float64)
        fit_y = np.asarray(es.fit.predict(fit_k), dtype=np.float64)
    alphas = rep.alphas()
    null_mean = np.array([num(None if (v := rep.null.get(n)) is None else v.mean) for n in layers])
    null_sd = np.array([num(None if (v := rep.null.get(n)) is None else v.sd) for n in layers])
    others = [lab for lab in run.reports if lab != run.current]
    compare = np.array([[num(run.reports[lab].alphas().get(n)) for n in layers] for lab in others],
                       dtype=np.float64).reshape(len(others), len(layers))
    proj = run.projections
    action_layers = [] if proj is None else list(proj.layers)
    action = np.array([num(proj.layers[n].action_mean) for n in action_layers], dtype=np.float64)
    return {
        "model": run.current, "inputs": run.inputs, "n_inputs": int(run.n_inputs),
        "layer": layer, "spectrum": ev, "fit_k": fit_k, "fit_y": fit_y,
        "alpha": None if es.fit is None else float(es.fit.alpha),
        "r2": None if es.fit is None else float(es.fit.r2),
        "fit_range": None if es.fit is None else [int(v) for v in es.fit.fit_range],
        "fit_error": es.fit_error or "",
        "effective_rank": int(es.effective_rank), "rank_lower_bound": bool(es.rank_lower_bound),
        "warnings": list(es.warnings),
        "layers": layers,
        "alpha_trained": np.array([num(alphas.get(n)) for n in layers], dtype=np.float64),
        "null_mean": null_mean.astype(np.float64), "null_sd": null_sd.astype(np.float64),
        "warned": np.array([bool(rep.spectra[n].warnings) for n in layers], dtype=bool),
        "input_alpha": None if rep.input.alpha is None else float(rep.input.alpha),
        "n_null": len(rep.null_spectra),
        "compare_labels": others, "compare_alpha": compare,
        "action_layers": action_layers, "action": action,
    }


def compute(state: Mapping[str, Any], device: str = "cpu") -> Job[dict[str, Any]]:
    """Re-run the state's ``spectra`` recipe and take the figure's numbers."""
    run, _loaded = yield from rerun(state.get("analysis"), device)
    return data_from_result(run, state.get("view") or {})


def _settings(state: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    opts = dict((state.get("analysis") or {}).get("options") or {})
    fit = dict(opts.get("fit") or {}).get("fit_range", data.get("fit_range"))
    fit_txt = fit if isinstance(fit, str) else "–".join(str(v) for v in (fit or []))
    inputs = data["inputs"] or f"{data['n_inputs']} inputs"
    return (f"inputs: {inputs}; cap {opts.get('max_dim', '–')} dims, "
            f"{opts.get('max_components', '–')} components, fit window {fit_txt}, "
            f"{data['n_null']} untrained seeds, seed {opts.get('seed', '–')}; λ_k ∝ k^-α "
            "(seed 001 plots the slope -α)"
            + "".join(f"; ⚠ {data['layer']}: {w}" for w in data.get("warnings") or []))


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Spectrum with fit | α per layer with controls | action per layer (when computed)."""
    w, h, dpi = size_of(state)
    fig = new_figure(w, h, dpi)
    has_action = len(data.get("action_layers") or []) > 0
    grid = fig.add_gridspec(1, 3 if has_action else 2, width_ratios=[1.0, 1.25, 0.9][: 3 if has_action else 2],
                            wspace=0.38, left=0.08, right=0.98, top=0.86)
    ax_s = fig.add_subplot(grid[0, 0])
    _spectrum(ax_s, data)
    ax_a = fig.add_subplot(grid[0, 1])
    _alphas(ax_a, data)
    if has_action:
        _action(fig.add_subplot(grid[0, 2]), data)
    fig.suptitle(f"Eigenspectra of {data['model']}", x=0.01, ha="left", fontweight="bold")
    add_caption(fig, caption(state, _settings(state, data), input_too=False))
    return fig


def _spectrum(ax: Any, data: Mapping[str, Any]) -> None:
    ev = np.asarray(data["spectrum"], dtype=np.float64)
    k = np.arange(1, ev.size + 1, dtype=np.float64)
    # past the data's rank the eigenvalues are rounding noise (the fit drops them too)
    pos = ev > max(float(ev.max(initial=0.0)), 0.0) * 1e-12
    ax.loglog(k[pos], ev[pos], color=CYCLE[0], lw=1.1, label=data["layer"])
    fit_k = np.asarray(data["fit_k"])
    if fit_k.size and data.get("alpha") is not None:
        lo, hi = data["fit_range"]
        ax.loglog(fit_k, np.asarray(data["fit_y"]), color=CYCLE[1], lw=1.4, ls="--",
                  label=f"fit k = {lo}–{hi}, R² {fmt(data['r2'])}")
        ax.axvspan(lo, min(hi, ev.size), color="0.9", lw=0, zorder=0)
    rank = f"{data['effective_rank']}{'+' if data.get('rank_lower_bound') else ''}"
    ax.set_xlabel("component k")
    ax.set_ylabel("eigenvalue λ_k (variance)")
    title = f"{data['layer']}: " + (f"α = {data['alpha']:.3f}" if data.get("alpha") is not None
                                     else "no power-law fit")
    ax.set_title(title + ("  ⚠" if data.get("warnings") else ""))
    # the spectrum falls from the top left: the bottom left corner is free
    ax.legend(loc="lower left", frameon=False, fontsize=6, title=f"effective rank {rank}",
              title_fontsize=6, alignment="left")


def _alphas(ax: Any, data: Mapping[str, Any]) -> None:
    layers = list(data["layers"])
    xs = np.arange(1, len(layers) + 1, dtype=np.float64)
    trained = np.asarray(data["alpha_trained"], dtype=np.float64)
    ax.axhline(1.0, color="0.6", lw=0.6, ls=":", zorder=0)
    ax.plot(xs, trained, "o-", color=CYCLE[0], ms=3.5, lw=1.3, label=f"{data['model']} trained")
    mean = np.asarray(data["null_mean"], dtype=np.float64)
    if np.isfinite(mean).any():
        sd = np.nan_to_num(np.asarray(data["null_sd"], dtype=np.float64))
        ax.errorbar(xs + 0.12, mean, yerr=sd, fmt="s--", color=CYCLE[0], mfc="white", ms=3,
                    lw=0.8, capsize=1.5, label=f"untrained ({data['n_null']} seeds, mean ± sd)")
    warned = np.asarray(data["warned"], dtype=bool) & np.isfinite(trained)
    if warned.any():
        ax.plot(xs[warned], trained[warned], "o", ms=8, mfc="none", mec=CYCLE[4], mew=1.0,
                label="fit warning")
    for i, lab in enumerate(data.get("compare_labels") or []):
        ax.plot(xs, np.asarray(data["compare_alpha"])[i], "o-", color=CYCLE[(i + 1) % len(CYCLE)],
                ms=2.5, lw=0.8, label=f"{lab} trained")
    if data.get("input_alpha") is not None:
        ax.plot([0.0], [data["input_alpha"]], "D", color="0.25", ms=4, label="input")
    ax.set_xticks([0.0, *xs], ["in", *[short_layer(n) for n in layers]], rotation=45,
                  ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(layers) + 0.6)
    ax.set_xlabel("layer (depth)")
    ax.set_ylabel("α  (λ_k ∝ k^-α)")
    ax.set_title("α against depth")
    # room above the curves for the legend, so it never covers a point
    shown = np.concatenate([trained, mean + np.nan_to_num(np.asarray(data["null_sd"])),
                            np.asarray(data["compare_alpha"], dtype=np.float64).ravel(),
                            [num(data.get("input_alpha")), 1.0]])
    shown = shown[np.isfinite(shown)]
    lo, hi = float(shown.min()), float(shown.max())
    span = max(hi - lo, 0.5)
    n_entries = len(ax.get_legend_handles_labels()[1])
    ax.set_ylim(min(lo, 1.0) - 0.08 * span, hi + (0.12 + 0.09 * ((n_entries + 1) // 2)) * span)
    ax.legend(loc="upper center", frameon=False, fontsize=6, ncol=2, columnspacing=0.8,
              handlelength=1.6)


def _action(ax: Any, data: Mapping[str, Any]) -> None:
    names = list(data["action_layers"])
    acts = np.asarray(data["action"], dtype=np.float64)
    acts = np.where(acts > 0, acts, np.nan)  # a dead layer has no place on a log axis
    xs = np.arange(len(names), dtype=np.float64)
    ax.semilogy(xs, acts, "o-", color=CYCLE[2], ms=3.5, lw=1.2)
    ax.set_xticks(xs, [short_layer(n) for n in names], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_xlabel("layer")
    ax.set_ylabel("average action S (a.u.)")
    ax.set_title("action per layer (dipole)")


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "NOT_RUN", "compute", "data_from_result", "render"]
