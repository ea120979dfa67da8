"""Saliency figure: the input, the attribution map over it and the per-electrode
attribution as topomaps (electrode labels, colour bars with their ranges), and, when
the panel shows it, the sanity check's verdict table with the selected method's
per-stage curves against the baseline band.

``data_from_result(result, operator, sanity, view)`` turns the recipes' results
(:class:`~eegmi.analysis.saliency.SaliencyResult`,
:class:`~eegmi.analysis.sanity.SanityResult`) into the figure's numbers; the panel
and :func:`compute` both call it.  The state's ``analysis`` is the map's recipe state
and ``view["sanity_analysis"]`` the sanity check's (either may be None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.errors import ConfigError
from eegmi.figures.panel import PanelFigure
from eegmi.figures.panels._analysis import (
    NOT_RUN,
    describe_input,
    draw_table,
    head_data,
    rerun,
    size_of,
)
from eegmi.figures.replay import caption
from eegmi.figures.style import (
    CYCLE,
    DIVERGING,
    SEQUENTIAL,
    add_caption,
    colorbar,
    draw_topomap,
    new_figure,
    symmetric_limits,
)
from eegmi.jobs import Job

NAME = "saliency"
#: (analysis name, label) of every attribution method, in the panel's chooser order
METHOD_LABELS = (
    ("saliency", "Vanilla gradient"),
    ("input_x_gradient", "Gradient × Input"),
    ("smoothgrad", "SmoothGrad"),
    ("integrated_gradients", "Integrated Gradients"),
    ("guided_backprop", "Guided Backprop"),
    ("gradcam", "Grad-CAM"),
)
#: the sanity statistics (eegmi.analysis.sanity_rule.STATISTICS order) as titles
STAT_TITLES = ("|ρ| of |maps|", "|ρ| of signed maps", "SSIM of rank |maps|")
#: the options that change each method's map (named in the caption)
METHOD_SETTINGS = {"integrated_gradients": ("ig_steps",), "smoothgrad": ("nt_samples", "noise"),
                   "gradcam": ("layer",)}
PASS_COLOUR, FAIL_COLOUR = "#1e8232", "#be1e1e"


#: heights (inches) of the rows: maps, sanity table, sanity curves
ROW_IN = (2.0, 1.1, 1.6)


def height_in(has_map: bool, has_sanity: bool) -> float:
    """Figure height (inches, at 7 in wide) that fits the rows shown and the caption."""
    return 1.2 + ROW_IN[0] * has_map + (ROW_IN[1] + ROW_IN[2] + 0.5) * has_sanity


def method_label(name: str) -> str:
    return dict(METHOD_LABELS).get(name, name)


def is_mix(values: np.ndarray) -> bool:
    """True when some but not all electrodes are active (clicked one-hots and their mixes)."""
    k = int(np.count_nonzero(np.asarray(values)))
    return 0 < k < np.asarray(values).size


def data_from_result(result: Any, operator: Any, sanity: Any = None,
                     view: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The figure's numbers.

    Parameters
    ----------
    result : SaliencyResult or None (no map computed)
    operator : the model's topomap operator (head, electrode positions, rendering)
    sanity : SanityResult or None
    view : ``sanity_method``: the method whose sanity curves are drawn

    Returns
    -------
    dict
        Map part (when ``result``): ``method``, ``target``, ``values (n,)``,
        ``input_image (H, W)`` (the clean topomap, NaN outside the head), ``map (H, W)``
        (NaN outside the head; absent for decoder-only models), ``electrode_attribution
        (n,)``, ``injected`` names; head geometry (:func:`head_data`); sanity part
        (when ``sanity``): ``sanity_rows`` (method, verdict, three "randomised /
        baseline" cells, passed), ``sanity_method``, ``sanity_layers``,
        ``sanity_similarity (S, 3)``, ``sanity_upper (S, 3)``, ``sanity_changed (S, 3)``,
        ``sanity_baseline (3,)``, ``sanity_margin``, ``sanity_floor``, ``sanity_rule``,
        ``sanity_inputs``, ``sanity_target``.
    """
    if result is None and sanity is None:
        raise ConfigError(NOT_RUN)
    view = dict(view or {})
    head = head_data(operator)
    mask = head["head_mask"]
    data: dict[str, Any] = {**head, "has_map": result is not None, "has_sanity": sanity is not None}
    if result is not None:
        method = next(iter(result.electrodes))
        values = np.asarray(result.values[0], dtype=np.float64)
        img = np.asarray(operator.render(values.astype(np.float32)), dtype=np.float64)
        data.update(method=method, target=str(result.target), values=values,
                    input_image=np.where(mask, img, np.nan),
                    electrode_attribution=np.asarray(result.electrodes[method][0], dtype=np.float64),
                    injected=[n for n, v in zip(head["ch_names"], values, strict=True) if v != 0]
                    if is_mix(values) else [])
        if method in result.maps:
            data["map"] = np.where(mask, np.asarray(result.maps[method][0], dtype=np.float64), np.nan)
    if sanity is not None:
        data.update(_sanity_data(sanity, str(view.get("sanity_method") or "")))
    return data


