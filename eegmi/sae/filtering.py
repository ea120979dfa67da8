"""Activation filtering before SAE training (seed 003, after Gorton 2024).

Background positions (e.g. outside the head, or flat regions of a topomap)
give many near-identical activation vectors that an SAE would spend features
on.  Each heuristic scores every vector and keeps the top fraction:

- ``magnitude``: L2 norm of the vector;
- ``maximum``: its largest entry;
- ``median``: its median entry;
- ``active``: number of entries > 0 (ties broken by magnitude);
- ``gradcam``: Grad-CAM weight of the vector's spatial position (needs
  per-position vectors of a spatial layer; see ``activations.collect_activations``).

A spec string ``"magnitude:0.5"`` keeps the top 50% by magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eegmi.errors import ConfigError

FILTERS = ("magnitude", "maximum", "median", "active", "gradcam")


@dataclass
class FilterReport:
    """What a filter kept.

    Attributes
    ----------
    method, keep
        Heuristic and requested top fraction.
    mask
        ``(N,)`` bool, True for kept vectors.
    kept_fraction
        Fraction of vectors kept.
    position_map
        ``(H, W)`` fraction of frames in which each position was kept (spatial
        mode), else None.
    """

    method: str
    keep: float
    mask: np.ndarray
    kept_fraction: float
    position_map: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "keep": self.keep,
            "kept": int(self.mask.sum()),
            "total": int(self.mask.size),
            "kept_fraction": self.kept_fraction,
            "position_map": None if self.position_map is None else self.position_map.round(4).tolist(),
        }


def parse_filter(spec: str) -> tuple[str, float]:
    """Parse ``"method:fraction"`` (fraction in (0, 1]; ``"method"`` alone keeps 0.5)."""
    method, _, frac = spec.partition(":")
    method = method.strip().lower()
    if method not in FILTERS:
        raise ConfigError(f"unknown activation filter {method!r}; use one of {', '.join(FILTERS)}")
    try:
        keep = float(frac) if frac else 0.5
    except ValueError:
        raise ConfigError(f"filter fraction {frac!r} is not a number (e.g. magnitude:0.5)") from None
    if not 0 < keep <= 1:
        raise ConfigError(f"filter fraction must be in (0, 1], got {keep}")
    return method, keep


def filter_scores(x: np.ndarray, method: str, gradcam: np.ndarray | None = None) -> np.ndarray:
    """Score each vector of ``x (N, d)``; larger is kept first. Returns ``(N,)`` float64."""
    if method == "magnitude":
        return np.linalg.norm(x, axis=1).astype(np.float64)
    if method == "maximum":
        return x.max(axis=1).astype(np.float64)
    if method == "median":
        return np.median(x, axis=1).astype(np.float64)
    if method == "active":
        norm = np.linalg.norm(x, axis=1).astype(np.float64)
        # fractional tie-break keeps counts ordered while preferring larger vectors among equals
        return (x > 0).sum(axis=1) + 0.5 * norm / (norm.max() + 1e-12)
    if method == "gradcam":
        if gradcam is None:
            raise ConfigError("Grad-CAM filtering needs a model and per-position vectors of a spatial "
                              "layer; it does not apply to a raw activation matrix or flattened layers")
        return np.asarray(gradcam, dtype=np.float64)
    raise ConfigError(f"unknown activation filter {method!r}; use one of {', '.join(FILTERS)}")


def filter_activations(
    x: np.ndarray,
    method: str,
    keep: float,
    gradcam: np.ndarray | None = None,
    position: np.ndarray | None = None,
    frame: np.ndarray | None = None,
    spatial_shape: tuple[int, int] | None = None,
) -> FilterReport:
    """Keep the top ``keep`` fraction of vectors ``x (N, d)`` by a heuristic.

    Parameters
    ----------
    gradcam
        ``(N,)`` per-vector Grad-CAM weights (required for ``"gradcam"``).
    position, frame, spatial_shape
        ``(N,)`` flat position and frame of each vector and the layer's ``(H, W)``;
        when given, the report carries the per-position keep map.
    """
    if not 0 < keep <= 1:
        raise ConfigError(f"filter fraction must be in (0, 1], got {keep}")
    scores = filter_scores(x, method, gradcam)
    n = scores.size
    n_keep = max(1, int(round(keep * n)))
    # stable sort: equal scores keep the earlier vector, so the result is deterministic
    order = np.argsort(-scores, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:n_keep]] = True
    pos_map = None
    if position is not None and spatial_shape is not None:
        h, w = spatial_shape
        n_frames = len(np.unique(frame)) if frame is not None else max(1, n // (h * w))
        counts = np.bincount(position[mask], minlength=h * w)[: h * w]
        pos_map = (counts / n_frames).reshape(h, w)
    return FilterReport(method=method, keep=keep, mask=mask, kept_fraction=float(mask.mean()),
                        position_map=pos_map)
