"""Paper-style figure sets, headless (matplotlib Agg; no Qt).

For each model: the original topomap of chosen frames beside the model's
reconstruction (with SSIM per frame), written as PNG and PDF, plus a
``figure_set.json`` manifest of the models, frames and metrics.  Written as a
job generator so the GUI runs it on its worker with progress and cancel, and
a script can drive it with :func:`eegmi.jobs.run_job`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.paths import atomic_path

DEFAULT_N_FRAMES = 4


def default_frames(n_frames: int, count: int = DEFAULT_N_FRAMES) -> list[int]:
    """``count`` frame indices spread evenly over a recording of ``n_frames``."""
    if n_frames <= 0:
        raise DataError("dataset has no frames")
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, min(count, n_frames))})


def render_pairs(images: np.ndarray, recons: np.ndarray, titles: Sequence[str], suptitle: str,
                 head: tuple[float, float, float] | None = None) -> Any:
    """A matplotlib Figure: originals (top row) over reconstructions (bottom row).

    Parameters
    ----------
    images, recons : (F, H, W) float
    titles : F column titles
    suptitle : figure title
    head : (col, row, radius) of the head disc in pixels, drawn as an outline
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    n = len(images)
    fig = Figure(figsize=(2.2 * n + 0.8, 4.6), dpi=150)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False)
    im = None
    for j in range(n):
        for i, (arr, label) in enumerate(((images[j], "original"), (recons[j], "reconstruction"))):
            ax = axes[i, j]
            # row 0 is the nose and column 0 the left hemisphere: show as is, origin upper
            im = ax.imshow(arr, cmap="viridis", vmin=0.0, vmax=1.0, origin="upper",
                           interpolation="nearest")
            if head is not None:
                ax.add_patch(Circle((head[0], head[1]), head[2], fill=False, lw=0.8, color="0.7"))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
    return fig


def figure_set_job(out_dir: str | Path, models: Sequence[str], data_spec: str = "synthetic",
                   frames: Sequence[int] | None = None, device: str = "cpu",
                   cancel: CancelToken | None = None) -> Job[dict[str, Any]]:
    """Render original-vs-reconstruction figures for every model into ``out_dir``.

    Parameters
    ----------
    out_dir : folder for ``<model>.png``, ``<model>.pdf`` and ``figure_set.json``
    models : bundled names (``E1``..) or checkpoint folders
    data_spec : ``"synthetic"`` or a data file
    frames : frame indices (default: :func:`default_frames`)
    device : torch device for the forward passes

    Returns
    -------
    dict
        The manifest written to ``figure_set.json``.
    """
    from eegmi.data.loaders import load_dataset
    from eegmi.inference import Inference
    from eegmi.training.checkpoint import load_checkpoint

    if not models:
        raise ConfigError("no models to render (none bundled and none loaded)")
    out = Path(out_dir)
    total = len(models) + 1
    yield Progress(0, total, "loading data")
    data = load_dataset(data_spec)
    picked = list(frames) if frames is not None else default_frames(data.n_frames)
    bad = [f for f in picked if not 0 <= int(f) < data.n_frames]
    if bad:
        raise DataError(f"frames {bad} outside 0..{data.n_frames - 1}", path=data_spec)
    raw = np.asarray(data.values[np.asarray(picked, dtype=np.int64)], dtype=np.float32)
    manifest: dict[str, Any] = {"data": str(data_spec), "frames": [int(f) for f in picked],
                                "models": {}}
    for k, name in enumerate(models):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield Progress(k + 1, total, f"rendering {Path(str(name)).name}")
        loaded = load_checkpoint(name, device=device)
        inf = Inference(loaded, loaded.operator, device)
        results = inf.forward_values_batch(np.asarray(loaded.scaler.transform(raw), np.float32))
        images = np.stack([r.image for r in results])
        recon_list = []
        for r in results:
            if r.recon is None:  # only an input pipeline without a model leaves it empty
                raise DataError("the model gave no reconstruction", path=str(name))
            recon_list.append(r.recon)
        recons = np.stack(recon_list)
        op = loaded.operator
        head = None
        if hasattr(op, "head_radius") and hasattr(op, "pixel_size"):
            head = (op.size // 2, op.size // 2, op.head_radius / op.pixel_size)
        label = loaded.name
        titles = [f"frame {f}\nSSIM {r.ssim:.3f}" for f, r in zip(picked, results, strict=True)]
        fig = render_pairs(images, recons, titles, f"{label}: original vs reconstruction", head)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
        for ext in ("png", "pdf"):
            with atomic_path(out / f"{stem}.{ext}") as tmp:
                fig.savefig(tmp, format=ext)
        manifest["models"][label] = {
            "source": str(name), "files": [f"{stem}.png", f"{stem}.pdf"],
            "mse": [float(r.mse) for r in results], "ssim": [float(r.ssim) for r in results]}
    with atomic_path(out / "figure_set.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    yield Progress(total, total, "done")
    return manifest
