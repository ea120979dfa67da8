"""Scalp figure: the input topomap with labelled electrodes, and the model input image.

Left, the clean topomap of the electrode vector with every electrode named (the
injected ones in bold and ringed); right, the image after the injection layer (marks,
occlusion), as the model sees it.  Both share one colour range, :func:`input_levels`:
[0, 1] widened in tenths to cover the values and the injected amplitudes, so an
electrode injected at 2 is drawn as 2, not saturated at 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.jobs import Job

#: what the colour bar of an input says (the scaler's units: 0 and 1 are its clip points)
INPUT_UNIT = "input (scaled units)"


def input_levels(arrays: Sequence[np.ndarray | None], amplitudes: Sequence[float] = ()
                 ) -> tuple[float, float]:
    """Colour levels for an input: [0, 1] widened to cover ``arrays`` and ``amplitudes``.

    Parameters
    ----------
    arrays
        What is shown with these levels (electrode values ``(n,)``, images ``(H, W)``);
        None entries and non-finite values are skipped.
    amplitudes
        Injected amplitudes (inject mode), covered even where the image is smaller.

    Returns
    -------
    (lo, hi)
        Rounded outwards to tenths, so small frame-to-frame changes keep the scale.
    """
    lo, hi = 0.0, 1.0
    for a in arrays:
        if a is None:
            continue
        finite = np.asarray(a, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    for amp in amplitudes:
        lo, hi = min(lo, float(amp)), max(hi, float(amp))
    return float(np.floor(lo * 10 + 1e-6) / 10), float(np.ceil(hi * 10 - 1e-6) / 10)


def data_from(result: Any, operator: Any, input_state: Any) -> dict[str, Any]:
    """The figure's numbers from a ForwardResult (the GUI's and the replay's alike).

    Returns
    -------
    dict
        ``values (n,)``, ``image (H, W)`` (clean topomap), ``model_input (H, W)``,
        ``levels (2,)``, ``electrode_xy (n, 2)``, ``head (3,)``, ``channels`` and
        ``injected`` ({name: amplitude}, empty for a dataset frame).
    """
    from eegmi.figures.replay import geometry_data

    values = np.asarray(result.values, dtype=np.float32)
    injected = ({str(k): float(v) for k, v in input_state.mix.items()}
                if input_state.mode == "inject" else {})
    model_input = np.asarray(result.model_input, dtype=np.float32)
    levels = input_levels([values, model_input], list(injected.values()))
    return {"values": values, "image": np.asarray(result.image, dtype=np.float32),
            "model_input": model_input, "levels": np.asarray(levels, dtype=np.float64),
            **geometry_data(operator), "injected": injected}


def compute(state: Mapping[str, Any], device: str) -> Job[dict[str, Any]]:
    from eegmi.figures.replay import input_state, replay_job

    rep = yield from replay_job(state, device)
    return data_from(rep.result, rep.operator, input_state(state))


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    from eegmi.figures.replay import caption, describe_input
    from eegmi.figures.style import (
        SEQUENTIAL,
        add_caption,
        add_title,
        colorbar,
        draw_topomap,
        state_figure,
    )

    fig = state_figure(state)
    axes = fig.subplots(1, 2)
    lo, hi = (float(v) for v in np.asarray(data["levels"]).reshape(2))
    injected = dict(data.get("injected") or {})
    names = list(data["channels"])
    xy = np.asarray(data["electrode_xy"], dtype=np.float64)
    head = tuple(np.asarray(data["head"]).tolist()) if "head" in data else None
    draw_topomap(axes[0], data["image"], cmap=SEQUENTIAL, vmin=lo, vmax=hi, head=head,
                 electrode_xy=xy, names=names, highlight=list(injected),
                 title="Scalp map (interpolated input)")
    im = draw_topomap(axes[1], data["model_input"], cmap=SEQUENTIAL, vmin=lo, vmax=hi, head=head,
                      electrode_xy=xy[[names.index(n) for n in injected if n in names]]
                      if injected else None,
                      names=list(injected) or None, highlight=list(injected),
                      title="Model input (after the injection layer)")
    colorbar(fig, im, list(axes), f"{INPUT_UNIT}, range [{lo:g}, {hi:g}]")
    add_title(fig, f"{state.get('title') or 'Scalp map and input'}: {describe_input(state)}")
    add_caption(fig, caption(state))
    return fig


FIGURE = PanelFigure("scalp", compute, render)
