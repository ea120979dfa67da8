"""Axis alignment: does each *latent axis* carry one electrode?

This is the per-axis score the pick & interpolate test used to report as its
headline.  It is kept as a separate, clearly labelled figure because it answers a
different question: not "is the model pick & interpolate?" (see
:mod:`eegmi.analysis.pick_interpolate`, invariant to the latent basis) but "is it
pick & interpolate *in its own latent coordinates*?".  A VAE's objective has no
preferred latent axes, so a low axis alignment says nothing against the mechanism:
an exact pick & interpolate network whose latents are rotated scores low here and
exactly 1 on the basis-invariant test.

Definition:

1. **Assignment.**  The electrode x latent one-hot response matrix ``M (n, d)`` is
   normalised per latent column and latents are assigned to electrodes one-to-one by
   the Hungarian algorithm maximising the summed ``|M|``.  With ``d < n`` (E4/E5: 27)
   ``n - d`` electrodes stay unassigned and count as 0.
2. **Calibration.**  Each assigned electrode value is read off its latent through an
   affine map ``v_e = a_e * mu_k(e) + b_e``, gains fitted by least squares so that
   ``operator @ v + background`` best matches the model's output (head disc) on the
   first half of the inputs; the background is that half's mean output.
3. **Score.**  On the second half, the output R² of ``operator @ v + background``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from eegmi.analysis.readout import output_r2


def assign_latents(latent_matrix: np.ndarray) -> np.ndarray:
    """Hungarian assignment of latent dimensions to electrodes.

    Parameters
    ----------
    latent_matrix
        ``(n, d)`` electrode x latent responses.

    Returns
    -------
    ``(n,)`` int: the latent assigned to each electrode, -1 where none (``d < n``).
    """
    m = np.abs(np.asarray(latent_matrix, dtype=np.float64))
    norms = np.linalg.norm(m, axis=0)
    m = m / np.where(norms > 0, norms, 1.0)[None, :]
    rows, cols = linear_sum_assignment(m, maximize=True)
    out = np.full(m.shape[0], -1, dtype=np.int64)
    out[rows] = cols
    return out


def calibrate(
    latents: np.ndarray, outputs: np.ndarray, op_matrix: np.ndarray, assignment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares gains of the assigned latents, plus a background image.

    Solves ``min Σ_s ||y_s - ȳ - O diag(gain) (m_s - m̄)||²`` (normal equations with
    ``G = OᵀO``, never the ``N*P x m`` design matrix).

    Parameters
    ----------
    latents
        ``(N, d)`` latent vectors.
    outputs
        ``(N, P)`` model output pixels (masked, flattened).
    op_matrix
        ``(P, n)`` operator rows of the same pixels.
    assignment
        ``(n,)`` latent per electrode, -1 unassigned.

    Returns
    -------
    gain, offset
        ``(n,)`` each, ``v_e = gain_e * mu_k(e) + offset_e``; 0 for unassigned electrodes.
    background
        ``(P,)`` mean output, added to ``O @ v``.
    """
    e_idx = np.flatnonzero(assignment >= 0)
    m = latents[:, assignment[e_idx]].astype(np.float64)  # (N, m)
    m_mean = m.mean(axis=0)
    mc = m - m_mean
    y = outputs.astype(np.float64)
    background = y.mean(axis=0)
    o = op_matrix[:, e_idx].astype(np.float64)  # (P, m)
    q = (y - background) @ o  # (N, m): O^T (y_s - ȳ) per sample
    lhs = (o.T @ o) * (mc.T @ mc)
    rhs = (mc * q).sum(axis=0)
    theta, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    gain = np.zeros(assignment.shape[0])
    offset = np.zeros(assignment.shape[0])
    gain[e_idx] = theta
    offset[e_idx] = -theta * m_mean
    return gain, offset, background


def electrode_values(latents: np.ndarray, assignment: np.ndarray, gain: np.ndarray,
                     offset: np.ndarray) -> np.ndarray:
    """Calibrated electrode estimates ``(N, n)`` from latents ``(N, d)`` (0 where unassigned)."""
    v = np.zeros((latents.shape[0], assignment.shape[0]))
    e_idx = np.flatnonzero(assignment >= 0)
    v[:, e_idx] = latents[:, assignment[e_idx]] * gain[e_idx] + offset[e_idx]
    return v


@dataclass
class AxisAlignment:
    """The per-axis (Hungarian) score of one network.

    Attributes
    ----------
    score
        Held-out output R² of ``operator @ (one calibrated latent per electrode)``.
    assignment
        ``(n,)`` latent per electrode (-1 unassigned).
    gain, offset
        ``(n,)`` affine calibration per electrode.
    electrode_r2
        ``(n,)`` held-out R² of each assigned latent's own affine read-out of its
        electrode (nan unassigned).
    strength
        Mean over assigned electrodes of ``|M[e, k]| / Σ_e' |M[e', k]|`` (1 = each
        assigned latent answers only its electrode).
    """

    score: float
    assignment: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    electrode_r2: np.ndarray
    strength: float

    def to_json(self, ch_names: tuple[str, ...]) -> dict[str, Any]:
        assigned = self.assignment >= 0
        return {
            "score": self.score,
            "strength": self.strength,
            "assigned": int(assigned.sum()),
            "electrode_r2": float(np.nanmean(self.electrode_r2)) if assigned.any() else None,
            "assignment": {name: (int(k) if k >= 0 else None)
                           for name, k in zip(ch_names, self.assignment, strict=True)},
        }


def axis_alignment(latent_matrix: np.ndarray, latents: np.ndarray, outputs: np.ndarray,
                   values: np.ndarray, op_matrix: np.ndarray) -> AxisAlignment:
    """Score one network's latent *axes* as electrodes.

    Parameters
    ----------
    latent_matrix
        ``(n, d)`` one-hot responses of the latents.
    latents
        ``(N, d)`` latents of the inputs.
    outputs
        ``(N, P)`` model output pixels.
    values
        ``(N, n)`` true (scaled) electrode values of the inputs.
    op_matrix
        ``(P, n)`` operator rows of the same pixels.
    """
    mu = np.asarray(latents, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    assignment = assign_latents(latent_matrix)
    half = x.shape[0] // 2
    fit, test = slice(0, half), slice(half, None)
    gain, offset, background = calibrate(mu[fit], outputs[fit], op_matrix, assignment)
    pred = electrode_values(mu[test], assignment, gain, offset) @ op_matrix.T + background
    score = output_r2(outputs[test], pred)
    n = x.shape[1]
    e_r2 = np.full(n, np.nan)
    for e in np.flatnonzero(assignment >= 0):
        k = assignment[e]
        a_fit = np.column_stack([mu[fit, k], np.ones(half)])
        w, *_ = np.linalg.lstsq(a_fit, x[fit, e], rcond=None)
        est = mu[test, k] * w[0] + w[1]
        e_r2[e] = output_r2(x[test, e][:, None], est[:, None])
    absm = np.abs(np.asarray(latent_matrix, dtype=np.float64))
    col = absm.sum(axis=0)
    strength = [absm[e, assignment[e]] / col[assignment[e]] if col[assignment[e]] > 0 else 0.0
                for e in np.flatnonzero(assignment >= 0)]
    return AxisAlignment(score=score, assignment=assignment, gain=gain, offset=offset,
                         electrode_r2=e_r2, strength=float(np.mean(strength)) if strength else 0.0)
