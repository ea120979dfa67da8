"""The pick & interpolate test: does the model's output equal the known
interpolation operator applied to electrode values it "picked" into its latents?

Definition (seed paper 000's target algorithm, made measurable):

1. **Assignment.**  The electrode x latent one-hot response matrix ``M (n, d)``
   (see :mod:`eegmi.analysis.propagation`) is normalised per latent column (so a
   latent's scale does not matter, only which electrodes it answers), and latents
   are assigned to electrodes one-to-one by the Hungarian algorithm maximising the
   summed ``|M|``.  With ``d < n`` (E4/E5: 27) ``n - d`` electrodes stay unassigned
   and count as 0 below.
2. **Calibration.**  Each assigned electrode value is read off its latent through an
   affine map ``v_e = a_e * mu_k(e) + b_e``.  The ``m`` gains are fitted by least
   squares so that ``operator @ v + background`` best matches the model's *output*
   images (inside the head disc) on one half of the inputs; the background is the
   mean output of that half (a constant image is not part of the mechanism) and
   the offsets make ``v`` zero-mean there.
3. **Score.**  On the other half, ``score = 1 - Σ(out - operator @ v - background)² /
   Σ(out - mean_out)²`` over head pixels (mean per pixel over inputs): the share of
   the output *variance* the operator explains from the assigned latents alone.
   1.0 for an exact pick & interpolate model; near 0 (or negative) when the latents
   do not carry one electrode each.

Two references come with it: ``electrode_r2`` (mean held-out R² of the affine read-out
of each assigned latent against the true electrode value) and ``reconstruction_r2``
(the same output R² for ``operator @ x`` with the true inputs, i.e. how faithful the
model's output is at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from eegmi.analysis.propagation import InputPipeline, forward_cache, propagation
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress


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
    ``G = OᵀO``, never the ``N*P x m`` design matrix).  A constant background (the mean
    output) is not part of the mechanism, so it is fitted freely and the offsets are
    chosen to make the calibrated electrode values zero-mean over the fit set.

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


def output_r2(y: np.ndarray, pred: np.ndarray) -> float:
    """``1 - Σ(y - pred)² / Σ(y - mean_y)²`` with the mean taken per pixel over samples.

    Parameters
    ----------
    y, pred
        ``(N, P)``.
    """
    ss_tot = float(((y - y.mean(axis=0)) ** 2).sum())
    ss_res = float(((y - pred) ** 2).sum())
    if ss_tot <= 0:
        return 1.0 if ss_res == 0 else float("-inf")
    return 1.0 - ss_res / ss_tot


@dataclass
class PickInterpolateResult:
    """Outcome of the pick & interpolate test for one model.

    Attributes
    ----------
    ch_names
        The n electrodes.
    latent_matrix
        ``(n, d)`` one-hot response matrix used for the assignment.
    assignment
        ``(n,)`` latent per electrode (-1 unassigned).
    gain, offset
        ``(n,)`` affine calibration per electrode.
    score
        Held-out output R² explained by ``operator @ calibrated assigned latents``.
    electrode_r2
        ``(n,)`` held-out R² of each assigned latent's read-out vs the true value (nan unassigned).
    reconstruction_r2
        Held-out output R² of ``operator @ true inputs``.
    assignment_strength
        Mean over assigned electrodes of ``|M[e, k]| / Σ_e' |M[e', k]|`` (1 = each
        assigned latent answers only its electrode).
    """

    label: str
    ch_names: tuple[str, ...]
    latent_matrix: np.ndarray
    assignment: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    score: float
    electrode_r2: np.ndarray
    reconstruction_r2: float
    assignment_strength: float
    n_inputs: int

    def row(self) -> dict[str, Any]:
        """One table row (used by the multi-model comparison)."""
        assigned = self.assignment >= 0
        return {
            "model": self.label,
            "latent_dim": int(self.latent_matrix.shape[1]),
            "assigned": int(assigned.sum()),
            "score": self.score,
            "electrode_r2": float(np.nanmean(self.electrode_r2)) if assigned.any() else None,
            "reconstruction_r2": self.reconstruction_r2,
            "assignment_strength": self.assignment_strength,
        }

    def to_json(self) -> dict[str, Any]:
        out = {"analysis": "pick-interpolate", **self.row(), "n_inputs": self.n_inputs}
        out["assignment"] = {
            name: (int(k) if k >= 0 else None) for name, k in zip(self.ch_names, self.assignment, strict=True)
        }
        out["gain"] = [float(g) for g in self.gain]
        out["offset"] = [float(b) for b in self.offset]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"latent_matrix": self.latent_matrix, "assignment": self.assignment,
                "gain": self.gain, "offset": self.offset, "electrode_r2": self.electrode_r2}


def pick_interpolate(
    model: Any,
    pipeline: InputPipeline,
    frames: np.ndarray | None = None,
    n_inputs: int = 256,
    latent_matrix: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    label: str = "model",
    seed: int = 0,
    batch_size: int = 256,
    cancel: CancelToken | None = None,
) -> Job[PickInterpolateResult]:
    """Run the pick & interpolate test on one model (a job generator).

    Parameters
    ----------
    frames
        Optional ``(N, n)`` scaled dataset frames; default uniform mixes in [0, 1].
    n_inputs
        Inputs used (half calibrate, half score).
    latent_matrix
        ``(n, d)`` one-hot responses, if already computed (else a propagation sweep runs).
    mask
        ``(H, W)`` bool pixels scored (default the operator's head disc).

    Returns (as the job's result)
    -----------------------------
    :class:`PickInterpolateResult`
    """
    n = pipeline.n_electrodes
    hooks = set(model.hook_names())
    latent = "latent.mu" if "latent.mu" in hooks else "latent.z"
    if latent not in hooks or "out" not in hooks:
        raise ConfigError("pick & interpolate needs hook points 'latent.mu' (or 'latent.z') and 'out'")
    if latent_matrix is None:
        prop = yield from propagation(model, pipeline, (1.0,), names=[latent], cancel=cancel)
        latent_matrix = prop.latent_matrix
    latent_matrix = np.asarray(latent_matrix, dtype=np.float64)
    if n_inputs < 8:
        raise ConfigError(f"pick & interpolate needs at least 8 inputs, got {n_inputs}")
    rng = np.random.default_rng(seed)
    if frames is not None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != n:
            raise ConfigError(f"frames must be (N, {n}), got {frames.shape}")
        take = min(n_inputs, frames.shape[0])
        x = frames[rng.choice(frames.shape[0], size=take, replace=False)]
    else:
        x = rng.uniform(0.0, 1.0, size=(n_inputs, n)).astype(np.float32)
    was_training = model.training
    model.eval()
    try:
        acts = yield from forward_cache(model, pipeline, x, [latent, "out"], batch_size, cancel)
    finally:
        model.train(was_training)
    mu = acts[latent].reshape(x.shape[0], -1).astype(np.float64)
    if mu.shape[1] != latent_matrix.shape[1]:
        raise ConfigError(f"latent matrix has {latent_matrix.shape[1]} latents, model has {mu.shape[1]}")
    op = pipeline.operator
    pix = np.asarray(op.head_mask if mask is None else mask, dtype=bool).reshape(-1)
    y = acts["out"].reshape(x.shape[0], -1)[:, pix].astype(np.float64)
    o = np.asarray(op.matrix, dtype=np.float64)[pix]
    assignment = assign_latents(latent_matrix)
    half = x.shape[0] // 2
    fit, test = slice(0, half), slice(half, None)
    gain, offset, background = calibrate(mu[fit], y[fit], o, assignment)
    pred = electrode_values(mu[test], assignment, gain, offset) @ o.T + background
    score = output_r2(y[test], pred)
    recon = output_r2(y[test], x[test].astype(np.float64) @ o.T)
    e_r2 = np.full(n, np.nan)
    for e in np.flatnonzero(assignment >= 0):
        k = assignment[e]
        a_fit = np.column_stack([mu[fit, k], np.ones(half)])
        w, *_ = np.linalg.lstsq(a_fit, x[fit, e].astype(np.float64), rcond=None)
        est = mu[test, k] * w[0] + w[1]
        e_r2[e] = output_r2(x[test, e][:, None].astype(np.float64), est[:, None])
    absm = np.abs(latent_matrix)
    col = absm.sum(axis=0)
    assigned = np.flatnonzero(assignment >= 0)
    strength = [absm[e, assignment[e]] / col[assignment[e]] if col[assignment[e]] > 0 else 0.0
                for e in assigned]
    yield Progress(1, 1, "scored")
    return PickInterpolateResult(
        label=label, ch_names=pipeline.ch_names, latent_matrix=latent_matrix, assignment=assignment,
        gain=gain, offset=offset, score=score, electrode_r2=e_r2, reconstruction_r2=recon,
        assignment_strength=float(np.mean(strength)) if strength else 0.0, n_inputs=int(x.shape[0]),
    )


def compare_models(
    models: Sequence[tuple[str, Any, InputPipeline]],
    n_inputs: int = 256,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Job[list[PickInterpolateResult]]:
    """The pick & interpolate test across models (e.g. E1..E5), same inputs for all.

    Parameters
    ----------
    models
        ``(label, model, pipeline)`` triples.

    Returns (as the job's result)
    -----------------------------
    One :class:`PickInterpolateResult` per model; ``[r.row() for r in results]`` is the table.
    """
    results = []
    for i, (label, model, pipe) in enumerate(models):
        res = yield from pick_interpolate(model, pipe, n_inputs=n_inputs, label=label, seed=seed,
                                          cancel=cancel)
        results.append(res)
        yield Progress(i + 1, len(models), f"{label}: score {res.score:.3f}")
    return results