def _sanity_data(res: Any, method: str) -> dict[str, Any]:
    method = method if method in res.methods else res.methods[0]
    rows = []
    for m in res.methods:
        last, base = res.mean_similarity(m)[-1], res.mean_baseline(m)
        cells = [f"{_two(last[k])} / {_two(base[k])}" for k in range(len(STAT_TITLES))]
        rows.append([method_label(m), res.label(m), *cells, res.verdicts[m].passed])
    _, upper = res.bounds(method)
    return {"sanity_rows": rows, "sanity_method": method, "sanity_layers": list(res.layers),
            "sanity_similarity": np.asarray(res.mean_similarity(method), dtype=np.float64),
            "sanity_upper": np.asarray(upper, dtype=np.float64),
            "sanity_changed": np.asarray(res.verdicts[method].changed, dtype=bool),
            "sanity_baseline": np.asarray(res.mean_baseline(method), dtype=np.float64),
            "sanity_margin": float(res.rule.margin), "sanity_floor": float(res.rule.floor),
            "sanity_rule": _rule_line(res.rule), "sanity_target": str(res.target),
            "sanity_inputs": str(res.inputs.get("description", ""))}


def _rule_line(rule: Any) -> str:
    """The rule's numbers in one line (its full text: ``SanityRule.text()``, eegmi concepts)."""
    return (f"a stage has changed when, for every statistic, the {100 * rule.confidence:.0f}% "
            f"upper bound of mean(randomised − baseline) < −{rule.margin:g} or of "
            f"mean(randomised) < {rule.floor:g}; pass: trained maps reproducible and the last "
            f"stage changed in each of {rule.draws} re-initialisations")


def _input_words(data: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """The map's input (not the workbench's now: the user may have clicked since)."""
    values = np.asarray(data["values"], dtype=np.float64)
    if is_mix(values):
        return ", ".join(f"{n}={v:+.2f}" for n, v in zip(data["ch_names"], values, strict=True)
                         if v != 0)
    wb = dict(state.get("workbench") or {})
    shown = np.asarray(wb.get("values") or [], dtype=np.float64)
    if shown.shape == values.shape and np.allclose(shown, values, rtol=0, atol=1e-6):
        return describe_input(wb)
    return "the electrode vector in the figure's data"


def _two(v: Any) -> str:
    f = float(v)
    return f"{f:.2f}" if np.isfinite(f) else "–"


def compute(state: Mapping[str, Any], device: str = "cpu") -> Job[dict[str, Any]]:
    """Re-run the map (``state["analysis"]``) and the sanity check
    (``state["view"]["sanity_analysis"]``) that the state names."""
    view = dict(state.get("view") or {})
    result = sanity = operator = None
    if state.get("analysis"):
        result, loaded = yield from rerun(state["analysis"], device)
        operator = loaded.operator
    if view.get("sanity_analysis"):
        sanity, loaded = yield from rerun(view["sanity_analysis"], device)
        operator = loaded.operator
    if operator is None:
        raise ConfigError("the figure state holds no saliency map or sanity check to recompute")
    return data_from_result(result, operator, sanity, view)


# ---------------------------------------------------------------- drawing
def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Input | attribution map | per electrode; the sanity verdict table; the selected
    method's per-stage curves (the rows shown)."""
    w, h, dpi = size_of(state)
    fig = new_figure(w, h, dpi)
    rows = (["maps"] if data.get("has_map") else []) + (
        ["table", "curves"] if data.get("has_sanity") else [])
    heights = {"maps": ROW_IN[0], "table": ROW_IN[1], "curves": ROW_IN[2]}
    grid = fig.add_gridspec(len(rows), 1, hspace=0.45, left=0.07, right=0.93,
                            top=1.0 - 0.55 / h, height_ratios=[heights[r] for r in rows])
    for r, what in enumerate(rows):
        {"maps": _maps, "table": _sanity_table, "curves": _sanity_curves}[what](fig, grid[r], data)
    title = ("Saliency: " + method_label(str(data["method"])) + f" for {data['target']}"
             if data.get("has_map") else f"Saliency sanity check for {data['sanity_target']}")
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    settings = []
    if data.get("has_map"):
        opts = dict((state.get("analysis") or {}).get("options") or {})
        settings.append(f"map: {method_label(str(data['method']))}, target {data['target']}"
                        + "".join(f", {k} {opts[k]}" for k in METHOD_SETTINGS.get(
                            str(data["method"]), ()) if k in opts))
    if data.get("has_sanity"):
        settings.append(f"sanity check: {data['sanity_inputs']}; {data['sanity_rule']}")
    if data.get("has_map"):
        settings.insert(0, f"input {_input_words(data, state)}")
    add_caption(fig, caption(state, "; ".join(settings), input_too=False))
    return fig


def _maps(fig: Any, cell: Any, data: Mapping[str, Any]) -> None:
    sub = cell.subgridspec(1, 3, wspace=0.35)
    head = tuple(np.asarray(data["head"], dtype=np.float64))
    xy = np.asarray(data["electrode_xy"])
    names = list(data["ch_names"])
    injected = list(data.get("injected") or [])
    ax = fig.add_subplot(sub[0, 0])
    img = np.asarray(data["input_image"], dtype=np.float64)
    im = draw_topomap(ax, img, cmap=SEQUENTIAL, head=head, electrode_xy=xy, names=names,
                      highlight=injected, title="input (clean topomap)")
    colorbar(fig, im, ax, "scaled value")
    ax = fig.add_subplot(sub[0, 1])
    if "map" in data:
        m = np.asarray(data["map"], dtype=np.float64)
        lo, hi = symmetric_limits(m)
        im = draw_topomap(ax, m, cmap=DIVERGING, vmin=lo, vmax=hi, head=head, electrode_xy=xy,
                          names=names, highlight=injected, title="attribution over the input")
        colorbar(fig, im, ax, "attribution (a.u.)")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no map: the model takes\nelectrode values", ha="center",
                va="center", transform=ax.transAxes)
    ax = fig.add_subplot(sub[0, 2])
    el = np.asarray(data["electrode_attribution"], dtype=np.float64)
    lo, hi = symmetric_limits(el)
    blank = np.full(np.asarray(data["head_mask"]).shape, np.nan)
    draw_topomap(ax, blank, head=head, title="per electrode")
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=el, cmap=DIVERGING, vmin=lo, vmax=hi, s=22,
                    edgecolors=["k" if n in injected else "0.45" for n in names],
                    linewidths=[1.2 if n in injected else 0.4 for n in names], zorder=3)
    for (x, y), name in zip(xy, names, strict=True):
        ax.text(x, y - 1.0, name, fontsize=4.5, ha="center", va="bottom",
                fontweight="bold" if name in injected else "normal")
    colorbar(fig, sc, ax, "attribution (a.u.)")


