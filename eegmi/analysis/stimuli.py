"""Moving stimuli for random-projection analyses (seed paper 001, Fig. 4a).

The seed drives a network with a dot moving along a circle (positions from
``sin`` and ``cos``).  Two EEG versions are offered:

- ``"dipole"``: a dipole-like source travelling round the head.  Each
  electrode's value is a Gaussian of its distance, in the projected (topomap)
  plane, to a centre moving along a circle; the electrode values are then
  rendered through the topomap operator, so the frames look exactly like the
  maps the model was trained on.
- ``"dot"``: a Gaussian blob moving directly over the scalp image (the seed's
  stimulus), masked to the head disc when the operator gives one.

Frames are float32 in ``[baseline, baseline + amplitude]``, the range of the
scaled model inputs (``ClipScaler`` maps data into ``[0, 1]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eegmi.errors import ConfigError

KINDS = ("dipole", "dot")


@dataclass
class Stimulus:
    """A moving stimulus.

    Attributes
    ----------
    kind
        ``"dipole"`` or ``"dot"``.
    images
        ``(T, H, W)`` float32 frames (the model input without injection).
    path
        ``(T, 2)`` centre of the source per frame, in pixel ``(col, row)`` units.
    values
        ``(T, n)`` electrode values for the dipole stimulus, else None.
    """

    kind: str
    images: np.ndarray
    path: np.ndarray
    values: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.images.shape[0])


def circle_path(n_frames: int = 100, center: tuple[float, float] = (0.0, 0.0),
                radius: float = 1.0, cycles: float = 1.0) -> np.ndarray:
    """Points on a circle, one per frame, ``cycles`` turns without repeating the start.

    Returns
    -------
    np.ndarray
        ``(n_frames, 2)`` as ``(center[0] + r cos t, center[1] + r sin t)``.
    """
    if n_frames < 2:
        raise ConfigError(f"a moving stimulus needs at least 2 frames, got {n_frames}")
    t = 2 * np.pi * cycles * np.arange(n_frames) / n_frames
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], axis=1)


def gaussian_blob(points: np.ndarray, centers: np.ndarray, width: float) -> np.ndarray:
    """Gaussian bump ``exp(-d^2 / (2 width^2))`` of each point's distance to each centre.

    Parameters
    ----------
    points
        ``(n, 2)`` positions (electrodes or pixels).
    centers
        ``(T, 2)`` blob centres in the same units.

    Returns
    -------
    np.ndarray
        ``(T, n)`` values in ``(0, 1]``.
    """
    if width <= 0:
        raise ConfigError(f"blob width must be positive, got {width}")
    d2 = ((centers[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-d2 / (2.0 * width**2))


def dipole_stimulus(operator: Any, n_frames: int = 100, radius: float = 0.5,
                    width: float = 0.25, cycles: float = 1.0, amplitude: float = 1.0,
                    baseline: float = 0.0) -> Stimulus:
    """A source travelling round the head, rendered through the topomap operator.

    Parameters
    ----------
    operator
        ``TopomapOperator`` (uses ``electrode_xy (n, 2)`` and ``render``).
    radius, width
        Circle radius and blob width as fractions of the largest electrode
        distance from the electrodes' centre in the projected plane.
    """
    xy = np.asarray(operator.electrode_xy, dtype=np.float64)
    center = xy.mean(axis=0)
    extent = float(np.max(np.linalg.norm(xy - center, axis=1)))
    path = circle_path(n_frames, (float(center[0]), float(center[1])), radius * extent, cycles)
    values = baseline + amplitude * gaussian_blob(xy, path, width * extent)
    images = np.asarray(operator.render(values.astype(np.float32)), dtype=np.float32)
    return Stimulus("dipole", images, path, values.astype(np.float32))


def dot_stimulus(size: int = 40, n_frames: int = 100, radius: float = 0.3, width: float = 0.08,
                 cycles: float = 1.0, amplitude: float = 1.0, baseline: float = 0.0,
                 mask: np.ndarray | None = None) -> Stimulus:
    """A Gaussian dot moving along a circle over the image (the seed's stimulus).

    Parameters
    ----------
    size
        Image side ``H = W``.
    radius, width
        Circle radius and dot width as fractions of the image side.
    mask
        Optional ``(H, W)`` bool; pixels outside are set to ``baseline``.
    """
    c = (size - 1) / 2.0
    path = circle_path(n_frames, (c, c), radius * size, cycles)
    rows, cols = np.mgrid[0:size, 0:size]
    pix = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64)
    images = (baseline + amplitude * gaussian_blob(pix, path, width * size)).reshape(
        n_frames, size, size)
    if mask is not None:
        images = np.where(np.asarray(mask, dtype=bool)[None], images, baseline)
    return Stimulus("dot", images.astype(np.float32), path)


def make_stimulus(kind: str, operator: Any = None, size: int = 40, n_frames: int = 100,
                  **kwargs: Any) -> Stimulus:
    """Build a stimulus by name (``"dipole"`` needs the operator; ``"dot"`` uses its size/mask)."""
    if kind == "dipole":
        if operator is None:
            raise ConfigError("the dipole stimulus needs a topomap operator")
        return dipole_stimulus(operator, n_frames=n_frames, **kwargs)
    if kind == "dot":
        if operator is not None:
            size = int(operator.size)
            kwargs.setdefault("mask", getattr(operator, "head_mask", None))
        return dot_stimulus(size=size, n_frames=n_frames, **kwargs)
    raise ConfigError(f"unknown stimulus {kind!r}; choose one of {', '.join(KINDS)}")
