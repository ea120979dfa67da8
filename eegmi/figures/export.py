"""Write a panel figure (PDF/SVG/PNG) with its data (.npz) and state (.json).

The GUI calls :func:`write_panel_figure` with the data its panel shows;
``eegmi figures --from STATE.json`` calls :func:`figure_from_state_job`, which
recomputes the data from the state and renders the same figure.  Vector and raster
output is deterministic (fixed SVG ids, no dates in the metadata), so the same
data and state give the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError
from eegmi.figures.panel import check_state, panel_figure
from eegmi.figures.style import style_context
from eegmi.jobs import Job, Progress
from eegmi.paths import atomic_path

FIGURE_FORMATS = ("pdf", "svg", "png")
DATA_FORMATS = ("npz", "json")
#: metadata that would otherwise embed the date or the matplotlib version
_METADATA = {"pdf": {"CreationDate": None, "Producer": "eegmi", "Creator": "eegmi"},
             "svg": {"Date": None, "Creator": "eegmi"},
             "png": {"Software": "eegmi"}}


def split_data(data: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Numeric arrays (for the .npz) and JSON-able values (for the .json)."""
    arrays: dict[str, np.ndarray] = {}
    other: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[key] = value
        else:
            other[key] = jsonable(value)
    return arrays, other


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays made plain and non-finite floats as None."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def render_figure(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """The matplotlib Figure for ``state["panel"]`` drawn from ``data``."""
    check_state(state)
    figure = panel_figure(str(state["panel"]))
    with style_context():
        return figure.render(data, state)


def save_figure(fig: Any, path: str | Path, dpi: int | None = None) -> Path:
    """Save ``fig`` as PDF, SVG or PNG (by the suffix), atomically and reproducibly."""
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ConfigError(f"unknown figure format {fmt!r}; use {', '.join(FIGURE_FORMATS)}",
                          path=out)
    with style_context(), atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi or fig.dpi, metadata=_METADATA[fmt])
    return out


def write_panel_figure(path_base: str | Path, data: Mapping[str, Any], state: Mapping[str, Any],
                       formats: Sequence[str] = FIGURE_FORMATS + DATA_FORMATS) -> list[Path]:
    """Render and write ``path_base.<fmt>`` for each of ``formats``; returns the files.

    Parameters
    ----------
    path_base : output path without extension (a known extension given is dropped)
    data : the figure's numbers: numpy arrays go to the ``.npz``, the rest to the ``.json``
    state : the figure state (see :mod:`eegmi.figures.panel`); written to the ``.json``
    formats : any of ``pdf``, ``svg``, ``png``, ``npz``, ``json``
    """
    base = Path(path_base)
    if base.suffix.lower().lstrip(".") in FIGURE_FORMATS + DATA_FORMATS:
        base = base.with_suffix("")
    unknown = [f for f in formats if f not in FIGURE_FORMATS + DATA_FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {unknown}; use "
                          f"{list(FIGURE_FORMATS + DATA_FORMATS)}", path=base)
    written: list[Path] = []
    dpi = int(state.get("render", {}).get("dpi", 0)) or None
    arrays, other = split_data(data)
    for fmt in formats:
        out = base.with_suffix(f".{fmt}")
        if fmt in FIGURE_FORMATS:
            # a fresh figure per file: a layout engine lays the figure out again at every
            # save with that format's text metrics, so a PNG saved after a PDF of the same
            # Figure differed from a PNG saved alone (``eegmi figures --from``) in 5 % of
            # its pixels
            save_figure(render_figure(data, state), out, dpi)
        elif fmt == "npz":
            with atomic_path(out) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # names are str keys
        else:
            doc = {**jsonable(dict(state)), "data": other, "arrays": sorted(arrays),
                   "array_shapes": {k: list(v.shape) for k, v in arrays.items()}}
            with atomic_path(out) as tmp:
                tmp.write_text(json.dumps(doc, indent=2, allow_nan=False))
        written.append(out)
    return written


def read_state(path: str | Path) -> dict[str, Any]:
    """Read and check a figure state written beside a figure (one error line naming it)."""
    from eegmi.limits import read_json_card

    src = Path(path)
    state = read_json_card(src, ConfigError, "figure state")
    check_state(state, str(src))
    return dict(state)


def figure_from_state_job(state_path: str | Path, out: str | Path, device: str = "cpu",
                          render: Mapping[str, Any] | None = None) -> Job[dict[str, Any]]:
    """Recompute a panel figure's data from its state file and write the figure to ``out``.

    Parameters
    ----------
    state_path : the ``.json`` written beside an exported figure
    out : the figure file; its suffix (pdf, svg, png) chooses the format
    device : torch device for the recomputation
    render : overrides of the state's ``render`` settings (``width_in``, ``height_in``,
        ``dpi``; None values are ignored)

    Returns
    -------
    dict
        ``{"figure": out, "panel": name, "state": state_path}``.

    Raises
    ------
    EegmiError
        One line naming the state file (or the output file) and the problem.
    """
    from eegmi.errors import EegmiError

    src = Path(state_path)
    target = Path(out)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ConfigError(f"unknown figure format {fmt or '(none)'!r}; use "
                          f"{', '.join(FIGURE_FORMATS)}", path=target)
    state = read_state(src)
    try:
        if render:
            state["render"] = {**dict(state["render"]),
                               **{k: v for k, v in render.items() if v is not None}}
        figure = panel_figure(str(state["panel"]))
        yield Progress(0, 2, f"recomputing the {state['panel']} figure")
        data = yield from figure.compute(state, device)
        yield Progress(1, 2, "rendering")
        fig = render_figure(data, state)
    except EegmiError as exc:
        if exc.path is None:  # name the state the problem is in
            raise type(exc)(exc.message, path=src) from None
        raise
    save_figure(fig, target, int(state["render"].get("dpi", 0)) or None)
    yield Progress(2, 2, "done")
    return {"figure": str(target), "panel": str(state["panel"]), "state": str(src)}
