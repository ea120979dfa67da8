"""Eigenspectrum of activation covariance and its power-law exponent.

Follows the Methods of the seed paper (001): PCA of a layer's activations with
the dimensions sub-sampled by taking every ``s``-th one so that at most
``max_dim`` (8000) remain, at most ``max_components`` (1000) components, and a
Huber regression of log explained variance on log component index over
components 10-50 giving the exponent ``alpha`` (eigenvalue ∝ k^-alpha, see
:mod:`eegmi.analysis.powerlaw` for the sign convention).

Variances follow sklearn's ``PCA.explained_variance_`` convention (ddof=1).  The
route is chosen by the shape of the ``(N, m')`` matrix (``d = min(N, m')``):

- ``"exact"`` (``d`` at most 4x the randomized route's components, 400 for the
  seed's window): the float64 ``d x d`` Gram or covariance matrix of the centred
  data and all its eigenvalues (the full spectrum up to ``max_components``);
- ``"randomized"`` (larger ``d``, rows held in memory): the seed's randomized SVD
  of the centred data in **float32**, computing only the top
  ``max(2 * last fitted rank, 100)`` components (at most ``max_components``): the
  fit uses ranks up to 50, and randomized SVD costs in proportion to the
  components asked.  Singular values of the data (not eigenvalues of its
  covariance) keep float32 accurate: eigenvalue errors are ~1e-6 relative on
  ranks 10-50 of E3's layers (the float64 exact route agrees on alpha to 1e-6).
  When the fitted ranks fall below 1e-9 of the largest eigenvalue (beyond
  float32's reach) the same SVD is redone in float64;
- ``"covariance"`` (streamed): past ``2 m'`` rows (when the raw rows would
  outweigh the covariance) rows are folded into a float64 cross-product matrix
  ``X^T X`` (after subtracting a fixed reference row, so the mean does not cancel
  catastrophically) and dropped: memory ``8 m'^2`` bytes however many inputs there
  are (DEAP-scale analyses); eigenvalues exact up to 2048 dimensions, else the
  randomized SVD of the covariance.

``solver="auto"`` picks by shape as above; ``"covariance"`` and ``"randomized"``
force a route.  Component indices are 1-based ranks: the fit range ``(10, 50)``
uses the 10th to the 50th largest eigenvalue inclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg.blas import dsyrk

from eegmi.analysis.powerlaw import (
    SEED_FIT_RANGE,
    FitPolicy,
    PowerLawFit,
    as_policy,
    auto_fit_range,
    effective_rank,
    fit_power_law,
    fit_warnings,
)
from eegmi.errors import ConfigError, DataError

__all__ = ["SEED_FIT_RANGE", "CovarianceAccumulator", "Eigenspectrum", "FitPolicy", "FitSpec",
           "PowerLawFit", "eigenspectrum", "fit_power_law", "spectrum_of_rows", "subsample_stride",
           "top_eigenvalues"]

#: what a fit window may be given as
FitSpec = FitPolicy | tuple[int, int] | str

SOLVERS = ("auto", "covariance", "randomized")
#: the randomized route computes at least this many components
RANDOMIZED_MIN_COMPONENTS = 100
#: held rows take the exact route while min(N, m') <= this many times the randomized components
EXACT_ROWS_MAX_FACTOR = 4


def subsample_stride(n_features: int, max_dim: int | None) -> int:
    """Smallest stride ``s`` leaving at most ``max_dim`` of ``n_features`` dimensions.

    The kept dimensions are ``range(0, m, s)``, ``ceil(m / s)`` of them; ``max_dim``
    None keeps all (``s = 1``).
    """
    if max_dim is None or n_features <= max_dim:
        return 1
    if max_dim < 1:
        raise ConfigError(f"max_dim must be at least 1, got {max_dim}")
    return math.ceil(n_features / max_dim)


@dataclass
class Eigenspectrum:
    """PCA spectrum of one activation matrix.

    ``explained_variance (k,)``: component variances (ddof=1), largest first,
    ``k <= max_components``; ``ratio (k,)`` the same over ``total_variance`` (the
    summed variance of all kept dimensions); ``fit`` None when the power-law fit
    failed (``fit_error`` says why); ``n_samples`` inputs, ``n_features`` original
    dimensions ``m``, ``n_kept = ceil(m / stride)``; ``solver`` the route taken;
    ``effective_rank`` the number of variances above ``policy.rank_rtol`` of the
    largest (``rank_lower_bound``: only the top components were computed and all
    were above it); ``warnings`` reasons not to take ``alpha`` at face value;
    ``extra`` e.g. ``{"eig": "exact" | "randomized"}``.
    """

    explained_variance: np.ndarray
    ratio: np.ndarray
    total_variance: float
    fit: PowerLawFit | None
    n_samples: int
    n_features: int
    n_kept: int
    stride: int
    solver: str
    fit_error: str | None = None
    effective_rank: int = 0
    rank_lower_bound: bool = False
    warnings: list[str] = field(default_factory=list)
    policy: FitPolicy = field(default_factory=FitPolicy)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alpha(self) -> float | None:
        """Decay exponent (eigenvalue ∝ k^-alpha, positive when decaying), None without a fit."""
        return None if self.fit is None else self.fit.alpha

    def to_json(self, spectrum: bool = False) -> dict[str, Any]:
        """Summary dict; ``spectrum=True`` adds the explained variances."""
        out: dict[str, Any] = {
            "alpha": self.alpha, "r2": None if self.fit is None else self.fit.r2,
            "fit": None if self.fit is None else self.fit.to_json(),
            "fit_range_used": None if self.fit is None else list(self.fit.fit_range),
            "fit_range_asked": self.policy.to_json()["fit_range"],
            "effective_rank": self.effective_rank, "rank_lower_bound": self.rank_lower_bound,
            "rank_rtol": self.policy.rank_rtol, "warnings": list(self.warnings),
            "fit_error": self.fit_error, "n_components": int(self.explained_variance.size),
            "total_variance": self.total_variance, "n_samples": self.n_samples,
            "n_features": self.n_features, "n_kept": self.n_kept, "stride": self.stride,
            "solver": self.solver, **self.extra,
        }
        if spectrum:
            out["explained_variance"] = self.explained_variance.tolist()
        return out


class CovarianceAccumulator:
    """Streaming float64 covariance of rows ``(B, m)`` keeping every ``stride``-th dimension.

    The first ``buffer_rows`` rows are kept raw (float32 activations: no more memory than
    the float64 covariance while ``buffer_rows <= 2 m'``): a sample that small ends
    with :func:`spectrum_of_rows` (exact or randomized by shape).  Past that, rows
    are folded into the float64 cross-product sums (``8 m'^2`` bytes) and dropped.
    """

    def __init__(self, n_features: int, stride: int = 1, buffer_rows: int = 0) -> None:
        self.n_features = int(n_features)
        self.stride = int(stride)
        self.n_kept = len(range(0, self.n_features, self.stride))
        self.buffer_rows = int(buffer_rows)
        self.n = 0
        self._rows: list[np.ndarray] = []
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(self.n_kept)
        self._cross: np.ndarray | None = None

    @staticmethod
    def nbytes(n_features: int, stride: int = 1, n_rows: int | None = None) -> int:
        """Memory an accumulator for these dimensions holds (``n_rows`` known: the
        smaller of the float32 rows and the float64 covariance)."""
        k = len(range(0, n_features, stride))
        cov = 8 * k * (k + 2)
        return cov if n_rows is None else min(cov, 4 * int(n_rows) * k)

    @staticmethod
    def buffer_for(n_kept: int) -> int:
        """Rows worth holding raw (float32) before the float64 covariance is cheaper."""
        return 2 * int(n_kept)

    def update(self, batch: np.ndarray, path: str | Path | None = None) -> None:
        """Add rows ``(B, m)`` (already sub-sampled rows ``(B, m')`` are accepted too)."""
        x = np.asarray(batch)
        if x.ndim != 2:
            raise DataError(f"expected a 2-D batch (samples, features), got shape {x.shape}", path)
        if x.shape[1] == self.n_features and self.stride > 1:
            x = x[:, :: self.stride]
        if x.shape[1] != self.n_kept:
            raise DataError(f"batch has {x.shape[1]} features, expected {self.n_features}", path)
        if not np.all(np.isfinite(x)):
            raise DataError("activations contain NaN or infinite values", path)
        if self._cross is None and self.n + x.shape[0] <= self.buffer_rows:
            # activations arrive as float32; wider input keeps its precision
            self._rows.append(np.array(x, dtype=np.result_type(x.dtype, np.float32)))
            self.n += x.shape[0]
            return
        self._flush()
        self._fold(x)
        self.n += x.shape[0]

    def _flush(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self._fold(np.concatenate(rows))

    def _fold(self, rows: np.ndarray) -> None:
        x = rows.astype(np.float64)
        if self._shift is None:
            # a fixed reference row: sums of (x - shift) stay small, so the
            # mean correction at the end does not cancel away the variance
            self._shift = x[0].copy()
            self._cross = np.zeros((self.n_kept, self.n_kept), order="F")
        x -= self._shift
        self._sum += x.sum(axis=0)
        # in-place rank-B update of the upper triangle: half the flops of x.T @ x, no temporary
        self._cross = dsyrk(1.0, x, beta=1.0, c=self._cross, trans=1, lower=0, overwrite_c=1)

    def covariance(self) -> np.ndarray:
        """The ``(m', m')`` covariance with ddof=1."""
        if self.n < 2:
            raise DataError(f"need at least 2 samples for a covariance, got {self.n}")
        self._flush()
        assert self._cross is not None  # n >= 2 rows were added and _flush folded them
        mean = self._sum / self.n
        upper = np.triu(self._cross)
        upper -= np.triu(self.n * np.outer(mean, mean))
        upper += np.triu(upper, 1).T  # mirror the upper triangle dsyrk filled
        upper /= self.n - 1
        return upper

    def spectrum(self, max_components: int = 1000, fit_range: FitSpec = SEED_FIT_RANGE,
                 strict: bool = True, path: str | Path | None = None, seed: int = 0
                 ) -> Eigenspectrum:
        """Spectrum and power-law fit: held rows by :func:`spectrum_of_rows`, a folded
        covariance by :func:`top_eigenvalues`."""
        if self._rows and self._cross is None and self.n >= 2:
            rows, self._rows = self._rows, []
            x = rows[0] if len(rows) == 1 else np.concatenate(rows)
            del rows
            ev, total, how = spectrum_of_rows(x, max_components, _last_rank(fit_range), seed)
            return _finish(ev, total, self.n, self.n_features, self.n_kept, self.stride, how,
                           fit_range, strict, path)
        cov = self.covariance()
        total = float(np.trace(cov))
        # the rank is at most n - 1: asking for more only buys zeros at full cost
        k = min(int(max_components), max(self.n - 1, 1))
        if cov.shape[0] > EXACT_EIG_MAX:
            k = min(k, _randomized_components(max_components, fit_range))
        ev, how = top_eigenvalues(cov, k, seed)
        es = _finish(ev, total, self.n, self.n_features, self.n_kept, self.stride,
                     "covariance", fit_range, strict, path)
        es.extra["eig"] = how
        return es


def _last_rank(fit_range: FitSpec) -> int:
    fr = as_policy(fit_range).fit_range
    return SEED_FIT_RANGE[1] if isinstance(fr, str) else int(fr[1])


def _randomized_components(max_components: int, fit_range: FitSpec) -> int:
    return min(int(max_components), max(2 * _last_rank(fit_range), RANDOMIZED_MIN_COMPONENTS))


def spectrum_of_rows(x: np.ndarray, max_components: int = 1000, last_rank: int = 50,
                     seed: int = 0, route: str = "auto") -> tuple[np.ndarray, float, str]:
    """Top PCA variances of rows held in memory, by the cheapest accurate route.

    Parameters
    ----------
    x
        ``(N, m')`` activations (any float dtype; used as float32 or float64).
    max_components
        At most this many variances.
    last_rank
        Highest rank the fit uses; the randomized route computes
        ``max(2 * last_rank, RANDOMIZED_MIN_COMPONENTS)`` (capped by ``max_components``).
    seed
        Random state of the randomized SVD.
    route
        ``"auto"`` (exact when ``min(N, m')`` is at most ``EXACT_ROWS_MAX_FACTOR``
        times the randomized components, else randomized), ``"exact"`` or ``"randomized"``.

    Returns
    -------
    (variances (k,), total variance, route)
        Variances largest first (ddof=1), the summed variance of all ``m'``
        dimensions, and ``"exact"`` or ``"randomized"``.
    """
    n, m = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    d = min(n, m)
    k = max(1, min(int(max_components), max(2 * int(last_rank), RANDOMIZED_MIN_COMPONENTS), d))
    if route == "auto":
        # the float64 d x d eigenproblem costs ~N d^2 + d^3, the float32 randomized SVD
        # ~16 N m k at half the price per flop: exact while d is within a few k
        route = "exact" if d <= EXACT_ROWS_MAX_FACTOR * k or 2 * k >= d else "randomized"
    if route == "exact":
        xc = np.asarray(x, dtype=np.float64) - mean
        gram = xc @ xc.T if n <= m else xc.T @ xc  # the d x d side
        total = float(np.trace(gram)) / (n - 1)
        del xc
        ev, _ = top_eigenvalues(gram, min(int(max_components), d), seed, exact=True)
        return ev / (n - 1), total, "exact"
    # centred in float64 a block at a time, then float32: a large offset costs no precision
    xc = np.empty((n, m), dtype=np.float32)
    for i in range(0, n, 512):
        xc[i:i + 512] = x[i:i + 512] - mean
    total = sum(float(np.einsum("ij,ij->", c, c)) for c in
                (xc[i:i + 512].astype(np.float64) for i in range(0, n, 512))) / (n - 1)
    s = _rsvd(xc, k, seed)
    ev = s.astype(np.float64) ** 2 / (n - 1)
    if ev[0] > 0 and ev[min(int(last_rank), ev.size) - 1] < 1e-9 * ev[0]:
        # fitted ranks below float32's resolution of the top singular value: redo in float64
        ev = _rsvd(xc.astype(np.float64), k, seed) ** 2 / (n - 1)
    return ev, total, "randomized"


def _rsvd(x: np.ndarray, k: int, seed: int, n_iter: int = 7, oversample: int = 10
          ) -> np.ndarray:
    """Top ``k`` singular values of ``x (N, m)`` by randomized SVD (Halko et al.; the seed's
    solver), in ``x``'s float dtype.

    Seven power iterations, each re-orthonormalised by QR (sklearn's choice for few
    components, kept when ``k`` is a large share of the matrix: ranks near 50 of a
    flat spectrum need them), then the singular values of the small ``(k + 10, m)``
    projection.  Written with torch so it runs on the threads eegmi gives torch
    (sklearn's ``randomized_svd`` goes through scipy's BLAS, whose own threads spin
    on a shared machine); at one thread both take the same time.
    """
    import torch

    a = torch.from_numpy(np.ascontiguousarray(x))
    gen = torch.Generator().manual_seed(int(seed))
    q = a @ torch.randn(a.shape[1], min(k + oversample, min(a.shape)), generator=gen,
                        dtype=a.dtype)
    for _ in range(n_iter):
        q = torch.linalg.qr(q).Q
        q = torch.linalg.qr(a.T @ q).Q
        q = a @ q
    q = torch.linalg.qr(q).Q
    s = torch.linalg.svdvals(q.T @ a)[:k].numpy().astype(np.float64)
    return np.sort(s)[::-1]


#: Above this size a randomized eigensolver replaces the exact one (when few components are wanted).
EXACT_EIG_MAX = 2048


def top_eigenvalues(cov: np.ndarray, k: int, seed: int = 0, exact: bool = False
                    ) -> tuple[np.ndarray, str]:
    """The ``k`` largest eigenvalues of a symmetric PSD ``(m, m)`` matrix, largest first.

    Exact (LAPACK ``syevd`` through torch, several times faster here than scipy's)
    up to ``EXACT_EIG_MAX`` dimensions, when at least half the spectrum is wanted or
    when ``exact``; otherwise randomized SVD of the matrix (singular values of a PSD
    matrix are its eigenvalues), whose ``m^2 k`` cost beats the ``m^3`` tridiagonal
    reduction for ``m`` in the thousands.  The matrix may be overwritten.  Returns
    ``(eigenvalues (k,), "exact" | "randomized")``.
    """
    m = cov.shape[0]
    k = max(1, min(int(k), m))
    if exact or m <= EXACT_EIG_MAX or 2 * k >= m:
        import torch

        evals = torch.linalg.eigvalsh(torch.from_numpy(np.asarray(cov, dtype=np.float64))).numpy()
        return np.clip(evals[::-1][:k], 0.0, None).copy(), "exact"
    return _rsvd(cov, k, seed), "randomized"


def _finish(ev: np.ndarray, total: float, n: int, m: int, kept: int, stride: int, solver: str,
            fit_range: FitSpec, strict: bool, path: str | Path | None) -> Eigenspectrum:
    policy = as_policy(fit_range)
    rank, lower = effective_rank(ev, policy.rank_rtol, max_rank=min(n - 1, kept))
    window = (auto_fit_range(rank, lower) if policy.fit_range == "auto"
              else policy.fit_range)
    fit, err = None, None
    try:
        fit = fit_power_law(ev, window, path=path)  # type: ignore[arg-type]
    except DataError as exc:
        if strict:
            raise
        err = exc.message
    ratio = ev / total if total > 0 else np.zeros_like(ev)
    return Eigenspectrum(explained_variance=ev, ratio=ratio, total_variance=total, fit=fit,
                         n_samples=n, n_features=m, n_kept=kept, stride=stride,
                         solver=solver, fit_error=err, effective_rank=rank,
                         rank_lower_bound=lower,
                         warnings=fit_warnings(fit, err, rank, lower, policy), policy=policy)


def eigenspectrum(
    x: np.ndarray | Iterable[np.ndarray],
    *,
    max_dim: int | None = 8000,
    max_components: int = 1000,
    fit_range: FitSpec = SEED_FIT_RANGE,
    solver: str = "auto",
    seed: int = 0,
    batch_size: int = 4096,
    strict: bool = True,
    path: str | Path | None = None,
) -> Eigenspectrum:
    """PCA eigenspectrum of activations and its power-law exponent.

    Parameters
    ----------
    x
        ``(N, m)`` array, or an iterable of ``(B, m)`` arrays (streamed, memory ``8 m'^2``).
    max_dim, max_components
        Keep every ``s``-th dimension so at most ``max_dim`` remain (None: all);
        compute at most ``max_components`` components (seed: 8000 and 1000).
    fit_range, solver, seed
        Inclusive 1-based ranks of the Huber fit; ``"auto"``, ``"covariance"`` or
        ``"randomized"`` (module docstring); random state of randomized solvers.
    batch_size, strict
        Rows per covariance update of an in-memory array; raise when the fit is
        impossible (else record ``fit_error``).
    """
    if solver not in SOLVERS:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise DataError(f"expected a 2-D array (samples, features), got shape {x.shape}", path)
        n, m = x.shape
        if n < 2:
            raise DataError(f"need at least 2 samples, got {n}", path)
        stride = subsample_stride(m, max_dim)
        kept = len(range(0, m, stride))
        if solver == "randomized" or (solver == "auto" and
                                      n <= CovarianceAccumulator.buffer_for(kept)):
            xs = np.asarray(x[:, ::stride])
            if not np.all(np.isfinite(xs)):
                raise DataError("activations contain NaN or infinite values", path)
            route = "randomized" if solver == "randomized" else "auto"
            ev, total, how = spectrum_of_rows(xs, max_components, _last_rank(fit_range), seed, route=route)
            return _finish(ev, total, n, m, kept, stride, how, fit_range, strict, path)
        batches: Iterable[np.ndarray] = (x[i:i + batch_size] for i in range(0, n, batch_size))
    elif solver == "randomized":
        raise ConfigError("the randomized solver needs an in-memory array, not a stream")
    else:
        batches = x
    acc: CovarianceAccumulator | None = None
    for b in batches:
        b = np.asarray(b)
        if b.ndim != 2:
            raise DataError(f"expected 2-D batches (samples, features), got shape {b.shape}", path)
        if acc is None:
            stride = subsample_stride(b.shape[1], max_dim)
            buffer = (CovarianceAccumulator.buffer_for(len(range(0, b.shape[1], stride)))
                      if solver == "auto" else 0)
            acc = CovarianceAccumulator(b.shape[1], stride, buffer)
        acc.update(b, path)
    if acc is None or acc.n < 2:
        raise DataError(f"need at least 2 samples, got {0 if acc is None else acc.n}", path)
    return acc.spectrum(max_components, fit_range, strict, path, seed)
