"""One figure style for every panel figure: fonts, colour maps, light background.

Close to the paper figures: a light background, an 8 pt sans-serif font, viridis for
magnitudes (images, attributions) and a symmetric ``RdBu_r`` for signed quantities
(differences, activations around zero).  Every renderer runs inside
:func:`style_context` and draws with the helpers below, so all panel figures look
alike and a change of style is made here once.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

#: colour map for magnitudes (topomaps in [0, 1], attributions, spectra)
SEQUENTIAL = "viridis"
#: colour map for signed values; always used with limits symmetric about zero
DIVERGING = "RdBu_r"
#: line colours, in order, for several series on one axis (colour-blind safe)
CYCLE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: default figure size (inches) and resolution of a panel figure
DEFAULT_SIZE_IN = (7.0, 4.5)
DEFAULT_DPI = 300

RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "image.interpolation": "nearest",
    "axes.prop_cycle": None,  # filled in style_context (needs matplotlib's cycler)
    # deterministic vector output: the same figure gives the same bytes
    "svg.hashsalt": "eegmi",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
}


@contextmanager
def style_context() -> Iterator[None]:
    """Apply the eegmi figure style for the duration of a render and a save."""
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(RC, **{"axes.prop_cycle": cycler(color=list(CYCLE))})
    with mpl.rc_context(rc):  # type: ignore[arg-type]  # keys are checked by matplotlib
        yield


def new_figure(width_in: float = DEFAULT_SIZE_IN[0], height_in: float = DEFAULT_SIZE_IN[1],
               dpi: int = DEFAULT_DPI, layout: str | None = None) -> Any:
    """A matplotlib ``Figure`` on an Agg canvas (no pyplot state, no GUI backend).

    ``layout="constrained"`` lets matplotlib keep titles, labels and colour bars clear
    of each other at any size (:func:`add_caption` then reserves the caption's band).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(float(width_in), float(height_in)), dpi=int(dpi),
                 layout=layout)  # type: ignore[arg-type]  # matplotlib checks the name
    FigureCanvasAgg(fig)
    return fig


def render_size(state: Any) -> tuple[float, float, int]:
    """``(width_in, height_in, dpi)`` of a figure state's ``render`` settings (checked)."""
    from eegmi.errors import ConfigError

    render = dict(state.get("render") or {})
    try:
        w = float(render.get("width_in", DEFAULT_SIZE_IN[0]))
        h = float(render.get("height_in", DEFAULT_SIZE_IN[1]))
        dpi = int(render.get("dpi", DEFAULT_DPI))
    except (TypeError, ValueError):
        raise ConfigError("figure state: 'render' sizes must be numbers") from None
    if not (0.25 <= w <= 100 and 0.25 <= h <= 100 and 10 <= dpi <= 2400):
        raise ConfigError(f"figure state: size {w:g} x {h:g} in at {dpi} dpi is out of range "
                          "(0.25-100 in, 10-2400 dpi)")
    return w, h, dpi


def state_figure(state: Any, layout: str | None = "constrained") -> Any:
    """A new figure at the size and resolution a figure state asks for."""
    w, h, dpi = render_size(state)
    return new_figure(w, h, dpi, layout=layout)


def add_caption(fig: Any, text: str, width_chars: int | None = None) -> None:
    """Write ``text`` as a small grey caption line (wrapped) along the figure's bottom.

    Room is made for it by moving the subplots up (or, under constrained layout, by
    keeping the layout above the caption's band); call after the axes are made.
    """
    if not text:
        return
    # a 6.5 pt DejaVu Sans character is about 0.05 in wide: ~18 per inch, kept at 16
    chars = width_chars or max(40, int(fig.get_figwidth() * 16))
    wrapped = textwrap.fill(text, chars)
    lines = wrapped.count("\n") + 1
    # 6.5 pt text: about 0.11 in per line, plus a margin
    height_frac = min(0.5, (0.11 * lines + 0.08) / fig.get_figheight())
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set") and "rect" in engine.get():
        engine.set(rect=(0.0, height_frac, 1.0, 1.0 - height_frac))
    else:
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, height_frac + 0.08))
    fig.text(0.01, 0.01, wrapped, ha="left", va="bottom", fontsize=6.5, color="0.35")


