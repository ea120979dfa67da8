"""Percentile clipping and [0, 1] scaling of electrode values (paper section 4).

The paper clips to the lower and upper 5 % quantiles "to address issues related
to blinks" and normalises. The bounds are **global over channels**: one
(lo, hi) pair for all electrodes, so the relative amplitudes between electrodes,
i.e. the spatial pattern the topomaps show, are not distorted. They are fitted
on the training split only (the caller passes training values) and stored with
the model so the same transform is re-applied at evaluation and in the GUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from eegmi.errors import DataError

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Above this many values, percentiles are taken on a deterministic row subsample
#: (DEAP is ~10M frames x 32; 2M values estimate a 5 % quantile to ~1e-3 of range).
DEFAULT_MAX_SAMPLES = 2_000_000


@dataclass
class ClipScaler:
    """Clip to ``[lo, hi]`` and map linearly onto ``[0, 1]``.

    Attributes
    ----------
    lo, hi
        Clip bounds in the data's units (the fitted percentiles), ``hi > lo``.
    q_low, q_high
        The percentiles they came from (kept as provenance).
    """

    lo: float
    hi: float
    q_low: float = 5.0
    q_high: float = 95.0

    def __post_init__(self) -> None:
        self.lo = float(self.lo)
        self.hi = float(self.hi)
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            raise DataError(f"scaler bounds must be finite, got lo={self.lo}, hi={self.hi}")
        if not self.hi > self.lo:
            raise DataError(f"flat data: scaler bounds lo={self.lo:g} and hi={self.hi:g} are "
                            "equal, nothing to scale")

    @classmethod
    def fit(cls, values: Any, q_low: float = 5.0, q_high: float = 95.0,
            max_samples: int = DEFAULT_MAX_SAMPLES, seed: int = 0) -> ClipScaler:
        """Fit global percentile bounds on training values.

        Parameters
        ----------
        values
            ``(N, n)`` training electrode values (numpy, memmap or torch); any
            shape works, rows are the first axis.
        q_low, q_high
            Percentiles in [0, 100], ``q_low < q_high``.
        max_samples
            When ``values.size`` exceeds it, the percentiles come from
            ``max_samples // n`` rows drawn without replacement by a fixed-seed
            generator (sorted, so memmaps are read front to back).
        seed
            Seed of that subsample; the fit is deterministic for a given input.

        Returns
        -------
        ClipScaler

        Raises
        ------
        DataError
            Empty, non-finite or flat input, or bad percentiles.
        """
        if not 0.0 <= q_low < q_high <= 100.0:
            raise DataError(f"percentiles must satisfy 0 <= q_low < q_high <= 100, "
                            f"got {q_low}, {q_high}")
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        arr = np.asarray(values)
        if arr.size == 0:
            raise DataError("cannot fit the scaler on empty data")
        if arr.ndim == 0:
            arr = arr.reshape(1)
        per_row = max(1, arr.size // arr.shape[0])
        if arr.size > max_samples:
            n_rows = max(1, max_samples // per_row)
            rows = np.sort(np.random.default_rng(seed).choice(arr.shape[0], n_rows, replace=False))
            arr = arr[rows]
        sample = np.asarray(arr, dtype=np.float64).ravel()
        if not np.all(np.isfinite(sample)):
            raise DataError("cannot fit the scaler: data contain NaN or infinite values")
        lo, hi = np.percentile(sample, [q_low, q_high])
        if not hi > lo:
            raise DataError(f"flat data: the {q_low:g}th and {q_high:g}th percentiles are both "
                            f"{lo:g}, nothing to scale")
        return cls(float(lo), float(hi), float(q_low), float(q_high))

    def transform(self, values: ArrayT) -> ArrayT:
        """Clip and scale.

        Parameters
        ----------
        values
            Array or tensor of any shape, e.g. ``(N, n)``.

        Returns
        -------
        Same type and shape: float32 numpy, or a tensor on the same device
        (float32 unless it was already floating point), values in ``[0, 1]``.
        """
        scale = self.hi - self.lo
        if isinstance(values, torch.Tensor):
            x = values if values.is_floating_point() else values.float()
            return (x.clamp(self.lo, self.hi) - self.lo) / scale
        x = np.asarray(values, dtype=np.float32)
        return ((np.clip(x, self.lo, self.hi) - self.lo) / scale).astype(np.float32, copy=False)

    def inverse(self, x: ArrayT) -> ArrayT:
        """Map scaled values back to data units (clipped values stay at the bounds).

        Parameters
        ----------
        x
            Scaled array or tensor, any shape.

        Returns
        -------
        Same type and shape, ``lo + x * (hi - lo)``.
        """
        scale = self.hi - self.lo
        if isinstance(x, torch.Tensor):
            t = x if x.is_floating_point() else x.float()
            return t * scale + self.lo
        return (np.asarray(x, dtype=np.float32) * scale + self.lo).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form, stored in checkpoints."""
        return {"lo": self.lo, "hi": self.hi, "q_low": self.q_low, "q_high": self.q_high}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipScaler:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        DataError
            Missing or non-numeric bounds, or ``hi <= lo``.
        """
        try:
            return cls(float(d["lo"]), float(d["hi"]), float(d.get("q_low", 5.0)),
                       float(d.get("q_high", 95.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid scaler statistics {d!r} ({exc})") from None
