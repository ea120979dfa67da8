"""Head-sphere fit and the azimuthal equidistant projection of electrodes to 2-D.

The projection is the one MNE's ``_auto_topomap_coords`` and EEGLearn's
``azim_proj`` use: each electrode is placed at its great-circle (angular)
distance from the vertex of the head sphere, along its azimuth. So the
vertex (near Cz) is the origin, distances along the scalp are preserved
radially, and electrodes below the equator (angle > pi/2) still project
inside a disc rather than folding back.
"""

from __future__ import annotations

import numpy as np

from eegmi.errors import DataError


def fit_head_sphere(pos: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through electrode positions.

    Solves the linear form ``|p|^2 = 2 c.p + (r^2 - |c|^2)`` so the fit is a single
    ``lstsq`` call and exact when the electrodes lie on a sphere (as MNE's
    template montages do).

    Parameters
    ----------
    pos
        ``(n, 3)`` electrode positions, n >= 4, not all in one plane.

    Returns
    -------
    center : np.ndarray
        ``(3,)`` sphere centre, same units as ``pos``.
    radius : float
        Sphere radius.

    Raises
    ------
    DataError
        Too few electrodes, non-finite positions, or a degenerate (planar) layout.
    """
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise DataError(f"electrode positions must have shape (n, 3), got {pos.shape}")
    if pos.shape[0] < 4 or not np.all(np.isfinite(pos)):
        raise DataError("need at least 4 finite electrode positions to fit a head sphere")
    # Centre the data first: the system is better conditioned around the centroid.
    mean = pos.mean(axis=0)
    p = pos - mean
    a = np.c_[2.0 * p, np.ones(len(p))]
    b = np.sum(p * p, axis=1)
    sol, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < 4:
        raise DataError("electrode positions are coplanar; cannot fit a head sphere")
    c = sol[:3]
    r2 = sol[3] + c @ c
    if not np.isfinite(r2) or r2 <= 0:
        raise DataError("electrode positions do not fit a sphere")
    return c + mean, float(np.sqrt(r2))


def azimuthal_equidistant(pos: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Project electrodes onto the plane by azimuthal equidistant projection.

    Parameters
    ----------
    pos
        ``(n, 3)`` head-frame positions (x right, y nose, z up).
    center
        ``(3,)`` head-sphere centre; fitted with :func:`fit_head_sphere` when None.

    Returns
    -------
    np.ndarray
        ``(n, 2)`` float64 ``(x, y)``: x towards the right ear, y towards the nose.
        Units are radians of arc from the vertex (the point straight above
        ``center``), i.e. EEGLearn's ``azim_proj`` and MNE's topomap coordinates
        up to a constant scale; an electrode on the equator is at radius pi/2.
    """
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise DataError(f"electrode positions must have shape (n, 3), got {pos.shape}")
    if center is None:
        center, _ = fit_head_sphere(pos)
    v = pos - np.asarray(center, dtype=np.float64)
    norm = np.linalg.norm(v, axis=1)
    if np.any(norm == 0):
        raise DataError("an electrode sits at the head-sphere centre; cannot project it")
    polar = np.arccos(np.clip(v[:, 2] / norm, -1.0, 1.0))  # arc from the vertex
    azimuth = np.arctan2(v[:, 1], v[:, 0])
    return np.c_[polar * np.cos(azimuth), polar * np.sin(azimuth)]


def inverse_azimuthal_equidistant(xy: np.ndarray) -> np.ndarray:
    """Unit vectors on the sphere for projected points (inverse of the projection).

    Parameters
    ----------
    xy
        ``(m, 2)`` projected coordinates in radians of arc, as returned by
        :func:`azimuthal_equidistant`.

    Returns
    -------
    np.ndarray
        ``(m, 3)`` unit vectors from the sphere centre (x right, y nose, z up).
    """
    xy = np.asarray(xy, dtype=np.float64)
    polar = np.hypot(xy[:, 0], xy[:, 1])
    azimuth = np.arctan2(xy[:, 1], xy[:, 0])
    s = np.sin(polar)
    return np.c_[s * np.cos(azimuth), s * np.sin(azimuth), np.cos(polar)]
