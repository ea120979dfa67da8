"""Recipe ``latent_stats``: the latent distribution over dataset frames (Qt-free).

The Latents panel sets each slider's range to the dataset's latent mean ± ``k``
standard deviations; this recipe computes those statistics (the decoder input: a
VAE's ``latent.mu``, the electrode vector itself for the decoder-only E1, both read
through :class:`eegmi.models.adapter.ModelAdapter`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from eegmi.analysis.options_json import known_fields
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.recipes.base import Recipe, RecipeContext, register
from eegmi.recipes.propagation import recipe_frames

#: a dimension the data never moves still gets a draggable range of this half-width / k
MIN_STD = 1e-3


@dataclass(frozen=True)
class LatentStatsOptions:
    """How the latent statistics and the slider ranges are computed.

    Attributes
    ----------
    frames
        Dataset frames encoded, evenly spaced over the recording.
    half_range
        Slider half-range in standard deviations (and the range without statistics).
    batch_size
        Frames per forward pass.
    """

    frames: int = 512
    half_range: float = 3.0
    batch_size: int = 256

    def __post_init__(self) -> None:
        for name in ("frames", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"latent statistics options: {name} must be an integer >= 1, "
                                  f"got {v!r}")
        h = self.half_range
        if not isinstance(h, (int, float)) or isinstance(h, bool) or not math.isfinite(h) or h <= 0:
            raise ConfigError(f"latent statistics options: half_range must be > 0, got {h!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any) -> LatentStatsOptions:
        """The options of ``to_json()`` output; unknown keys or bad values -> ConfigError."""
        return cls(**known_fields(cls, d, "latent statistics"))


@dataclass
class LatentStats:
    """Latent mean and spread over dataset frames, and the slider ranges they give.

    Attributes
    ----------
    mean, std
        ``(d,)`` float32 over the frames.
    n_frames
        Frames encoded.
    half_range
        The options' ``half_range`` (in standard deviations).
    latent
        The hook point read (``latent.mu`` or ``latent.z``).
    """

    mean: np.ndarray
    std: np.ndarray
    n_frames: int
    half_range: float
    latent: str

    def ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Slider ranges ``(lo (d,), hi (d,))``: mean ± half_range · max(std, 1e-3)."""
        half = self.half_range * np.maximum(self.std.astype(np.float64), MIN_STD)
        return self.mean - half, self.mean + half


def latent_codes(adapter: Any, values: np.ndarray, batch_size: int = 256,
                 cancel: CancelToken | None = None) -> Job[np.ndarray]:
    """The decoder input of every scaled vector ``values (B, n)``, as ``(B, d)`` float32."""
    import torch

    from eegmi.devices import model_device

    model = adapter.model
    device = model_device(model)
    x_all = torch.as_tensor(np.asarray(values, dtype=np.float32))
    out: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, x_all.shape[0], batch_size):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                with adapter.capture([adapter.latent_hook]) as cache:
                    adapter.forward(x_all[start:start + batch_size].to(device))
                z = cache[adapter.latent_hook]
                out.append(z.reshape(z.shape[0], -1).float().cpu().numpy())
                done = min(start + batch_size, x_all.shape[0])
                yield Progress(done, x_all.shape[0], f"encoding {done}/{x_all.shape[0]}")
    finally:
        model.train(was_training)
    return np.concatenate(out, axis=0)


def run_latent_stats(options: LatentStatsOptions, context: RecipeContext,
                     cancel: CancelToken | None = None) -> Job[LatentStats]:
    """Latent mean and std of ``options.frames`` evenly spaced frames of the context's data."""
    from eegmi.models.adapter import adapt

    if context.loaded is None:
        raise ConfigError("latent statistics need a model")
    frames = recipe_frames(context, options.frames, spread="even")
    if frames is None:
        raise ConfigError("latent statistics need a dataset with frames")
    adapter = adapt(context.loaded)
    z = yield from latent_codes(adapter, frames, options.batch_size, cancel)
    z64 = z.astype(np.float64)
    return LatentStats(z64.mean(axis=0).astype(np.float32), z64.std(axis=0).astype(np.float32),
                       int(z.shape[0]), float(options.half_range), adapter.latent_hook)


def latent_summary(stats: LatentStats) -> dict[str, Any]:
    """Frames, latent hook, per-dimension mean, std and slider range."""
    lo, hi = stats.ranges()
    return {"n_frames": stats.n_frames, "latent": stats.latent, "half_range": stats.half_range,
            "mean": [float(v) for v in stats.mean], "std": [float(v) for v in stats.std],
            "range_low": [float(v) for v in lo], "range_high": [float(v) for v in hi]}


LATENT_STATS = register(Recipe("latent_stats", LatentStatsOptions, run_latent_stats,
                               latent_summary))
