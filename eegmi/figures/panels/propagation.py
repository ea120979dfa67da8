"""Propagation figure: the electrode x unit response matrix of the chosen layer (every
electrode labelled), the per-layer summary (units, mono/poly/dead, selectivity,
linearity R²) and the pick & interpolate result with its four controls.

``data_from_result(run, view)`` turns a :class:`eegmi.recipes.propagation.PropagationRun`
into the figure's numbers (the panel and :func:`compute` both call it); ``view["layer"]``
is the panel's layer box.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.analysis.pick_options import HEADLINE_BAR
from eegmi.analysis.pick_report import COLUMNS, share
from eegmi.figures.panel import PanelFigure
from eegmi.figures.panels._analysis import NOT_RUN, draw_table, fmt, rerun, size_of
from eegmi.figures.replay import caption
from eegmi.figures.style import SEQUENTIAL, add_caption, colorbar, new_figure
from eegmi.jobs import Job

NAME = "propagation"
#: the pick & interpolate columns' headers, short enough for a 7 in figure (two lines)
SHORT_HEADERS = {"pick_r2": "pick\nR²", "interpolate": "inter-\npolate", "alignment": "align-\nment",
                 "shared_dims": "dims\nρ≥0.9", "axis_alignment": "axis\nalign.",
                 "reconstruction_r2": "recon\nR²"}


def data_from_result(run: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """The figure's numbers from a ``PropagationRun``.

    Returns
    -------
    dict
        ``layer``, ``matrix (n, U)`` |response| of each unit to each one-hot electrode,
        ``unit`` ("channel" or "unit"), ``ch_names``; ``layer_rows`` (per layer: name,
        units, mono, poly, dead, selectivity, linearity R², as text); ``pick_rows``
        (model and controls: label, latents and the :data:`COLUMNS` figures as text),
        ``pick_headline``, ``pick_inputs``, ``pick_notes`` (or ``pick_note`` when the
        test did not run).
    """
    from eegmi.recipes.propagation import layer_rows

    prop = run.propagation
    names = list(prop.hook_names)
    layer = str(view.get("layer") or "")
    if layer not in prop.unit_response:
        layer = "enc.act1" if "enc.act1" in prop.unit_response else names[0]
    unit = "channel" if prop.responses[layer].ndim >= 5 and prop.unit == "channel" else "unit"
    rows = [[r["layer"], str(r["units"]), str(r["monosemantic"]), str(r["polysemantic"]),
             str(r["dead"]), fmt(r["mean_selectivity"]), fmt(r["linearity_r2"])]
            for r in layer_rows(run)]
    data: dict[str, Any] = {
        "layer": layer, "matrix": np.asarray(prop.unit_response[layer], dtype=np.float64),
        "unit": unit, "ch_names": [str(n) for n in prop.ch_names], "layer_rows": rows,
        "pick_note": run.pick_note or "", "has_pick": run.pick is not None}
    if run.pick is not None:
        res = run.pick
        m = res.model
        verdict = "passes" if m.headline_passed else "does not pass"
        data.update(
            pick_rows=[[s.label, str(s.latent_dim)] + [share(s.row()[k], 4) for k, _, _ in COLUMNS]
                       for s in [m, *res.controls]],
            pick_headline=(f"{res.label}: pick R² {share(m.pick, 4)}, interpolate "
                           f"{share(m.interpolate, 4)}, alignment {share(m.alignment)} "
                           f"({m.shared_dims}/{m.n_electrodes} dims ρ≥0.9): {verdict} the "
                           f"headline bar {HEADLINE_BAR}; axis alignment (basis-dependent) "
                           f"{share(m.axis.score)}"),
            pick_inputs=str(res.inputs["description"]), pick_notes=list(res.notes))
    return data


def compute(state: Mapping[str, Any], device: str = "cpu") -> Job[dict[str, Any]]:
    """Re-run the state's ``propagation`` recipe and take the figure's numbers."""
    run, _loaded = yield from rerun(state.get("analysis"), device)
    return data_from_result(run, state.get("view") or {})


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Response matrix (left); layer summary over pick & interpolate table (right)."""
    w, h, dpi = size_of(state)
    fig = new_figure(w, h, dpi)
    grid = fig.add_gridspec(2, 2, width_ratios=[1.0, 1.25], height_ratios=[1.3, 0.8],
                            wspace=0.22, hspace=0.45, left=0.07, right=0.99, top=0.88)
    _matrix(fig, fig.add_subplot(grid[:, 0]), data)
    ax = fig.add_subplot(grid[0, 1])
    draw_table(ax, ["layer", "units", "mono", "poly", "dead", "selectivity", "linearity R²"],
               data["layer_rows"], col_widths=[0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2], fontsize=5.5)
    ax.set_title("per layer (one-hot sweep; linearity: held-out affine R²)")
    ax = fig.add_subplot(grid[1, 1])
    if data.get("has_pick"):
        header = ["network", "latents"] + [SHORT_HEADERS.get(k, h) for k, h, _ in COLUMNS]
        draw_table(ax, header, data["pick_rows"],
                   col_widths=[0.2, 0.09] + [0.71 / len(COLUMNS)] * len(COLUMNS), fontsize=5.5)
        ax.set_title("pick & interpolate: model and controls, same inputs")
    else:
        ax.set_axis_off()
        ax.text(0.0, 0.5, data.get("pick_note") or "pick & interpolate: not run", fontsize=7,
                transform=ax.transAxes)
    fig.suptitle(f"Propagation of one-hot electrodes through "
                 f"{(state.get('analysis') or {}).get('model') or 'the model'}",
                 x=0.01, ha="left", fontweight="bold")
    add_caption(fig, caption(state, _settings(state, data), input_too=False))
    return fig


def _matrix(fig: Any, ax: Any, data: Mapping[str, Any]) -> None:
    m = np.asarray(data["matrix"], dtype=np.float64)
    names = list(data["ch_names"])
    top = float(np.nanmax(m)) if m.size and np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap=SEQUENTIAL, vmin=0.0, vmax=top if top > 0 else 1.0, aspect="auto",
                   interpolation="nearest")
    ax.set_yticks(np.arange(len(names)), names, fontsize=max(3.5, min(6.0, 190.0 / max(len(names), 1))))
    ax.tick_params(axis="y", length=1.5, pad=1)
    ax.set_xlabel(f"{data['unit']} of {data['layer']}")
    ax.set_ylabel("one-hot electrode")
    ax.set_title(f"|response| to one-hot electrodes, {data['layer']}")
    colorbar(fig, im, ax, "|response| (a.u.)")


def _settings(state: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    opts = dict((state.get("analysis") or {}).get("options") or {})
    amps = ", ".join(str(a) for a in opts.get("amplitudes", []))
    parts = [f"one-hot amplitude {amps}, threshold {opts.get('threshold', '–')}, "
             f"units per {opts.get('unit', '–')}; linearity on {opts.get('linearity_inputs', '–')} inputs"]
    if data.get("has_pick"):
        parts.append(f"pick & interpolate on {data['pick_inputs']}: {data['pick_headline']}")
        parts.extend(f"note: {n}" for n in data.get("pick_notes") or [])
    return "; ".join(parts)


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "NOT_RUN", "compute", "data_from_result", "render"]
