"""Activations figure: every layer of the model, every channel, in one tall figure.

One row per layer, in forward order (model input, encoder maps, latent mean and
spread, decoder maps, output; the layers the panel has checked, all by default),
whether the panel had them scrolled into view or not.  A layer of feature maps is a
mosaic of its channels, 16 to a row, every tile shown at the same size whatever its
pixel count (so a 128 x 5 x 5 layer is as legible as a 32 x 20 x 20 one); the model
input and output are drawn three tiles wide; a vector (latent mean, sigma) is one
strip of cells.  Each layer has its own colour limits, symmetric about zero (zero is
white in the diverging map, so the sign of a leaky-ReLU activation reads at once),
and its colour bar with that range; with the panel's "shared colour scale" one range
covers every layer.  With "difference from baseline" the arrays are the current input's
minus the baseline input's.

**Layout: a tall figure, not pages.** The default height follows the layers
(:func:`default_height`: about 15 in at 7 in wide for E3/E5, 8 in for E1), so one PNG,
SVG or single-page PDF holds the whole network at a legible tile size (0.4 in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.jobs import Job

#: tiles per mosaic row
COLUMNS = 16
#: tiles a single-map layer (model input, output) spans
IMAGE_SPAN = 3
#: inches a layer's title, ticks and spacing take besides its tiles
LAYER_OVERHEAD_IN = 0.42
#: inches taken by the title, the caption and the margins
FIXED_IN = 1.1
#: layers drawn as images (scaled units) rather than activations
IMAGE_LAYERS = ("input", "out")


def _grid(shape: Sequence[int]) -> tuple[int, int, float]:
    """(rows, cols, span) of a layer's tiles: span = tile size in units of a mosaic tile."""
    if len(shape) == 1:
        return 1, int(shape[0]), COLUMNS / max(int(shape[0]), 1)
    channels = 1 if len(shape) == 2 else int(shape[0])
    if channels == 1:
        return 1, 1, float(IMAGE_SPAN)
    cols = min(COLUMNS, channels)
    return math.ceil(channels / cols), cols, 1.0


def layer_units(shape: Sequence[int]) -> float:
    """Height of a layer's tiles in units of one tile of a 16-wide mosaic."""
    rows, _cols, span = _grid(shape)
    return rows * span


def default_height(shapes: Sequence[Sequence[int]], width_in: float = 7.0) -> float:
    """Figure height (inches) that shows every layer at ``width_in`` without squashing."""
    tile_in = (width_in - 1.0) / COLUMNS  # the colour bars take about an inch
    body = sum(layer_units(s) * tile_in + LAYER_OVERHEAD_IN for s in shapes)
    return round(FIXED_IN + body, 1)


def data_from(arrays: Mapping[str, np.ndarray], layers: Sequence[str],
              shared: bool = False) -> dict[str, Any]:
    """The figure's numbers: for each layer in ``layers`` its array and colour limits.

    Parameters
    ----------
    arrays : layer name -> per-sample array as the panel shows it (``(C, h, w)``,
        ``(h, w)`` or ``(d,)``; already minus the baseline in difference mode)
    layers : the layers drawn, in order
    shared : one symmetric range over every layer instead of one per layer

    Returns
    -------
    dict
        ``<layer>`` float32 arrays, ``<layer>.levels (2,)`` and ``layers`` (the names).
    """
    from eegmi.figures.style import symmetric_limits

    names = [n for n in layers if n in arrays]
    out: dict[str, Any] = {"layers": names}
    everything = (symmetric_limits(np.concatenate([np.ravel(arrays[n]) for n in names]))
                  if shared and names else None)
    for name in names:
        arr = np.asarray(arrays[name], dtype=np.float32)
        out[name] = arr
        out[f"{name}.levels"] = np.asarray(everything or symmetric_limits(arr), dtype=np.float64)
    return out


def view_arrays(result: Any, baseline: Any = None) -> dict[str, np.ndarray]:
    """The panel's arrays of a ForwardResult (minus ``baseline``'s when given)."""
    from eegmi.mosaic import layer_arrays

    current = layer_arrays(result)
    if baseline is None:
        return current
    base = layer_arrays(baseline)
    return {n: a - base[n] for n, a in current.items() if n in base and base[n].shape == a.shape}


