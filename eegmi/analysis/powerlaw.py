"""Power-law fit of an eigenspectrum, the spectrum's effective rank, and the fit's warnings.

Sign convention: ``eigenvalue_k ∝ k**(-alpha)``, so a decaying spectrum has
``alpha > 0`` and a steeper decay a larger ``alpha`` (Stringer et al. 2019, the
seed's reference 40).  Seed 001 itself plots the log-log *slope*, ``-alpha``: its
dashed line "α = −1" is ``alpha = 1`` here, and its "α ≤ −1" (fast decay) is
``alpha >= 1``.  :attr:`PowerLawFit.slope` gives the seed's number.

The fit is the seed's: a Huber regression of log explained variance on log
component rank over ranks 10-50.  Two things make that number hard to read and
are reported with it (:func:`fit_warnings`):

- the **effective rank** (:func:`effective_rank`): a layer whose activations span
  only ``r`` dimensions (the 40x40 topomaps are linear in 32 electrode values, a
  32-unit latent) has eigenvalues that drop to rounding noise after rank ``r``;
  a window reaching past ``r`` fits that cliff, not a power law.  ``"auto"``
  (:func:`auto_fit_range`) ends the window below it;
- too few fitted points, or a poor ``r2`` of the line.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError

#: the seed's fit window (1-based component ranks, inclusive)
SEED_FIT_RANGE = (10, 50)


@dataclass(frozen=True)
class FitPolicy:
    """How the power law is fitted and when its number is flagged.

    Attributes
    ----------
    fit_range
        Inclusive 1-based ranks ``(first, last)``, or ``"auto"``: the seed's window
        ended below the effective rank (:func:`auto_fit_range`).
    rank_rtol
        Eigenvalues above ``rank_rtol`` times the largest count towards the
        effective rank.  1e-5 sits above float32 rounding (about 1e-7 of the
        largest) and far below any eigenvalue a fit over ranks 10-50 uses.
    warn_points
        Warn when fewer points than this are fitted (the seed's window has 41).
    warn_r2
        Warn when the line's ``r2`` is below this.
    """

    fit_range: tuple[int, int] | str = SEED_FIT_RANGE
    rank_rtol: float = 1e-5
    warn_points: int = 30
    warn_r2: float = 0.9

    def __post_init__(self) -> None:
        fr = self.fit_range
        if isinstance(fr, str):
            if fr != "auto":
                raise ConfigError(f"fit range must be two ranks or 'auto', got {fr!r}")
        else:
            first, last = (int(v) for v in fr)
            if first < 1 or last < first:
                raise ConfigError(f"fit range must be 1 <= first <= last, got {tuple(fr)}")
            object.__setattr__(self, "fit_range", (first, last))
        if not 0.0 < self.rank_rtol < 1.0:
            raise ConfigError(f"rank tolerance must be in (0, 1), got {self.rank_rtol}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit_range"] = self.fit_range if isinstance(self.fit_range, str) else list(self.fit_range)
        return d


def as_policy(fit: FitPolicy | tuple[int, int] | str | None) -> FitPolicy:
    """A :class:`FitPolicy` from a policy, a ``(first, last)`` window, ``"auto"`` or None."""
    if fit is None:
        return FitPolicy()
    if isinstance(fit, FitPolicy):
        return fit
    return FitPolicy(fit_range=fit if isinstance(fit, str) else (int(fit[0]), int(fit[1])))


@dataclass
class PowerLawFit:
    """A power law ``ev_k = exp(intercept) * k**(-alpha)`` fitted on log-log axes (natural logs).

    ``alpha > 0`` for a decaying spectrum; ``slope = -alpha`` is the log-log slope
    (seed 001's α).  ``r2`` is the coefficient of determination of that line over
    the ``n_used`` points (positive variances within the inclusive 1-based ranks
    ``fit_range``); ``n_outliers`` are the points the Huber loss treated as outliers.
    """

    alpha: float
    intercept: float
    r2: float
    n_used: int
    fit_range: tuple[int, int]
    n_outliers: int = 0

    @property
    def slope(self) -> float:
        """Log-log slope, ``-alpha`` (the number seed 001's figures plot)."""
        return -self.alpha

    def predict(self, k: np.ndarray) -> np.ndarray:
        """Fitted explained variance at 1-based ranks ``k`` (any shape)."""
        return np.exp(self.intercept) * np.asarray(k, dtype=float) ** (-self.alpha)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "slope": self.slope, "fit_range": list(self.fit_range)}


def positive_floor(ev: np.ndarray) -> float:
    """Variances at or below this are treated as zero (rounding around an exact zero)."""
    return max(float(np.max(ev, initial=0.0)), 0.0) * 1e-12


def fit_power_law(
    explained_variance: np.ndarray,
    fit_range: tuple[int, int] = SEED_FIT_RANGE,
    epsilon: float = 1.35,
    min_points: int = 5,
    path: str | Path | None = None,
) -> PowerLawFit:
    """Huber regression of log explained variance on log component rank (seed's method).

    Parameters
    ----------
    explained_variance
        ``(k,)`` variances of the principal components, largest first.
    fit_range
        Inclusive 1-based ranks to fit (default 10-50, as in the seed paper).
        When fewer components exist the range is cut at ``k``.
    epsilon
        Huber threshold (scikit-learn's default 1.35).
    min_points
        Fewest usable points (positive variances in range) accepted.
    path
        File named in errors.

    Returns
    -------
    PowerLawFit
        With ``alpha = -slope`` (positive for a decaying spectrum).

    Raises
    ------
    DataError
        Non-finite values or fewer than ``min_points`` usable components.
    """
    from sklearn.linear_model import HuberRegressor

    ev = np.asarray(explained_variance, dtype=np.float64).ravel()
    first, last = int(fit_range[0]), int(fit_range[1])
    if first < 1 or last < first:
        raise ConfigError(f"fit range must be 1 <= first <= last, got {fit_range}")
    if not np.all(np.isfinite(ev)):
        raise DataError("explained variance contains NaN or infinite values", path)
    ranks = np.arange(first, min(last, ev.size) + 1)
    vals = ev[ranks - 1] if ranks.size else ev[:0]
    # components beyond the data's rank are numerical noise around zero
    keep = vals > positive_floor(ev)
    ranks, vals = ranks[keep], vals[keep]
    if ranks.size < min_points:
        raise DataError(
            f"too few components for the power-law fit: {ranks.size} usable in ranks "
            f"{first}-{last} (have {ev.size} components, need {min_points})", path)
    x = np.log(ranks.astype(np.float64))[:, None]
    y = np.log(vals)
    huber = HuberRegressor(epsilon=epsilon, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is checked by r2
        huber.fit(x, y)
    pred = huber.predict(x)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return PowerLawFit(alpha=-float(huber.coef_[0]), intercept=float(huber.intercept_),
                       r2=r2, n_used=int(ranks.size), fit_range=(first, last),
                       n_outliers=int(np.sum(huber.outliers_)))


def effective_rank(explained_variance: np.ndarray, rtol: float = 1e-5,
                   max_rank: int | None = None) -> tuple[int, bool]:
    """Numerical rank of a spectrum: eigenvalues above ``rtol`` times the largest.

    Parameters
    ----------
    explained_variance
        ``(k,)`` variances, largest first (possibly only the top ``k`` of a longer spectrum).
    rtol
        Relative tolerance.
    max_rank
        Known upper bound (``min(n - 1, m')``); when every computed variance is
        above the tolerance and fewer than this were computed, the rank is only
        known to be at least ``k``.

    Returns
    -------
    (rank, lower_bound)
        ``lower_bound`` True when the true rank may exceed ``rank``.
    """
    ev = np.asarray(explained_variance, dtype=np.float64).ravel()
    if ev.size == 0 or not ev[0] > 0:
        return 0, False
    rank = int(np.sum(ev > rtol * ev[0]))
    lower = rank == ev.size and (max_rank is None or ev.size < max_rank)
    return rank, bool(lower)


def auto_fit_range(rank: int, lower_bound: bool = False,
                   seed_range: tuple[int, int] = SEED_FIT_RANGE, min_points: int = 5
                   ) -> tuple[int, int]:
    """The seed's window ended below the effective rank.

    The last rank is ``min(seed last, floor(0.9 * rank))``: the last tenth before a
    rank cliff bends down into it (finite sample, the operator's edge), so it
    is left out too.  The first rank stays the seed's (the top components carry
    the mean structure) unless that leaves fewer than ``min_points`` points, in
    which case it moves down (not below 1).  A rank only known as a lower bound at
    or past the seed's last rank keeps the seed's window.
    """
    first, last = int(seed_range[0]), int(seed_range[1])
    if lower_bound and rank >= last:
        return first, last
    last = max(1, min(last, math.floor(0.9 * rank)))
    if last - first + 1 < min_points:
        first = max(1, last - min_points + 1)
    return first, last


def fit_warnings(fit: PowerLawFit | None, fit_error: str | None, rank: int, lower_bound: bool,
                 policy: FitPolicy) -> list[str]:
    """Human-readable reasons not to take the fitted ``alpha`` at face value (may be empty)."""
    if fit is None:
        return [f"no power-law fit: {fit_error}"] if fit_error else ["no power-law fit"]
    out: list[str] = []
    first, last = fit.fit_range
    if last > rank and not lower_bound:
        out.append(f"fit window {first}-{last} reaches past the effective rank {rank} "
                   f"(eigenvalues beyond it are below {policy.rank_rtol:g} of the largest): "
                   f"it fits the rank cliff, not a power law (the 'auto' fit range stays below it)")
    if fit.n_used < policy.warn_points:
        out.append(f"only {fit.n_used} points fitted (fewer than {policy.warn_points})")
    if fit.r2 < policy.warn_r2:
        out.append(f"poor power-law fit: r2 {fit.r2:.2f} < {policy.warn_r2:g}")
    return out
