"""Random projections of a stimulus trajectory (seed paper 001, Fig. 4 and 6).

A layer's activations to the ``T`` frames of a moving stimulus form ``A (T, m)``.
Each random projection ``r (m, 3)`` with entries ``N(0, 1/m)`` gives a 3-D
trajectory ``z = A r``.  Its *action* is ``E = 1/2 ∫ ||dz/dt||^2 dt`` with time
scaled so the whole stimulus lasts 1 (finite differences; ``periodic`` adds
the step from the last frame back to the first, right for stimuli that cover
whole turns of their circle).  Smooth codes give small actions.  The expected
action over projections is known in closed form,
``E[E] = dim / (2 m) * Σ_t ||A_{t+1} - A_t||^2 / dt``, and reported beside the
Monte-Carlo mean as a check.  The action scales with the activations'
magnitude, so layers are also compared by the *normalised action*: each
trajectory's action over its mean squared distance from its time average
(scale-free: ``2 pi^2`` for a circle traversed once, about ``T`` for white
noise over ``T`` frames).

*Fraction of input variance explained* (seed Fig. 6d): the stimulus frames
``S (T, k)`` (the flattened model inputs) are regressed linearly, with an
intercept, on the projection ``z (T, 3)``; the fraction is the explained sum
of squares over the total, pooled over all ``k`` input dimensions (a
variance-weighted R^2).  Both numbers are averaged over the projections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eegmi.analysis.activations import as_batches, collect_activations
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress


def random_projections(a: np.ndarray, n_projections: int = 1000, dim: int = 3, seed: int = 0,
                       chunk: int = 64) -> np.ndarray:
    """Trajectories ``z = A r`` for ``n_projections`` random ``r ~ N(0, I/m)`` of shape ``(m, dim)``.

    Parameters
    ----------
    a
        ``(T, m)`` activations, one row per stimulus frame.
    chunk
        Projections drawn per matrix product (bounds memory to ``m * chunk * dim``);
        the draws do not depend on it.

    Returns
    -------
    np.ndarray
        ``(n_projections, T, dim)`` float64.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise DataError(f"expected activations (frames, features), got shape {a.shape}")
    t, m = a.shape
    rng = np.random.default_rng(seed)
    out = np.empty((n_projections, t, dim))
    for start in range(0, n_projections, chunk):
        c = min(chunk, n_projections - start)
        # one (m, dim) matrix per projection, drawn in order so results are chunk-independent
        r = rng.standard_normal((c, m, dim)) / np.sqrt(m)
        out[start:start + c] = np.einsum("tm,cmd->ctd", a, r, optimize=True)
    return out


def action(z: np.ndarray, duration: float = 1.0, periodic: bool = False) -> np.ndarray:
    """Action ``1/2 ∫ ||dz/dt||^2 dt`` of trajectories sampled at equal steps.

    Parameters
    ----------
    z
        ``(..., T, d)`` trajectories.
    duration
        Length of the whole trajectory in time units.
    periodic
        Include the step from the last frame back to the first.

    Returns
    -------
    np.ndarray
        ``(...)`` actions.
    """
    z = np.asarray(z, dtype=np.float64)
    steps = np.diff(z, axis=-2)
    if periodic:
        steps = np.concatenate([steps, z[..., :1, :] - z[..., -1:, :]], axis=-2)
    dt = duration / steps.shape[-2]
    return 0.5 * np.sum(steps**2, axis=(-2, -1)) / dt


def expected_action(a: np.ndarray, dim: int = 3, duration: float = 1.0,
                    periodic: bool = False) -> float:
    """Mean action over random projections ``r ~ N(0, I/m)``, in closed form (see module doc)."""
    a = np.asarray(a, dtype=np.float64)
    return float(action(a[None], duration, periodic)[0]) * dim / a.shape[1]