def compute(state: Mapping[str, Any], device: str) -> Job[dict[str, Any]]:
    from eegmi.errors import ConfigError
    from eegmi.figures.replay import replay_job

    rep = yield from replay_job(state, device)
    if rep.inference is None:
        raise ConfigError("the activations figure needs a model; the state names none")
    view = dict(state.get("view") or {})
    base = None
    if view.get("difference"):
        if rep.baseline is None:
            raise ConfigError(f"the baseline input cannot be rebuilt ({rep.check})")
        base = rep.inference.forward_values(rep.baseline)
    arrays = view_arrays(rep.result, base)
    layers = list(view["layers"]) if view.get("layers") is not None else list(arrays)
    return data_from(arrays, layers, bool(view.get("shared_scale")))


def _draw_layer(fig: Any, ax: Any, name: str, arr: np.ndarray, levels: tuple[float, float],
                difference: bool) -> None:
    from eegmi.figures.style import DIVERGING, colorbar
    from eegmi.mosaic import MosaicLayout, as_maps, tile

    maps = as_maps(arr)
    c, h, w = maps.shape
    rows, cols, _span = _grid(arr.shape)
    vector = arr.ndim == 1
    gap = 0 if vector else 1
    mosaic = tile(maps, MosaicLayout(c, h, w, rows, cols, gap))
    import matplotlib as mpl

    cmap = mpl.colormaps[DIVERGING].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=levels[0], vmax=levels[1],
                   origin="upper", interpolation="nearest")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if vector:
        step = max(1, int(math.ceil(c / 8)))
        ax.set_xticks(range(0, c, step))
        ax.set_yticks([])
        ax.tick_params(length=1.5, pad=1, labelsize=5.5)
        ax.set_xlabel("latent index", fontsize=6, labelpad=1)
    else:
        ax.set_xticks([])
        if rows > 1:  # the first channel of each tile row
            ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(rows)],
                          [str(r * cols) for r in range(rows)])
            ax.tick_params(length=0, pad=1, labelsize=5.5)
        else:
            ax.set_yticks([])
    dims = " × ".join(str(s) for s in arr.shape)
    what = {1: "values"}.get(arr.ndim, "channels × h × w" if arr.ndim == 3 else "h × w")
    ax.set_title(f"{name}   {dims} ({what})", loc="left", fontsize=7, pad=2)
    quantity = "image" if name in IMAGE_LAYERS else "activation"
    unit = "scaled units" if name in IMAGE_LAYERS else "a.u."
    label = f"{quantity} − baseline" if difference else quantity
    cb = colorbar(fig, im, ax, f"{label}\n({unit})")
    ax.set_anchor("W")  # after the colour bar, which anchors its parent to the right
    cb.ax.yaxis.label.set_fontsize(5.5)
    cb.set_ticks([levels[0], 0.0, levels[1]])
    cb.ax.set_yticklabels([f"{levels[0]:.3g}", "0", f"{levels[1]:.3g}"])


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    from eegmi.figures.replay import caption, describe_input
    from eegmi.figures.style import add_caption, add_title, state_figure

    names = list(data["layers"])
    view = dict(state.get("view") or {})
    fig = state_figure(state)
    if not names:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no activations (no model, or its first result was pending)",
                ha="center", va="center")
    else:
        ratios = [max(layer_units(np.shape(data[n])), 0.5) for n in names]
        gs = fig.add_gridspec(len(names), 1, height_ratios=ratios)
        for i, name in enumerate(names):
            ax = fig.add_subplot(gs[i, 0])
            levels = tuple(float(v) for v in np.asarray(data[f"{name}.levels"]).reshape(2))
            _draw_layer(fig, ax, name, np.asarray(data[name]), levels,  # type: ignore[arg-type]
                        bool(view.get("difference")))
    title = state.get("title") or "Layer activations"
    add_title(fig, f"{title}: {describe_input(state)}"
                   + (" minus the baseline input" if view.get("difference") else ""))
    add_caption(fig, caption(state))
    return fig


FIGURE = PanelFigure("activations", compute, render)
