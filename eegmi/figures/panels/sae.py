"""SAE figure: the dictionary's quality (FVE, L0 against the input width, dead and dense
features, the model with the SAE spliced in), every feature's frequency against its
selectivity, and the first feature cards in the panel's order (sort and search): each
card's top dataset frame and its feature map with a colour bar.

``data_from_result(result, operator, view)`` turns a
:class:`eegmi.recipes.sae.SaeGalleryResult` into the figure's numbers (the panel and
:func:`compute` both call it); ``view`` holds the panel's ``sort`` and ``search`` and
the number of ``cards`` drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.figures.panels._analysis import (
    NOT_RUN,
    draw_table,
    fmt,
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
)
from eegmi.jobs import Job

NAME = "sae"
#: cards drawn by default (two rows of four) and the figure's height for them
CARDS = 8
HEIGHT_IN = 5.2
#: the card's feature map, by kind (``GalleryData.feature_map``)
MAP_TITLES = {"decoder": "decoder direction", "top map": "where it fires"}
#: quality figures of the SAE card (``sae_metrics`` and the spliced model), as table rows
METRICS = (("fve", "FVE (held-out)"), ("l0", "L0 (active per input)"), ("d", "input width d"),
           ("dead_fraction", "dead features"), ("dense_fraction", "dense features"),
           ("model_ssim_clean", "model SSIM"), ("model_ssim_spliced", "model SSIM, SAE spliced"))


def data_from_result(result: Any, operator: Any, view: Mapping[str, Any]) -> dict[str, Any]:
    """The figure's numbers.

    Returns
    -------
    dict
        ``hook``, ``mode``, ``n_features``, ``n_frames``, ``n_inputs``, ``metrics`` (the
        SAE card's); per feature ``frequency (F,)``, ``selectivity (F,)``,
        ``mean_activation (F,)``; ``order (m,)`` every card shown, in order;
        ``cards (c,)`` the features drawn, with ``card_top (c, H, W)`` their top frame
        (NaN outside the head), ``card_top_value (c,)``, ``card_map (c, h, w)`` their
        feature map, ``card_map_kind`` (``decoder`` / ``top map`` / ``none``),
        ``card_drivers``; head geometry.
    """
    from eegmi.sae.regions import card_order

    d = result.data
    g = d.gallery
    sort, query = str(view.get("sort") or "frequency"), str(view.get("search") or "")
    order = np.asarray(card_order(g, d.drivers, d.ch_names, sort, query), dtype=np.int64)
    cards = order[: int(view.get("cards") or CARDS)]
    head = head_data(operator)
    mask = np.asarray(d.head_mask, dtype=bool)
    tops, maps = [], []
    kind = d.feature_map(int(cards[0]))[1] if cards.size else ""
    for i in cards:
        i = int(i)
        ok = g.top_frames[i, 0] >= 0
        tops.append(np.where(mask, d.top_image(i, 0), np.nan) if ok else np.full(mask.shape, np.nan))
        arr = d.feature_map(i)[0]
        maps.append(np.zeros((1, 1)) if arr is None else np.asarray(arr, dtype=np.float64))
    meta = dict(getattr(result.sae, "meta", {}) or {})
    metrics = {k: float(v) for k, v in dict(meta.get("metrics") or {}).items()
               if isinstance(v, int | float)}
    return {
        **head, "hook": d.hook, "mode": d.mode, "n_features": d.n_features,
        "n_frames": int(g.n_frames), "n_inputs": int(g.n_inputs), "metrics": metrics,
        "sort": sort, "search": query,
        "frequency": np.asarray(g.frequency, dtype=np.float64),
        "selectivity": np.asarray(g.selectivity, dtype=np.float64),
        "mean_activation": np.asarray(g.mean_activation, dtype=np.float64),
        "order": order, "cards": cards.astype(np.int64),
        "card_top": np.stack(tops) if tops else np.zeros((0, *mask.shape)),
        "card_top_value": np.array([float(g.top_values[int(i), 0]) for i in cards]),
        "card_map": np.stack(maps) if maps and len({m.shape for m in maps}) == 1
        else np.zeros((0, 1, 1)),
        "card_map_kind": kind or "none",
        "card_drivers": [d.driver_names(int(i)) for i in cards],
    }


def compute(state: Mapping[str, Any], device: str = "cpu") -> Job[dict[str, Any]]:
    """Re-run the state's ``sae_gallery`` recipe (loading or retraining its SAE)."""
    result, loaded = yield from rerun(state.get("analysis"), device)
    return data_from_result(result, loaded.operator, state.get("view") or {})


# ---------------------------------------------------------------- drawing
def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Quality table | frequency x selectivity (top); feature cards (below)."""
    w, h, dpi = size_of(state)
    fig = new_figure(w, h, dpi)
    n_cards = len(np.asarray(data["cards"]))
    card_rows = max(1, -(-n_cards // 4))
    outer = fig.add_gridspec(2, 1, height_ratios=[1.0, 0.75 * card_rows], hspace=0.35,
                             left=0.06, right=0.89, top=1.0 - 0.6 / h)
    top = outer[0].subgridspec(1, 3, width_ratios=[1.1, 1.0, 1.0], wspace=0.45)
    ax = fig.add_subplot(top[0, 0])
    m = dict(data.get("metrics") or {})
    rows = [[label, _metric(key, m.get(key))] for key, label in METRICS if key in m]
    if rows:
        draw_table(ax, ["SAE quality", "value"], rows, col_widths=[0.72, 0.28], fontsize=6)
    else:
        ax.set_axis_off()
        ax.text(0.0, 0.5, "no quality figures on the SAE's card", transform=ax.transAxes)
    _scatter(fig.add_subplot(top[0, 1]), data)
    _selectivity_hist(fig.add_subplot(top[0, 2]), data)
    _cards(fig, outer[1], data, card_rows)
    fig.suptitle(f"SAE features on {data['hook']} ({data['mode']}): {data['n_features']} features",
                 x=0.01, ha="left", fontweight="bold")
    add_caption(fig, caption(state, _settings(state, data), input_too=False))
    return fig


def _metric(key: str, v: Any) -> str:
    if key == "d":
        return str(int(v))
    if key.endswith("fraction"):
        return f"{100 * float(v):.1f}%"
    return fmt(v, 3 if key != "l0" else 2)


def _scatter(ax: Any, data: Mapping[str, Any]) -> None:
    freq = np.asarray(data["frequency"], dtype=np.float64)
    sel = np.asarray(data["selectivity"], dtype=np.float64)
    alive = freq > 0
    ax.scatter(100 * freq[alive], sel[alive], s=5, color="0.6", linewidths=0, label="features")
    cards = np.asarray(data["cards"], dtype=np.int64)
    on = cards[alive[cards]] if cards.size else cards
    ax.scatter(100 * freq[on], sel[on], s=14, facecolors="none", edgecolors=CYCLE[1],
               linewidths=0.8, label="cards below")
    if alive.any():
        ax.set_xscale("log")
    ax.set_xlabel("frequency (% of inputs active)")
    ax.set_ylabel("selectivity")
    dead = int((~alive).sum())
    ax.set_title(f"features ({dead} never active)")
    ax.legend(frameon=False, fontsize=5.5, loc="best")


def _selectivity_hist(ax: Any, data: Mapping[str, Any]) -> None:
    sel = np.asarray(data["selectivity"], dtype=np.float64)[np.asarray(data["frequency"]) > 0]
    if sel.size:
        ax.hist(sel, bins=min(30, max(5, sel.size // 3)), color=CYCLE[0])
    ax.set_xlabel("selectivity")
    ax.set_ylabel("features")
    ax.set_title("selectivity of active features")


def _cards(fig: Any, cell: Any, data: Mapping[str, Any], card_rows: int) -> None:
    cards = np.asarray(data["cards"], dtype=np.int64)
    if not cards.size:
        ax = fig.add_subplot(cell)
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no feature matches the search", ha="center", transform=ax.transAxes)
        return
    grid = cell.subgridspec(card_rows, 8, wspace=0.5, hspace=0.45)
    head = tuple(np.asarray(data["head"], dtype=np.float64))
    maps = np.asarray(data["card_map"], dtype=np.float64)
    kind = str(data["card_map_kind"])
    freq, sel = np.asarray(data["frequency"]), np.asarray(data["selectivity"])
    im_top = None
    for j, i in enumerate(cards):
        r, c = divmod(j, 4)
        ax = fig.add_subplot(grid[r, 2 * c])
        im_top = draw_topomap(ax, np.asarray(data["card_top"])[j], cmap=SEQUENTIAL, vmin=0.0,
                              vmax=1.0, head=head)
        drivers = ", ".join(data["card_drivers"][j][:2])
        ax.set_title(f"#{int(i)}  {_pct(freq[i])}  sel {sel[i]:.2f}", fontsize=5.5, loc="left")
        ax.set_xlabel(f"act {data['card_top_value'][j]:.3g}" + (f"; {drivers}" if drivers else ""),
                      fontsize=5, labelpad=1)
        ax = fig.add_subplot(grid[r, 2 * c + 1])
        if maps.shape[0] == cards.size and kind != "none":
            arr = maps[j]
            if kind == "decoder":  # a signed direction: diverging about 0
                m = float(np.nanmax(np.abs(arr))) or 1.0
                im = ax.imshow(arr, cmap=DIVERGING, vmin=-m, vmax=m, interpolation="nearest")
            else:  # activations are >= 0
                im = ax.imshow(arr, cmap="inferno", vmin=0.0, vmax=float(np.nanmax(arr)) or 1.0,
                               interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(MAP_TITLES.get(kind, kind), fontsize=5, labelpad=1)
            cb = colorbar(fig, im, ax, "")
            cb.ax.tick_params(labelsize=4.5)
        else:
            ax.set_axis_off()
    if im_top is not None:
        box = cell.get_position(fig)
        cax = fig.add_axes((0.925, box.y0 + 0.1 * box.height, 0.012, 0.8 * box.height))
        cb = fig.colorbar(im_top, cax=cax)
        cb.set_label("top frame (scaled)", fontsize=6)
        cb.ax.tick_params(labelsize=5)


def _pct(f: float) -> str:
    """A frequency as a percentage with two significant digits below 1 %."""
    p = 100.0 * float(f)
    return f"{p:.2g}%" if 0 < p < 1 else f"{p:.1f}%"


def _settings(state: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    opts = dict((state.get("analysis") or {}).get("options") or {})
    train = dict(opts.get("train") or {})
    src = (f"SAE {opts['sae']}" if opts.get("sae") else
           f"SAE trained here: {train.get('dict_size')} features, {train.get('sparsity')}"
           f"{' k ' + str(train.get('k')) if train.get('sparsity') == 'topk' else ' l1 ' + str(train.get('l1'))}"
           f", {train.get('steps')} steps on {train.get('max_frames')} frames, seed {train.get('seed')}")
    search = f", search '{data['search']}'" if data.get("search") else ""
    return (f"{src}; gallery over {data['n_frames']} frames ({data['n_inputs']} inputs), "
            f"top {opts.get('top_k', '–')} frames per feature, seed {opts.get('seed', '–')}; "
            f"cards: the first {len(data['cards'])} of {len(data['order'])} shown, sorted by "
            f"{data['sort']}{search} (each: its top frame with the activation it gives and its "
            "driving electrodes; beside it the feature's map with its own scale)")


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "NOT_RUN", "compute", "data_from_result", "render"]