def _sanity_table(fig: Any, cell: Any, data: Mapping[str, Any]) -> None:
    ax = fig.add_subplot(cell)
    rows = [list(r[:5]) for r in data["sanity_rows"]]
    colours = [[None, None if r[5] is None else (PASS_COLOUR if r[5] else FAIL_COLOUR),
                None, None, None] for r in data["sanity_rows"]]
    draw_table(ax, ["method", "verdict", *STAT_TITLES], rows,
               col_widths=[0.2, 0.2, 0.2, 0.2, 0.2], fontsize=6, colours=colours)
    ax.set_title("sanity check (cascading randomisation), similarity to the trained map: "
                 "every layer randomised / model-independent baseline", fontsize=7)


def _sanity_curves(fig: Any, cell: Any, data: Mapping[str, Any]) -> None:
    sub = cell.subgridspec(1, 4, width_ratios=[1.0, 1.0, 1.0, 0.8], wspace=0.12)
    layers = list(data["sanity_layers"])
    x = np.arange(1, len(layers) + 1, dtype=np.float64)
    sim = np.asarray(data["sanity_similarity"], dtype=np.float64)
    upper = np.asarray(data["sanity_upper"], dtype=np.float64)
    changed = np.asarray(data["sanity_changed"], dtype=bool)
    base = np.asarray(data["sanity_baseline"], dtype=np.float64)
    margin, floor = float(data["sanity_margin"]), float(data["sanity_floor"])
    ax: Any = None
    for k, title in enumerate(STAT_TITLES):
        ax = fig.add_subplot(sub[0, k], sharey=ax)
        if np.isfinite(base[k]):
            ax.axhspan(base[k] - margin, base[k], color="0.85", lw=0, zorder=0,
                       label="baseline band (− margin)")
        ax.axhline(floor, color="0.5", lw=0.6, ls="--", label="floor")
        y = sim[:, k]
        top = np.clip(np.nan_to_num(upper[:, k] - y, posinf=0.0), 0, None)
        ax.errorbar(x, y, yerr=[np.zeros_like(top), top], color=CYCLE[0], lw=1.0, capsize=1.5,
                    label="mean (bar: upper bound)")
        ax.scatter(x[changed[:, k]], y[changed[:, k]], s=12, color="#2ca02c", zorder=3,
                   label="changed")
        ax.scatter(x[~changed[:, k]], y[~changed[:, k]], s=12, facecolors="white",
                   edgecolors="#c82828", linewidths=1.0, zorder=3, label="not changed")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xticks(x, layers, rotation=45, ha="right", rotation_mode="anchor", fontsize=5.5)
        ax.set_title(title, fontsize=7)
        if k == 0:
            ax.set_ylabel("similarity to the trained map")
        else:
            ax.tick_params(labelleft=False)
        if k == 1:
            ax.set_xlabel("randomised down to (top layer first)")
    handles, labels = ax.get_legend_handles_labels()
    leg_ax = fig.add_subplot(sub[0, 3])
    leg_ax.set_axis_off()
    leg_ax.legend(handles, labels, loc="center left", fontsize=5.5, frameon=False,
                  title=method_label(str(data["sanity_method"])), title_fontsize=6)


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "METHOD_LABELS", "NOT_RUN", "compute", "data_from_result", "render"]
