"""Two models on the same input: reconstructions, matched layers, latents (Qt-free).

The workbench can pin a second model ("B") beside the current one ("A"). This
module holds what the comparison computes, so that the GUI's Compare panel, a
script and the tests read the same numbers:

- :func:`match_layers`: which hook point of B corresponds to which of A. The
  rule is stated with the result (:attr:`LayerMatching.rule`), because a
  comparison of two different architectures is only as good as its pairing.
- :func:`compare_forward`: both forward passes for one input, the difference of
  the reconstructions (A − B inside the head disc), per-layer summaries.
- :func:`canonical_correlations`: a basis-free comparison of two latent codes
  over a set of inputs (latent coordinates of two models are not comparable:
  any rotation of one model's latent space gives an equally good model).
- :func:`compare_spectra`: the eigenspectrum analysis of both models on the same
  inputs, α per matched layer, and the latents' canonical correlations (a job).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eegmi.analysis.spectra_options import SpectraOptions
from eegmi.errors import DataError

#: the defaults of the eigenspectra of two models (:mod:`eegmi.analysis.compare_spectra`):
#: fewer inputs than the full analysis, no untrained null (the Eigenspectra panel has
#: it), no projections, so that it runs in seconds
COMPARE_SPECTRA = SpectraOptions(count=256, null_seeds=0, projections=0)

#: the role of a hook point is its name's prefix (``enc.act1`` -> ``enc``)
ROLE_ORDER = ("input", "enc", "latent", "dec", "out")


@dataclass(frozen=True)
class LayerMatching:
    """Corresponding hook points of two models.

    Attributes
    ----------
    pairs
        ``(name in A or None, name in B or None)`` in A's forward order, then B's
        layers without a counterpart.
    rule
        One line saying how the pairs were made (shown on screen).
    same_names
        Both models have exactly the same hook points.
    """

    pairs: tuple[tuple[str | None, str | None], ...]
    rule: str
    same_names: bool


def _role(name: str) -> str:
    return name.partition(".")[0]


def match_layers(names_a: Sequence[str], names_b: Sequence[str], latent_a: str = "latent.mu",
                 latent_b: str = "latent.mu") -> LayerMatching:
    """Pair the hook points of model A with those of model B.

    Same hook points: matched by name. Otherwise, in this order: the two latent
    hooks (``latent_a`` ↔ ``latent_b``: a VAE's mean against a decoder-only
    model's input vector), then equal names, then the remaining layers of each
    role (``enc``, ``dec``, ...) by their order within the role. Layers left over
    are listed without a counterpart.
    """
    a, b = list(names_a), list(names_b)
    if a == b:
        return LayerMatching(tuple((n, n) for n in a),
                             "same hook points: layers matched by name", True)
    partner: dict[str, str] = {}
    if latent_a in a and latent_b in b:
        partner[latent_a] = latent_b
    taken = set(partner.values())
    for n in a:
        if n not in partner and n in b and n not in taken:
            partner[n] = n
            taken.add(n)
    by_role = 0
    for role in dict.fromkeys(_role(n) for n in a):
        left_a = [n for n in a if _role(n) == role and n not in partner]
        left_b = [n for n in b if _role(n) == role and n not in taken]
        for na, nb in zip(left_a, left_b, strict=False):
            partner[na] = nb
            taken.add(nb)
            by_role += 1
    pairs: list[tuple[str | None, str | None]] = [(n, partner.get(n)) for n in a]
    pairs += [(None, n) for n in b if n not in taken]
    rule = (f"different hook points: latents matched to each other ({latent_a} ↔ {latent_b}), "
            "then equal names" + (", then by role and order" if by_role else "")
            + "; layers of one model only are listed alone")
    return LayerMatching(tuple(pairs), rule, False)


@dataclass(frozen=True)
class LayerPair:
    """One matched pair of activations for one input.

    Attributes
    ----------
    a, b
        Hook names (None: no counterpart).
    shape_a, shape_b
        Per-sample activation shapes (empty tuple when absent).
    rms_a, rms_b
        Root mean square of each activation (NaN when absent): a basis-free size.
    rel_l2
        ``‖a − b‖ / ‖a‖`` for hook points of the same name and shape, else None: a
        pair matched by role (a VAE's mean and a decoder-only model's input vector)
        or of other shapes has no unit-to-unit correspondence to subtract. Even
        for equal names, units correspond only between checkpoints of one training
        run; independently trained networks may hold the same features permuted.
    """

    a: str | None
    b: str | None
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    rms_a: float
    rms_b: float
    rel_l2: float | None

    @property
    def comparable(self) -> bool:
        return self.rel_l2 is not None

    def describe(self) -> str:
        """Why there is no difference, or the difference, in a few words."""
        if self.a is None or self.b is None:
            return "no counterpart"
        if self.rel_l2 is None and self.shape_a != self.shape_b:
            return f"shapes differ ({_shape(self.shape_a)} vs {_shape(self.shape_b)})"
        if self.rel_l2 is None:
            return "matched by role: units do not correspond"
        return f"{self.rel_l2:.4g}"

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "shape_a": list(self.shape_a),
                "shape_b": list(self.shape_b), "rms_a": _num(self.rms_a),
                "rms_b": _num(self.rms_b), "rel_l2": _num(self.rel_l2)}


def _shape(s: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in s) or "–"


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _rms(x: np.ndarray | None) -> float:
    return math.nan if x is None or x.size == 0 else float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def layer_pairs(acts_a: dict[str, np.ndarray], acts_b: dict[str, np.ndarray],
                matching: LayerMatching) -> list[LayerPair]:
    """Summaries of every matched pair (see :class:`LayerPair`)."""
    out = []
    for na, nb in matching.pairs:
        xa = None if na is None else acts_a.get(na)
        xb = None if nb is None else acts_b.get(nb)
        rel = None
        if xa is not None and xb is not None and na == nb and xa.shape == xb.shape:
            norm = float(np.linalg.norm(xa.astype(np.float64)))
            diff = float(np.linalg.norm(xa.astype(np.float64) - xb.astype(np.float64)))
            rel = diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)
        out.append(LayerPair(na, nb, () if xa is None else tuple(xa.shape),
                             () if xb is None else tuple(xb.shape), _rms(xa), _rms(xb), rel))
    return out


def latent_of(result: Any, latent_hook: str) -> np.ndarray | None:
    """The latent vector ``(d,)`` of a forward result: the mean of a VAE, else the hook's value."""
    if getattr(result, "mu", None) is not None:
        return np.asarray(result.mu)
    v = result.activations.get(latent_hook)
    return None if v is None else np.asarray(v).reshape(-1)


@dataclass
class ForwardComparison:
    """Models A and B on one input.

    Attributes
    ----------
    a, b
        Their :class:`eegmi.inference.ForwardResult`.
    difference : (H, W) float32 or None
        ``recon_a − recon_b`` inside A's head disc, 0 outside; None when the two
        reconstructions differ in size.
    diff_range
        ``max |difference|`` (0 for identical reconstructions).
    matching
        The :class:`LayerMatching` used.
    layers
        One :class:`LayerPair` per matched pair.
    latent_a, latent_b : (d,) or None
        The latent vectors (bases not comparable across models: see the norms).
    mask : (H, W) bool
        A's head disc.
    """

    a: Any
    b: Any
    difference: np.ndarray | None
    diff_range: float
    matching: LayerMatching
    layers: list[LayerPair] = field(default_factory=list)
    latent_a: np.ndarray | None = None
    latent_b: np.ndarray | None = None
    mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)

    @property
    def latent_norms(self) -> tuple[float, float]:
        """``(‖z_A‖, ‖z_B‖)`` (NaN for a model without a latent)."""
        return tuple(math.nan if z is None else float(np.linalg.norm(z))  # type: ignore[return-value]
                     for z in (self.latent_a, self.latent_b))

    def recon_mse(self) -> float:
        """Mean squared ``A − B`` inside the head disc (NaN without a difference)."""
        if self.difference is None:
            return math.nan
        return float(np.mean(np.square(self.difference[self.mask])))


