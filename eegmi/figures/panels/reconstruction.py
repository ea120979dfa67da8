"""Reconstruction figure: the clean input, the model's output and their difference.

Input and output share one colour range (:func:`eegmi.figures.panels.scalp.input_levels`
of both, so an amplitude-2 input is not clipped and the output is read on the same
scale); the difference (output − input inside the head disc, 0 outside, where no loss
applies) has its own range, symmetric about zero.  MSE and SSIM are the panel's (the
head disc's MSE, the whole image's SSIM), printed in the title.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.jobs import Job


def difference(result: Any, operator: Any) -> np.ndarray:
    """Output minus input ``(H, W)`` inside the head disc, 0 outside."""
    mask = np.asarray(operator.head_mask, dtype=bool)
    return np.where(mask, result.recon - result.image, 0.0).astype(np.float32)


def data_from(result: Any, operator: Any) -> dict[str, Any]:
    """The figure's numbers from a ForwardResult: ``input``, ``output``, ``difference``
    (H, W), ``mse``, ``ssim``, ``head``; without a model only ``input``."""
    from eegmi.figures.replay import geometry_data

    geo = geometry_data(operator)
    out: dict[str, Any] = {"input": np.asarray(result.image, dtype=np.float32)}
    if "head" in geo:
        out["head"] = geo["head"]
    if result.recon is not None:
        out.update(output=np.asarray(result.recon, dtype=np.float32),
                   difference=difference(result, operator),
                   mse=float(result.mse), ssim=float(result.ssim))
    return out


def compute(state: Mapping[str, Any], device: str) -> Job[dict[str, Any]]:
    from eegmi.figures.replay import replay_job

    rep = yield from replay_job(state, device)
    return data_from(rep.result, rep.operator)


def _metric(value: Any, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(float(value), fmt)


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    from eegmi.figures.panels.scalp import INPUT_UNIT, input_levels
    from eegmi.figures.replay import caption, describe_input
    from eegmi.figures.style import (
        DIVERGING,
        SEQUENTIAL,
        add_caption,
        add_title,
        colorbar,
        draw_topomap,
        state_figure,
        symmetric_limits,
    )

    fig = state_figure(state)
    head = tuple(np.asarray(data["head"]).tolist()) if "head" in data else None
    has_output = "output" in data
    axes = fig.subplots(1, 3 if has_output else 1, squeeze=False)[0]
    lo, hi = input_levels([data["input"], data.get("output")])
    im = draw_topomap(axes[0], data["input"], vmin=lo, vmax=hi, cmap=SEQUENTIAL, head=head,
                      title="Input (clean topomap)")
    if has_output:
        draw_topomap(axes[1], data["output"], vmin=lo, vmax=hi, cmap=SEQUENTIAL, head=head,
                     title="Reconstruction (model output)")
        colorbar(fig, im, list(axes[:2]), f"{INPUT_UNIT}, range [{lo:g}, {hi:g}]")
        dlo, dhi = symmetric_limits(data["difference"])
        dim = draw_topomap(axes[2], data["difference"], vmin=dlo, vmax=dhi, cmap=DIVERGING,
                           head=head, title="Output − input (head disc)")
        colorbar(fig, dim, axes[2], f"difference (scaled units), range ±{dhi:.3g}")
        metrics = (f"MSE {_metric(data.get('mse'), '.3g')} (head disc), "
                   f"SSIM {_metric(data.get('ssim'), '.4f')}")
    else:
        colorbar(fig, im, axes[0], f"{INPUT_UNIT}, range [{lo:g}, {hi:g}]")
        metrics = "no model: input only"
    add_title(fig, f"{state.get('title') or 'Reconstruction'}: {describe_input(state)}; {metrics}")
    add_caption(fig, caption(state))
    return fig


FIGURE = PanelFigure("reconstruction", compute, render)
