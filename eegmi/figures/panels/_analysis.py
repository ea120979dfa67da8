"""Pieces the analysis-panel figures share (spectra, saliency, propagation, sae, training).

* :func:`rerun` re-runs a recipe state headless and keeps the loaded model (its
  operator draws the head), like :func:`eegmi.recipes.base.rerun_job`;
* :func:`head_data` is what a topomap needs from an operator, as plain arrays, so a
  figure's data holds it and :func:`render` never sees the operator;
* the caption line is :func:`eegmi.figures.replay.caption` (one for every panel figure:
  the recipe state's model and data, falling back to the workbench's).

This is private to these figure modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job

#: what ``figure_data()`` says before an analysis has run (one line)
NOT_RUN = "run the analysis first"


def rerun(analysis: Mapping[str, Any] | None, device: str = "cpu",
          cancel: CancelToken | None = None) -> Job[tuple[Any, Any]]:
    """Re-run a recipe state (``state["analysis"]``); returns ``(result, loaded model)``.

    Raises
    ------
    ConfigError
        The figure state has no analysis (nothing was run when it was exported).
    """
    from eegmi.recipes.base import rerun_loaded_job

    if not analysis:
        raise ConfigError("the figure state holds no analysis to recompute (" + NOT_RUN + ")")
    _recipe, result, loaded = yield from rerun_loaded_job(analysis, device, cancel)
    return result, loaded


def head_data(operator: Any) -> dict[str, Any]:
    """``electrode_xy (n, 2)`` (col, row), ``head (3,)`` (col, row, radius in pixels),
    ``head_mask (H, W)`` and the electrode names of a topomap operator."""
    c0 = float(int(operator.size) // 2)
    radius = float(operator.head_radius / operator.pixel_size)
    return {"electrode_xy": np.asarray(operator.electrode_xy, dtype=np.float64),
            "head": np.array([c0, c0, radius], dtype=np.float64),
            "head_mask": np.asarray(operator.head_mask, dtype=bool),
            "ch_names": [str(n) for n in operator.montage.ch_names]}


def size_of(state: Mapping[str, Any], default: tuple[float, float] = (7.0, 4.5)) -> tuple[float, float, int]:
    """``(width_in, height_in, dpi)`` of the state's ``render`` settings."""
    r = dict(state.get("render") or {})
    return (float(r.get("width_in") or default[0]), float(r.get("height_in") or default[1]),
            int(r.get("dpi") or 300))


def describe_input(workbench: Mapping[str, Any]) -> str:
    """The workbench input in words: ``Fz=+1.00, O1=+0.60 on zero baseline`` or
    ``dataset frame 12``."""
    inp = dict(workbench.get("input") or {})
    if inp.get("mode") == "dataset":
        return f"dataset frame {inp.get('frame', 0)}"
    mix = dict(inp.get("mix") or {})
    base = inp.get("baseline", "zero")
    if not mix:
        return f"{base} baseline"
    return ", ".join(f"{k}={float(v):+.2f}" for k, v in mix.items()) + f" on {base} baseline"


def num(v: Any) -> float:
    """A float, NaN for None or non-numbers (arrays keep gaps as NaN)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def fmt(v: Any, digits: int = 3) -> str:
    """``0.123`` or ``–`` for a missing/non-finite value."""
    f = num(v)
    return f"{f:.{digits}f}" if math.isfinite(f) else "–"


def draw_table(ax: Any, header: Sequence[str], rows: Sequence[Sequence[str]],
               col_widths: Sequence[float] | None = None, fontsize: float = 6.5,
               colours: Sequence[Sequence[str | None]] | None = None) -> Any:
    """A plain table filling ``ax`` (no axes frame), header row in bold."""
    ax.set_axis_off()
    tab = ax.table(cellText=[list(r) for r in rows], colLabels=list(header), loc="upper center",
                   cellLoc="center", colLoc="center", colWidths=list(col_widths) if col_widths else None,
                   bbox=[0.0, 0.0, 1.0, 1.0])
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    for (r, c), cell in tab.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_edgecolor("0.75")
        if c == 0:
            cell.set_text_props(ha="left")
            cell._loc = "left"  # matplotlib keeps the alignment here
        if r == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("0.93")
        elif colours is not None:
            colour = colours[r - 1][c] if c < len(colours[r - 1]) else None
            if colour:
                cell.get_text().set_color(colour)
    return tab