def recon_difference(recon_a: np.ndarray, recon_b: np.ndarray,
                     mask: np.ndarray) -> np.ndarray | None:
    """``recon_a − recon_b`` ``(H, W)`` inside ``mask``, 0 outside; None if sizes differ."""
    if recon_a.shape != recon_b.shape or mask.shape != recon_a.shape:
        return None
    return np.where(mask, recon_a - recon_b, 0.0).astype(np.float32)


def compare_forward(inf_a: Any, inf_b: Any, values_a: np.ndarray, values_b: np.ndarray,
                    matching: LayerMatching | None = None) -> ForwardComparison:
    """Run both models (``eegmi.inference.Inference`` objects) on one input.

    Parameters
    ----------
    inf_a, inf_b
        The current and the pinned model's ``Inference``.
    values_a, values_b : (n,)
        The input in each model's scaled electrode space (the same electrodes; a
        dataset frame scaled by each model's own training scaler).
    matching
        Layer pairing (default :func:`match_layers` of the two models' hook points).
    """
    ra = inf_a.forward_values(values_a)
    rb = inf_b.forward_values(values_b)
    if matching is None:
        matching = match_layers(inf_a.hook_names(), inf_b.hook_names(),
                                inf_a.adapter.latent_hook, inf_b.adapter.latent_hook)
    mask = np.asarray(inf_a.operator.head_mask, dtype=bool)
    if ra.recon is None or rb.recon is None:
        raise DataError("both models must produce a reconstruction to be compared")
    diff = recon_difference(ra.recon, rb.recon, mask)
    rng = 0.0 if diff is None else float(np.max(np.abs(diff)))
    return ForwardComparison(
        ra, rb, diff, rng, matching, layer_pairs(ra.activations, rb.activations, matching),
        latent_of(ra, inf_a.adapter.latent_hook), latent_of(rb, inf_b.adapter.latent_hook),
        mask=mask)


def canonical_correlations(x: np.ndarray, y: np.ndarray, rel_tol: float = 1e-6) -> np.ndarray:
    """Canonical correlations of two sets of codes of the same inputs.

    Parameters
    ----------
    x : (N, p), y : (N, q)
        Rows are the same N inputs.
    rel_tol
        Directions whose singular value is below ``rel_tol`` × the largest are
        dropped (a collapsed latent unit carries no variance to correlate).

    Returns
    -------
    (k,) float64, descending, in [0, 1]; ``k = min(rank x, rank y)``. Invariant to
    any invertible linear map of either code, which is why it compares latents of
    two models whose bases have nothing to do with each other.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise DataError(f"canonical correlations need (N, p) and (N, q) codes of the same N >= 2 "
                        f"inputs, got {x.shape} and {y.shape}")

    def basis(m: np.ndarray) -> np.ndarray:
        m = m - m.mean(axis=0)
        u, s, _ = np.linalg.svd(m, full_matrices=False)
        keep = s > rel_tol * (s[0] if s.size and s[0] > 0 else 1.0)
        return u[:, keep]

    qx, qy = basis(x), basis(y)
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return np.zeros(0)
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    return np.clip(rho, 0.0, 1.0)[: min(qx.shape[1], qy.shape[1])]


__all__ = ["COMPARE_SPECTRA", "ForwardComparison", "LayerMatching", "LayerPair", "canonical_correlations",
           "compare_forward", "latent_of", "layer_pairs", "match_layers", "recon_difference"]
