"""Similarity statistics, model-independent baselines and the pass rule of the
saliency sanity check (Adebayo et al. 2018, seed 002).

A saliency method is sane when its maps depend on the model's learned weights.  The
cascading randomisation (:mod:`eegmi.analysis.sanity`) re-initialises the weighted
layers feeding the target, top down, and compares each stage's maps with the trained
model's maps.  Similarity alone has no scale: maps of a method that multiplies by the
input (input x gradient, Integrated Gradients) stay similar to the trained maps simply
because both look like the input.  So every similarity is judged against what a
**model-independent map** of the same input reaches: the input magnitude ``|x|`` and
an edge detector (Sobel gradient magnitude) on the model's input image.

Statistics (per input, over the *compared pixels*: head-disc pixels the injection
passes through to the model; pixels it overwrites, e.g. reference marks, have zero
attribution in every map by construction and would make any two maps look alike):

- ``rank_abs``: Spearman rank correlation of the absolute maps,
- ``rank_signed``: Spearman rank correlation of the signed maps,
- ``ssim``: SSIM of the rank-normalised absolute maps (each map's ``|values|``
  replaced by their rank percentile, so SSIM compares structure, not how peaked a
  method's maps are: two unrelated maps score about 0 whatever their sparsity).

Rank correlations enter as ``|rho|``: a randomised map that is the trained map with its
sign flipped has not changed.  The rule itself is :class:`SanityRule`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# scipy.stats and scipy.ndimage are imported where they are used: the rule's text and
# options are read when the saliency panel is built, and importing scipy.stats there
# took ~3 s of the GUI window's start-up

STATISTICS: tuple[str, ...] = ("rank_abs", "rank_signed", "ssim")
STAT_LABELS = {"rank_abs": "|Spearman| of |maps|", "rank_signed": "|Spearman| of signed maps",
               "ssim": "SSIM of rank-normalised |maps|"}
BASELINES: tuple[str, ...] = ("input magnitude", "Sobel edges")


def rank_normalise(m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` rank percentiles in ``(0, 1]`` of ``|m|`` over ``mask`` (ties averaged), 0 off it."""
    from scipy import stats

    out = np.zeros(m.shape, np.float64)
    vals = np.abs(np.asarray(m, np.float64)[mask])
    out[mask] = stats.rankdata(vals) / max(vals.size, 1)
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.ptp(b) == 0:
        return 0.0
    return float(abs(stats.spearmanr(a, b).statistic))


