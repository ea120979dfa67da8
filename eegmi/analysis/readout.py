"""Basis-invariant linear read-outs: cross-validated affine regression and CCA.

The pick & interpolate test asks whether a model's latent space *contains* the
electrode values and whether its output is the topomap operator applied to them.
A VAE's objective has no preferred latent axes, so every quantity here is
invariant to invertible affine maps of the latents ``Z -> Z A + c``:

- the affine read-out is ordinary least squares (OLS) on the centred latents; its
  predictions depend on the latents only through their column space, which an
  invertible ``A`` does not change.  No ridge penalty: a penalty on the coefficients
  is a penalty in the model's own coordinates and would reintroduce a preferred basis
  (a rescaled or sheared latent space would score differently).  Over-fitting is
  controlled instead by cross-validation with enough inputs per coefficient.
- canonical correlations (CCA) are the cosines of the principal angles between the
  centred latent and electrode column spaces, invariant on both sides.

Latents are standardised per column first, so a per-latent scale never decides which
directions count as numerical noise, and directions whose singular value is below
``rtol`` of the largest (float32 rounding of the activations) are dropped.

Folds are contiguous blocks of the inputs in their given order: held-out dataset
frames come in recording order, so temporally adjacent (near-duplicate) frames do
not straddle a fold's training and test parts.
"""

from __future__ import annotations

import numpy as np

from eegmi.errors import ConfigError

#: relative singular value below which a standardised latent direction is float32 noise
RTOL = 1e-5


def blocked_folds(n_samples: int, k: int) -> list[np.ndarray]:
    """``k`` contiguous, nearly equal blocks of ``range(n_samples)`` (the test parts)."""
    if k < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {k}")
    if n_samples < 2 * k:
        raise ConfigError(f"{n_samples} inputs are too few for {k} folds")
    return [np.asarray(f, dtype=np.int64) for f in np.array_split(np.arange(n_samples), k)]


