"""Planted sparse features in superposition: a ground truth for checking SAEs."""

from __future__ import annotations

import numpy as np


def planted_features(
    n_samples: int = 8192,
    d: int = 32,
    n_features: int = 64,
    active: float = 3.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Activations built from sparse positive combinations of known unit directions.

    Each sample switches each of ``n_features`` random unit directions on with
    probability ``active / n_features`` (so about ``active`` per sample) with a
    magnitude uniform in [0.5, 1.5]; with ``n_features > d`` the directions are in
    superposition.

    Returns
    -------
    x
        ``(n_samples, d)`` float32 activations.
    directions
        ``(n_features, d)`` float32 unit directions (the ground truth).
    """
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_features, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    on = rng.random((n_samples, n_features)) < active / n_features
    mags = rng.uniform(0.5, 1.5, (n_samples, n_features)) * on
    return (mags @ dirs).astype(np.float32), dirs.astype(np.float32)


def recovery_score(learned: np.ndarray, true: np.ndarray) -> float:
    """Mean over true directions ``(T, d)`` of the best cosine with a learned one ``(F, d)``."""
    a = learned / np.maximum(np.linalg.norm(learned, axis=1, keepdims=True), 1e-12)
    b = true / np.maximum(np.linalg.norm(true, axis=1, keepdims=True), 1e-12)
    return float((b @ a.T).max(axis=1).mean())