def explained_input_variance(z: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Fraction of the inputs' variance a linear read-out of each trajectory explains.

    Parameters
    ----------
    z
        ``(P, T, d)`` trajectories (or ``(T, d)``).
    inputs
        ``(T, k)`` stimulus frames, flattened.

    Returns
    -------
    np.ndarray
        ``(P,)`` (or scalar) pooled R^2 of ``inputs ~ 1 + z`` in ``[0, 1]``.
    """
    z = np.asarray(z, dtype=np.float64)
    single = z.ndim == 2
    z = z[None] if single else z
    s = np.asarray(inputs, dtype=np.float64).reshape(z.shape[1], -1)
    sc = s - s.mean(axis=0)
    total = float(np.sum(sc**2))
    if total <= 0:
        raise DataError("the stimulus does not vary: no input variance to explain")
    zc = z - z.mean(axis=1, keepdims=True)
    u, sv, _ = np.linalg.svd(zc, full_matrices=False)
    # directions with no variance (dead units, constant projection) explain nothing
    keep = sv > 1e-10 * np.maximum(sv.max(axis=1, keepdims=True), 1e-300)
    proj = np.einsum("ptd,tk->pdk", u, sc) * keep[..., None]
    frac = np.sum(proj**2, axis=(1, 2)) / total
    return frac[0] if single else frac


@dataclass
class ProjectionResult:
    """Random-projection statistics of one layer.

    Attributes
    ----------
    action_mean, action_std
        Mean and standard deviation of the action over the projections.
    expected_action
        Closed-form mean action (the Monte-Carlo mean estimates it).
    normalized_action
        Mean over projections of action / mean squared distance from the time average.
    explained_mean, explained_std
        Fraction of input variance explained, over the projections.
    examples
        ``(n_examples, T, dim)`` the first trajectories, for plots.
    """

    name: str
    n_features: int
    action_mean: float
    action_std: float
    expected_action: float
    normalized_action: float
    explained_mean: float
    explained_std: float
    examples: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "action": self.action_mean,
                "action_std": self.action_std, "expected_action": self.expected_action,
                "normalized_action": self.normalized_action,
                "explained_variance": self.explained_mean,
                "explained_variance_std": self.explained_std}


def analyze_trajectory(a: np.ndarray, inputs: np.ndarray, name: str = "", *,
                       n_projections: int = 1000, dim: int = 3, seed: int = 0,
                       periodic: bool = True, n_examples: int = 3) -> ProjectionResult:
    """Action and explained input variance of random projections of ``A (T, m)``.

    ``inputs (T, k)`` are the stimulus frames the activations respond to.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 3:
        raise DataError(f"need activations (frames >= 3, features), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"activations of {name or 'the layer'} contain NaN or infinite values")
    if n_projections < 1 or dim < 1:
        raise ConfigError("need at least one projection of at least one dimension")
    z = random_projections(a, n_projections, dim, seed)
    e = action(z, periodic=periodic)
    spread = np.mean(np.sum((z - z.mean(axis=1, keepdims=True)) ** 2, axis=-1), axis=-1)
    ok = spread > 0  # a constant trajectory has no shape to be rough or smooth
    norm = float(np.mean(e[ok] / spread[ok])) if ok.any() else 0.0
    ev = explained_input_variance(z, inputs)
    return ProjectionResult(
        name=name, n_features=int(a.shape[1]), action_mean=float(e.mean()),
        action_std=float(e.std()), expected_action=expected_action(a, dim, periodic=periodic),
        normalized_action=norm,
        explained_mean=float(ev.mean()), explained_std=float(ev.std()),
        examples=z[:n_examples].astype(np.float32))


@dataclass
class ProjectionAnalysis:
    """Random-projection results per layer (``"input"`` first: the stimulus itself)."""

    layers: dict[str, ProjectionResult]
    n_frames: int
    n_projections: int
    dim: int
    stimulus: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"stimulus": self.stimulus, "n_frames": self.n_frames,
                "n_projections": self.n_projections, "dim": self.dim,
                "depth": list(self.layers),
                "action": {n: r.action_mean for n, r in self.layers.items()},
                "normalized_action": {n: r.normalized_action for n, r in self.layers.items()},
                "explained_variance": {n: r.explained_mean for n, r in self.layers.items()},
                "layers": {n: r.to_json() for n, r in self.layers.items()}}


def projection_analysis(
    model: Any,
    images: np.ndarray,
    hook_names: Iterable[str] | None = None,
    *,
    n_projections: int = 1000,
    dim: int = 3,
    seed: int = 0,
    periodic: bool = True,
    batch_size: int = 256,
    stimulus: str = "",
    cancel: CancelToken | None = None,
) -> Job[ProjectionAnalysis]:
    """Random projections of every layer's response to a moving stimulus.

    Parameters
    ----------
    model
        Hooked model (``run_with_cache``); run in eval mode.
    images
        ``(T, H, W)`` or ``(T, 1, H, W)`` stimulus frames as fed to the model, or
        ``(T, n)`` electrode vectors for a decoder-only model.
    hook_names
        Layers; default every hook point.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim not in (2, 4) or x.shape[0] < 3:
        raise DataError("stimulus frames must be (T >= 3, H, W) images or (T >= 3, n) "
                        f"electrode vectors, got shape {np.shape(images)}")
    names = list(hook_names) if hook_names is not None else list(model.hook_names())
    acts = yield from collect_activations(model, as_batches(x, batch_size), names,
                                          cancel=cancel)
    inputs = x.reshape(len(x), -1)
    layers = {"input": inputs, **acts}
    out: dict[str, ProjectionResult] = {}
    for i, (name, a) in enumerate(layers.items()):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield Progress(i, len(layers), f"projections of {name}")
        out[name] = analyze_trajectory(a, inputs, name, n_projections=n_projections, dim=dim,
                                       seed=seed, periodic=periodic)
    return ProjectionAnalysis(out, len(x), n_projections, dim, stimulus)