def _basis(a: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whitening of centred data: ``(mean (p,), scale (p,), W (p, r))`` such that
    ``((a - mean) / scale) @ W`` has orthonormal columns over the rows of ``a``.

    Constant columns (dead units) get scale 1 and drop out with the rank.
    """
    mean = a.mean(axis=0)
    c = a - mean
    sd = c.std(axis=0)
    # a column that varies by less than float32 rounding of its own magnitude (or of the
    # largest spread) is constant: standardising it would blow rounding noise up to unit
    # variance and let the read-out fit it
    rms = np.sqrt((a * a).mean(axis=0))
    live = sd > rtol * np.maximum(rms, sd.max(initial=0.0))
    scale = np.where(live, sd, 1.0)
    c = np.where(live, c / scale, 0.0)
    # eigh of the small (p, p) Gram matrix, not an SVD of the (N, p) data: the same
    # directions, and an SVD of a tall matrix is slow next to torch's thread pool
    evals, evecs = np.linalg.eigh(c.T @ c)
    s = np.sqrt(np.clip(evals[::-1], 0.0, None))
    v = evecs[:, ::-1]
    if s.size == 0 or s[0] <= 0:
        return mean, scale, np.zeros((a.shape[1], 0))
    keep = s > rtol * s[0]
    return mean, scale, v[:, keep] / s[keep]


def numerical_rank(a: np.ndarray, rtol: float = RTOL) -> int:
    """Rank of the centred, column-standardised ``(N, p)`` data at tolerance ``rtol``."""
    return int(_basis(np.asarray(a, dtype=np.float64), rtol)[2].shape[1])


def cv_readout(latents: np.ndarray, targets: np.ndarray, folds: list[np.ndarray],
               rtol: float = RTOL) -> np.ndarray:
    """Out-of-fold affine OLS predictions of ``targets`` from ``latents``.

    Parameters
    ----------
    latents
        ``(N, d)``.
    targets
        ``(N, n)`` (e.g. the true electrode values).
    folds
        Test index blocks (:func:`blocked_folds`); each sample is predicted by the fit
        on the other folds.

    Returns
    -------
    ``(N, n)`` float64 predictions.
    """
    z = np.asarray(latents, dtype=np.float64)
    x = np.asarray(targets, dtype=np.float64)
    pred = np.empty_like(x)
    every = np.arange(z.shape[0])
    for test in folds:
        train = np.setdiff1d(every, test, assume_unique=True)
        if train.size <= z.shape[1] + 1:
            raise ConfigError(f"{train.size} training inputs per fold are too few for an affine "
                              f"read-out from {z.shape[1]} latents; use more inputs")
        mean, scale, w = _basis(z[train], rtol)
        zw = ((z[train] - mean) / scale) @ w  # orthonormal columns
        xm = x[train].mean(axis=0)
        coef = zw.T @ (x[train] - xm)
        pred[test] = ((z[test] - mean) / scale) @ w @ coef + xm
    return pred


def r2_columns(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-column ``1 - Σ(y - pred)² / Σ(y - mean y)²`` for ``(N, n)`` arrays (nan if constant)."""
    y = np.asarray(y, dtype=np.float64)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    ss_res = ((y - pred) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def output_r2(y: np.ndarray, pred: np.ndarray) -> float:
    """``1 - Σ(y - pred)² / Σ(y - mean_y)²`` over all entries, the mean taken per column
    (pixel) over samples: the share of the output's variance ``pred`` explains.

    Parameters
    ----------
    y, pred
        ``(N, P)``.
    """
    y = np.asarray(y, dtype=np.float64)
    ss_tot = float(((y - y.mean(axis=0)) ** 2).sum())
    ss_res = float(((y - pred) ** 2).sum())
    if ss_tot <= 0:
        return 1.0 if ss_res == 0 else float("-inf")
    return 1.0 - ss_res / ss_tot


def canonical_correlations(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """In-sample canonical correlations of ``a (N, p)`` and ``b (N, q)``, descending."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ma, sa, wa = _basis(a, rtol)
    mb, sb, wb = _basis(b, rtol)
    m = (((a - ma) / sa) @ wa).T @ (((b - mb) / sb) @ wb)
    return np.clip(np.linalg.svd(m, compute_uv=False), 0.0, 1.0)


def heldout_canonical(a: np.ndarray, b: np.ndarray, folds: list[np.ndarray],
                      rtol: float = RTOL) -> np.ndarray:
    """Cross-validated canonical correlations of ``a (N, p)`` and ``b (N, q)``.

    The canonical directions are fitted on each fold's training part and the
    correlation of each pair of canonical variates is measured on its test part
    (centred there); the spectrum is the mean over folds, in training order, for the
    pairs every fold has.  In-sample CCA of ``p + q`` variables on ``N`` samples is
    biased upwards (by about ``sqrt(p q / N)`` for unrelated data); this is not.

    Returns
    -------
    ``(m,)`` float64, ``m <= min(p, q)``, each in ``[-1, 1]``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    every = np.arange(a.shape[0])
    per_fold = []
    for test in folds:
        train = np.setdiff1d(every, test, assume_unique=True)
        ma, sa, wa = _basis(a[train], rtol)
        mb, sb, wb = _basis(b[train], rtol)
        m = (((a[train] - ma) / sa) @ wa).T @ (((b[train] - mb) / sb) @ wb)
        p, _, qt = np.linalg.svd(m, full_matrices=False)  # small: (r_a, r_b)
        u = ((a[test] - ma) / sa) @ wa @ p
        v = ((b[test] - mb) / sb) @ wb @ qt.T
        u = u - u.mean(axis=0)
        v = v - v.mean(axis=0)
        den = np.sqrt((u * u).sum(axis=0) * (v * v).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_fold.append(np.where(den > 0, (u * v).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0))
    k = min(len(r) for r in per_fold)
    return np.mean([r[:k] for r in per_fold], axis=0)