def add_title(fig: Any, text: str) -> None:
    """The figure's title (the panel's name and what it shows), top left."""
    if text:
        fig.suptitle(text, x=0.01, ha="left", fontsize=9, fontweight="bold")


def symmetric_limits(values: np.ndarray, floor: float = 1e-12) -> tuple[float, float]:
    """``(-m, m)`` with ``m`` the largest finite magnitude in ``values`` (at least ``floor``)."""
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    m = float(np.max(np.abs(finite))) if finite.size else 1.0
    m = max(m, floor)
    return -m, m


def colorbar(fig: Any, mappable: Any, ax: Any | Sequence[Any], label: str) -> Any:
    """A slim colour bar beside ``ax`` with its ``label`` (quantity and unit)."""
    cb = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03, shrink=0.9)
    cb.set_label(label)
    cb.outline.set_linewidth(0.5)
    cb.ax.tick_params(labelsize=6, width=0.5, length=2)
    return cb


def draw_topomap(ax: Any, image: np.ndarray, *, cmap: str = SEQUENTIAL,
                 vmin: float | None = None, vmax: float | None = None,
                 head: tuple[float, float, float] | None = None,
                 electrode_xy: np.ndarray | None = None,
                 names: Sequence[str] | None = None,
                 highlight: Sequence[str] = (), title: str = "") -> Any:
    """Draw one scalp image as the paper does: nose up, left hemisphere on the left.

    Parameters
    ----------
    ax : matplotlib Axes
    image : (H, W) float
        Row 0 is the nose side (shown with ``origin="upper"``).
    cmap, vmin, vmax : colour map and limits (``None``: the image's range)
    head : (col, row, radius) of the head disc in pixels, drawn as an outline
    electrode_xy : (n, 2) float, sub-pixel (col, row) of each electrode
    names : n electrode labels drawn beside the markers (None: markers only)
    highlight : names drawn in bold with a ring (e.g. injected electrodes)
    title : axes title

    Returns
    -------
    The ``AxesImage`` (for a colour bar).
    """
    from matplotlib import patheffects
    from matplotlib.patches import Circle

    # a white halo keeps black labels legible on the dark and the bright end of the map
    halo = [patheffects.withStroke(linewidth=1.2, foreground="white")]
    im = ax.imshow(np.asarray(image, dtype=np.float64), cmap=cmap, vmin=vmin, vmax=vmax,
                   origin="upper", interpolation="nearest")
    if head is not None:
        ax.add_patch(Circle((head[0], head[1]), head[2], fill=False, lw=0.6, color="0.4"))
    if electrode_xy is not None:
        xy = np.asarray(electrode_xy, dtype=np.float64)
        ax.scatter(xy[:, 0], xy[:, 1], s=3, c="k", linewidths=0)
        marked = set(highlight)
        if names is not None:
            for (x, y), name in zip(xy, names, strict=True):
                bold = name in marked
                ax.text(x, y - (1.2 if bold else 0.6), name, fontsize=4.5 if not bold else 5.5,
                        fontweight="bold" if bold else "normal", ha="center", va="bottom",
                        color="k", path_effects=halo)
                if bold:
                    ax.add_patch(Circle((x, y), 1.0, fill=False, lw=0.8, color="k"))
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return im


def head_of(operator: Any) -> tuple[float, float, float] | None:
    """(col, row, radius) in pixels of a topomap operator's head disc, or None."""
    if hasattr(operator, "head_radius") and hasattr(operator, "pixel_size"):
        c0 = operator.size // 2  # the operator's projection centre pixel
        return float(c0), float(c0), float(operator.head_radius / operator.pixel_size)
    return None


def short_layer(name: str | None) -> str:
    """Compact layer label for ticks: ``enc.act1`` -> ``enc1``, ``latent.mu`` -> ``μ``,
    ``input`` -> ``in``, None -> ``–``."""
    if name is None:
        return "–"
    special = {"latent.mu": "μ", "latent.z": "z", "input": "in", "out": "out"}
    if name in special:
        return special[name]
    head, _, tail = name.partition(".")
    digits = "".join(ch for ch in tail if ch.isdigit())
    return f"{head}{digits}" if digits else name