def similarities(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Similarity of map ``b`` to the reference map ``a``.

    Parameters
    ----------
    a, b
        ``(H, W)`` maps.
    mask
        ``(H, W)`` bool, the compared pixels.

    Returns
    -------
    ``(3,)`` float64 in :data:`STATISTICS` order: ``|rho|`` of ``|a|, |b|``, ``|rho|`` of
    ``a, b`` and SSIM of the rank-normalised absolute maps.  All nan when ``a`` is
    constant over the mask (a dead map has nothing to compare); a constant ``b`` scores
    0 on the rank statistics.
    """
    xa, xb = np.asarray(a, np.float64)[mask], np.asarray(b, np.float64)[mask]
    if np.ptp(xa) == 0:
        return np.full(len(STATISTICS), np.nan)
    ra, rb = rank_normalise(a, mask), rank_normalise(b, mask)
    if np.ptp(np.abs(xb)) == 0:
        rb = np.where(mask, 0.5, 0.0)  # a constant map carries no structure
    ssim = masked_ssim(ra, rb, mask)
    return np.array([_spearman(np.abs(xa), np.abs(xb)), _spearman(xa, xb), float(ssim[mask].mean())])


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray, win: int = 7,
                data_range: float = 1.0) -> np.ndarray:
    """``(H, W)`` local SSIM (Wang et al. 2004, uniform ``win x win`` window, standard
    constants) whose window means, variances and covariance use only ``mask`` pixels.

    Pixels off the mask (outside the head, overwritten by the injection) are the same in
    every map; letting them into the windows would make any two maps look alike there.
    """
    from scipy import ndimage

    w = mask.astype(np.float64)
    a = np.where(mask, a, 0.0).astype(np.float64)
    b = np.where(mask, b, 0.0).astype(np.float64)

    def local(v: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(v, size=win, mode="constant")

    n = np.maximum(local(w), 1e-12)
    mu_a, mu_b = local(a) / n, local(b) / n
    var_a = np.maximum(local(a * a) / n - mu_a ** 2, 0.0)
    var_b = np.maximum(local(b * b) / n - mu_b ** 2, 0.0)
    cov = local(a * b) / n - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
            / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))


def baseline_maps(images: np.ndarray) -> dict[str, np.ndarray]:
    """Model-independent "attribution" maps of the model's input images.

    Parameters
    ----------
    images
        ``(B, H, W)`` the images the model is fed (after the injection layer).

    Returns
    -------
    :data:`BASELINES` name -> ``(B, H, W)``: ``|x|`` and the Sobel gradient magnitude of ``x``.
    """
    from scipy import ndimage

    x = np.asarray(images, np.float64)
    edges = np.hypot(ndimage.sobel(x, axis=1), ndimage.sobel(x, axis=2))
    return {BASELINES[0]: np.abs(x), BASELINES[1]: edges}


@dataclass(frozen=True)
class SanityRule:
    """The pass rule: randomised maps must lose more of the trained maps than a map that
    never saw the model keeps.

    For each statistic, stage and input ``b``: ``d_b = sim(trained_b, randomised_b) -
    base_b`` with ``base_b`` the larger similarity of the two model-independent maps to
    ``trained_b``.  A statistic has **changed** at a stage when the one-sided
    ``confidence`` upper bound (Student t over inputs) of ``mean(d)`` is below ``-margin``
    (clearly less similar than the baseline), or the upper bound of the mean similarity
    itself is below ``floor`` (at most a weak similarity is left: ``floor = 0.2`` is
    under 4% shared rank variance).  The floor matters where the baseline itself is
    near 0 (maps unlike the input): there "as similar as the baseline" means nothing is
    left, which is what randomisation should achieve.  A stage has changed when all
    statistics have.

    A method **passes** when (1) recomputing its trained maps reproduces them
    (``rank_abs`` >= ``1 - margin``: a method whose maps are noise would otherwise pass)
    and (2) the final stage, where no trained weight is left, has changed in each of
    ``draws`` independent re-initialisations (the bounds are over inputs, which share
    one draw; how similar a random network's maps stay varies from draw to draw).  Earlier
    stages still hold trained lower layers, so similarity there may be those layers'
    doing (the model's, legitimately); they are reported as the first stage from which
    every later stage has changed ("sensitive from"), not used to fail a method.
    """

    margin: float = 0.1
    floor: float = 0.2
    confidence: float = 0.95
    draws: int = 3

    def text(self) -> str:
        """The rule in one paragraph, as printed by the CLI and shown by the GUI."""
        pct = f"{100 * self.confidence:g}%"
        return (
            "Each statistic (|Spearman| of |maps|, |Spearman| of signed maps, SSIM of "
            "rank-normalised |maps|; per input, over the head pixels the model sees) is compared "
            "with a model-independent baseline: the higher similarity of the input magnitude or "
            "its Sobel edges to the trained map. A stage has changed when, for every statistic, "
            f"the one-sided {pct} upper bound over inputs of (randomised - baseline) is below "
            f"-{self.margin:g}, or that of the randomised similarity itself is below "
            f"{self.floor:g}. PASS: the trained maps are reproducible and the last stage (every "
            "layer randomised, nothing trained left) has changed in each of "
            f"{self.draws} independent re-initialisations. Earlier stages keep trained "
            "lower layers; the first stage from which all later ones have changed is reported "
            "as 'sensitive from'.")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}

    def _upper(self, v: np.ndarray) -> float:
        from scipy import stats

        v = v[np.isfinite(v)]
        if v.size < 2:
            return float("inf")
        t = float(stats.t.ppf(self.confidence, v.size - 1))
        return float(v.mean() + t * v.std(ddof=1) / np.sqrt(v.size))

    def changed(self, sim: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Which statistics have changed at one stage.

        Parameters
        ----------
        sim
            ``(B, K)`` similarity of each input's randomised map to its trained map.
        base
            ``(B, K)`` the baseline's similarity to the trained map.

        Returns
        -------
        ``(K,)`` bool.
        """
        out = np.zeros(sim.shape[1], bool)
        for k in range(sim.shape[1]):
            below_base = self._upper(sim[:, k] - base[:, k]) < -self.margin
            gone = self._upper(sim[:, k]) < self.floor
            out[k] = below_base or gone
        return out

    def bounds(self, sim: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(K,)`` upper bounds of ``mean(sim - base)`` and of ``mean(sim)`` at one stage."""
        k = sim.shape[1]
        return (np.array([self._upper(sim[:, i] - base[:, i]) for i in range(k)]),
                np.array([self._upper(sim[:, i]) for i in range(k)]))

    def reproducible(self, repeat: np.ndarray) -> bool:
        """Whether ``repeat (B, K)`` (trained maps vs the same maps recomputed) agree."""
        v = repeat[:, 0]
        v = v[np.isfinite(v)]
        return bool(v.size > 0 and v.mean() >= 1.0 - self.margin)


@dataclass
class Verdict:
    """One method's verdict.

    Attributes
    ----------
    passed
        None when the trained maps are constant (nothing to test).
    changed
        ``(n_stages, K)`` bool per stage and statistic.
    sensitive_from
        1-based stage from which every stage has changed, or None.
    reason
        One line: why it passed or failed.
    """

    passed: bool | None
    changed: np.ndarray
    sensitive_from: int | None
    reproducible: bool
    reason: str

    def label(self, layers: list[str]) -> str:
        """``pass``, ``pass from <layer>``, ``FAIL`` or ``n/a``."""
        if self.passed is None:
            return "n/a"
        if not self.passed:
            return "FAIL"
        if self.sensitive_from in (None, 1):
            return "pass"
        return f"pass from {layers[self.sensitive_from - 1]}"


def judge(rule: SanityRule, sim: np.ndarray, base: np.ndarray, repeat: np.ndarray) -> Verdict:
    """Apply ``rule`` to one method.

    Parameters
    ----------
    sim
        ``(n_draws, n_stages, B, K)`` randomised-vs-trained similarities, one cascade per
        independent re-initialisation (``(n_stages, B, K)`` is one draw).
    base
        ``(B, K)`` baseline-vs-trained similarities.
    repeat
        ``(B, K)`` trained maps vs the same maps recomputed.

    A stage/statistic counts as changed only when it has changed in every draw.
    """
    sim = np.asarray(sim, np.float64)
    if sim.ndim == 3:
        sim = sim[None]
    n_draws, n_stages, _, k = sim.shape
    if not np.isfinite(base).any():
        return Verdict(None, np.zeros((n_stages, k), bool), None, True,
                       "trained maps are constant: nothing to test")
    per_draw = np.stack([[rule.changed(d[s], base) for s in range(n_stages)] for d in sim])
    # np.all, not ndarray.all: numpy's stub types ``a.all(axis=...)`` as maybe a scalar
    changed: np.ndarray = np.all(per_draw, axis=0)  # (n_stages, K)
    whole: np.ndarray = np.all(changed, axis=1)  # (n_stages,)
    from_stage = None
    for s in range(n_stages - 1, -1, -1):
        if not whole[s]:
            break
        from_stage = s + 1
    rep = rule.reproducible(repeat)
    if not rep:
        return Verdict(False, changed, from_stage, rep,
                       "recomputing the trained maps does not reproduce them")
    if whole[-1]:
        return Verdict(True, changed, from_stage, rep,
                       f"every statistic changed at the last stage in all {n_draws} draws")
    failed = int((~np.all(per_draw[:, -1], axis=1)).sum())
    mean_sim = np.nanmean(sim[:, -1], axis=(0, 1))
    mean_base = np.nanmean(base, axis=0)
    parts = [f"{STAT_LABELS[STATISTICS[i]]} {mean_sim[i]:.2f} vs baseline {mean_base[i]:.2f}"
             for i in range(k) if not changed[-1, i]]
    return Verdict(False, changed, from_stage, rep,
                   f"with every layer randomised ({failed} of {n_draws} draws), still as similar "
                   f"as the baseline: {'; '.join(parts)}")
