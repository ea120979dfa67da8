"""Training figure: loss (train and validation), validation error and validation SSIM
per epoch, the best epoch marked, with the run's name and settings in the caption.

``data_from_history(history, metrics)`` turns the per-epoch records (the panel's live
payloads, or ``history.jsonl`` of the run folder) and the card's metrics into the
figure's numbers; the panel and :func:`compute` both call it.  The state names the
run folder in ``view["run_dir"]`` (the panel's output folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError
from eegmi.figures.panel import PanelFigure
from eegmi.figures.panels._analysis import size_of
from eegmi.figures.style import CYCLE, add_caption, new_figure
from eegmi.jobs import Job, Progress

NAME = "training"
NOT_TRAINED = "start a training run first (no epoch has finished)"
#: the per-epoch curves, in the panel's order
CURVES = ("train_loss", "val_loss", "val_mse", "val_mae", "val_ssim", "val_ssim_head")
#: the figure's height (inches) at the default width: one row of three plots
HEIGHT_IN = 3.2
TEST_KEYS = ("test_mse", "test_mae", "test_ssim", "test_ssim_head", "test_n")


def data_from_history(history: Sequence[Mapping[str, Any]],
                      metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The figure's numbers.

    Parameters
    ----------
    history : per-epoch records (``eegmi.training.loop.EPOCH_KEYS``), oldest first
    metrics : the run's final metrics (the card's ``metrics``); only the test split's
        figures, scored once at the end, are kept

    Returns
    -------
    dict
        ``epoch (E,)`` and one ``(E,)`` float array per :data:`CURVES` entry (NaN where a
        record lacks it), ``best_epoch`` (the last record's), ``test`` (test figures or
        empty).
    """
    rows = [h for h in history if isinstance(h.get("epoch"), int | float)]
    if not rows:
        raise ConfigError(NOT_TRAINED)
    data: dict[str, Any] = {"epoch": np.array([float(h["epoch"]) for h in rows])}
    for key in CURVES:
        data[key] = np.array([_f(h.get(key)) for h in rows], dtype=np.float64)
    best = rows[-1].get("best_epoch")
    data["best_epoch"] = int(best) if isinstance(best, int | float) else None
    m = dict(metrics or {})
    data["test"] = {k: m[k] for k in TEST_KEYS if isinstance(m.get(k), int | float)}
    return data


def _f(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def compute(state: Mapping[str, Any], device: str = "cpu") -> Job[dict[str, Any]]:  # noqa: ARG001
    """Read the run folder the state names: ``history.jsonl`` and the card's metrics."""
    from eegmi.training.catalog import read_card
    from eegmi.training.history import read_history

    run_dir = (state.get("view") or {}).get("run_dir")
    if not run_dir:
        raise ConfigError("the training figure state names no run folder (view.run_dir)")
    folder = Path(str(run_dir))
    if not folder.is_dir():
        raise ConfigError("no such run folder", path=folder)
    yield Progress(0, 1, f"reading {folder}")
    card = folder / "model.json"
    metrics = dict(read_card(card).get("metrics") or {}) if card.is_file() else {}
    return data_from_history(read_history(folder), metrics)


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Loss | validation error | validation SSIM against epoch."""
    w, h, dpi = size_of(state, (7.0, HEIGHT_IN))
    fig = new_figure(w, h, dpi)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.42, "left": 0.09, "right": 0.98,
                                           "top": 0.8})
    x = np.asarray(data["epoch"], dtype=np.float64)
    specs = ((("train_loss", "train"), ("val_loss", "validation")), "loss (log)", "Loss", True), \
        ((("val_mse", "MSE"), ("val_mae", "MAE")), "error, image units (log)", "Validation error", True), \
        ((("val_ssim", "whole image"), ("val_ssim_head", "head disc")), "SSIM", "Validation SSIM", False)
    best = data.get("best_epoch")
    for ax, (curves, ylabel, title, log) in zip(axes, specs, strict=True):
        for i, (key, label) in enumerate(curves):
            y = np.asarray(data[key], dtype=np.float64)
            ok = np.isfinite(y) & ((y > 0) if log else True)
            ax.plot(x[ok], y[ok], "o-", color=CYCLE[i], ms=2.5, lw=1.1, label=label)
        if log:
            ax.set_yscale("log")
            # short labels at 1, 2 and 5 per decade: mathtext minor labels crowd the axis
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0e}".replace("e-0", "e-")))
            ax.yaxis.set_minor_formatter(NullFormatter())
        if best is not None:
            ax.axvline(best, color="0.55", lw=0.7, ls=":", label=f"best epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(frameon=False, fontsize=6)
        if x.size and x.max() - x.min() < 12:
            ax.set_xticks(np.unique(x))
    view = dict(state.get("view") or {})
    name = view.get("name") or view.get("preset") or "run"
    run_dir = view.get("run_dir") or ""
    fig.suptitle(f"Training {name}: {x.size} epochs" + (f", best {best}" if best is not None else ""),
                 x=0.01, ha="left", fontweight="bold")
    where = [f"Run {run_dir or '–'}", f"data {view.get('data') or '–'}", _settings(view, data)]
    add_caption(fig, " · ".join(where))
    return fig


def _settings(view: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    exp = dict(view.get("experiment") or {})
    model = dict(exp.get("model") or {})
    train = dict(exp.get("training") or {})
    parts = [f"preset {view.get('preset', '–')}"]
    if model:
        parts.append(f"{model.get('kind', '')} latent {model.get('latent_dim', '–')}, filters "
                     f"{'/'.join(str(f) for f in model.get('filters', []))}, "
                     f"{model.get('activation', '')}")
    if train:
        parts.append(", ".join(f"{k} {train[k]}" for k in ("epochs", "batch_size", "lr", "beta",
                                                           "seed") if k in train))
    frames = view.get("max_frames")
    parts.append(f"frames {'all' if not frames else frames}")
    test = dict(data.get("test") or {})
    if test:
        parts.append("test split, scored once: " + ", ".join(
            f"{k[5:]} {v:.4g}" for k, v in test.items() if k != "test_n"))
    return "; ".join(parts)


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "NOT_TRAINED", "compute", "data_from_history", "render"]
