"""Latents figure: the input's latent mean (and spread), the slider vector and its decoding.

Top left, one bar per latent: the current input's latent mean μ (for the decoder-only
E1 the latent is the electrode vector itself), the Latents panel's slider vector z as
red dots and each slider's range (dataset mean ± 3σ once the statistics are known) as
a grey line.  Below, for a model with a variance head, σ = exp(logvar / 2) per latent
on a log axis (E3's σ is ~1e-7: on a linear axis it would be invisible).  Right, the
decoder's image of z, which the panel shows beside its sliders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eegmi.figures.panel import PanelFigure
from eegmi.jobs import Job


def input_latent(result: Any) -> np.ndarray | None:
    """The decoder input of a ForwardResult: ``mu (d,)``, or ``latent.z`` (decoder-only)."""
    if getattr(result, "mu", None) is not None:
        return np.asarray(result.mu, dtype=np.float32)
    z = dict(getattr(result, "activations", {}) or {}).get("latent.z")
    return None if z is None else np.asarray(z, dtype=np.float32).reshape(-1)


def data_from(result: Any, operator: Any, names: Sequence[str], z: np.ndarray,
              low: np.ndarray, high: np.ndarray, decoded: np.ndarray | None) -> dict[str, Any]:
    """The figure's numbers.

    Parameters
    ----------
    result : ForwardResult of the current input (its latent mean and log-variance)
    operator : TopomapOperator (the head outline of the decoded image)
    names : (d,) latent names (``z0``.., electrode names for E1)
    z, low, high : (d,) the slider vector and the sliders' ranges
    decoded : (H, W) the decoder's image of ``z``, or None when the panel shows none

    Returns
    -------
    dict
        ``names``, ``z``, ``range_low``, ``range_high`` (d,), ``mu`` (d,) when the
        input has a latent, ``sigma`` (d,) for a model with a variance head,
        ``decoded (H, W)`` and ``head`` when decoded.
    """
    from eegmi.figures.replay import geometry_data

    out: dict[str, Any] = {"names": list(names), "z": np.asarray(z, dtype=np.float32),
                           "range_low": np.asarray(low, dtype=np.float64),
                           "range_high": np.asarray(high, dtype=np.float64)}
    mu = None if result is None else input_latent(result)
    if mu is not None and mu.shape == out["z"].shape:
        out["mu"] = mu
        logvar = getattr(result, "logvar", None)
        if logvar is not None:
            out["sigma"] = np.exp(0.5 * np.asarray(logvar, dtype=np.float32)).astype(np.float32)
    if decoded is not None:
        out["decoded"] = np.asarray(decoded, dtype=np.float32)
        geo = geometry_data(operator)
        if "head" in geo:
            out["head"] = geo["head"]
    return out


def _vector(view: Mapping[str, Any], key: str, d: int) -> np.ndarray:
    from eegmi.errors import ConfigError

    try:
        arr = np.asarray(view.get(key), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"figure state: view '{key}' must be a list of numbers") from None
    if arr.shape != (d,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"figure state: view '{key}' must hold {d} finite numbers")
    return arr


def compute(state: Mapping[str, Any], device: str) -> Job[dict[str, Any]]:
    from eegmi.errors import ConfigError
    from eegmi.figures.replay import replay_job

    rep = yield from replay_job(state, device)
    if rep.inference is None:
        raise ConfigError("the latents figure needs a model; the state names none")
    view = dict(state.get("view") or {})
    d = rep.inference.latent_dim
    names = [str(n) for n in view.get("names") or [f"z{i}" for i in range(d)]]
    z = _vector(view, "z", d).astype(np.float32)
    low, high = _vector(view, "range_low", d), _vector(view, "range_high", d)
    decoded = rep.inference.decode(z).recon if view.get("decoded") else None
    return data_from(rep.result, rep.operator, names, z, low, high, decoded)


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    from eegmi.figures.panels.scalp import input_levels
    from eegmi.figures.replay import caption, describe_input
    from eegmi.figures.style import (
        CYCLE,
        SEQUENTIAL,
        add_caption,
        add_title,
        colorbar,
        draw_topomap,
        state_figure,
    )

    fig = state_figure(state)
    names = list(data["names"])
    d = len(names)
    x = np.arange(d)
    has_sigma, has_decoded = "sigma" in data, "decoded" in data
    gs = fig.add_gridspec(2 if has_sigma else 1, 2 if has_decoded else 1,
                          width_ratios=[2.4, 1] if has_decoded else None,
                          height_ratios=[1.6, 1] if has_sigma else None)
    ax = fig.add_subplot(gs[0, 0])
    low, high = np.asarray(data["range_low"]), np.asarray(data["range_high"])
    ax.vlines(x, low, high, color="0.8", lw=3, label="slider range", zorder=1)
    if "mu" in data:
        label = "input latent mean μ" if has_sigma else "input latent"
        ax.bar(x, np.asarray(data["mu"]), width=0.7, color=CYCLE[0], label=label, zorder=2)
    ax.scatter(x, np.asarray(data["z"]), s=9, color=CYCLE[1], zorder=3, label="slider vector z")
    ax.axhline(0.0, color="0.3", lw=0.5, zorder=1)
    ax.set_xlim(-0.7, d - 0.3)
    ax.set_ylabel("latent value")
    ax.set_title("Latent mean of the input, slider vector and slider ranges", loc="left")
    # headroom above the tallest bar for the legend's one row, so it never covers data
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.2 * (hi - lo))
    ax.legend(loc="upper right", frameon=False, ncols=3, fontsize=6, borderaxespad=0.2)
    step = 1 if d <= 32 else int(np.ceil(d / 32))
    ax.set_xticks(x[::step], [names[i] for i in x[::step]], rotation=90, fontsize=5.5)
    if has_sigma:
        ax2 = fig.add_subplot(gs[1, 0], sharex=ax)
        sigma = np.asarray(data["sigma"], dtype=np.float64)
        ax2.bar(x, np.maximum(sigma, np.finfo(np.float64).tiny), width=0.7, color=CYCLE[2])
        ax2.set_yscale("log")
        ax2.set_ylabel("σ = exp(logvar / 2)")
        ax2.set_title("Latent spread σ of the input (log scale)", loc="left")
        ax2.set_xticks(x[::step], [names[i] for i in x[::step]], rotation=90, fontsize=5.5)
        ax.tick_params(labelbottom=False)
        ax2.set_xlabel("latent")
    else:
        ax.set_xlabel("latent")
    if has_decoded:
        axd = fig.add_subplot(gs[:, 1])
        img = np.asarray(data["decoded"])
        lo, hi = input_levels([img])
        head = tuple(np.asarray(data["head"]).tolist()) if "head" in data else None
        im = draw_topomap(axd, img, cmap=SEQUENTIAL, vmin=lo, vmax=hi, head=head,
                          title="Decoded image of z")
        colorbar(fig, im, axd, f"decoder output (scaled units)\nrange [{lo:g}, {hi:g}]")
    title = state.get("title") or "Latents"
    add_title(fig, f"{title}: {describe_input(state)}")
    add_caption(fig, caption(state))
    return fig


FIGURE = PanelFigure("latents", compute, render)
