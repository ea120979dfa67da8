"""How linear is each layer in the electrode values?

Seed paper 000 (E3 observation 2) reads the encoder as "overall linear": convs,
LeakyReLU and a near-bias-free dense layer.  Two measures test that per hook point:

- **Affine R²**: an ordinary least-squares fit ``act ≈ [x, 1] @ W`` from the input
  electrode vectors ``x (N, n)`` to the flattened activations, fitted on one half of
  the inputs and scored on the other half (so a layer with more units than inputs
  cannot score well by over-fitting).  R² = 1 - SS_res / SS_tot pooled over units
  (high-variance units weigh more; dead units add nothing).
- **Superposition error**: for random sets of k electrodes, the response to the sum
  of their one-hots versus the sum of their single responses (responses relative to
  the zero input), ``||f(Σe) - f(0) - Σ(f(e) - f(0))|| / ||Σ(f(e) - f(0))||``;
  0 for an affine layer.

Inputs are in the model's scaled space: random mixes are uniform in [0, 1] per
electrode (the range ``ClipScaler`` produces), or dataset frames when given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eegmi.analysis.propagation import forward_cache
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter


@dataclass
class LinearityResult:
    """Per-layer linearity measures.

    Attributes
    ----------
    hook_names
        Layers, in model order.
    r2
        name -> held-out R² of the affine fit from electrodes to activations.
    superposition
        name -> ``(len(set_sizes),)`` mean relative superposition error per set size.
    set_sizes
        The k electrodes summed for each superposition entry.
    n_inputs
        Number of input vectors used for the fits (half fit, half scored).
    source
        ``"random"`` or ``"frames"``.
    """

    hook_names: list[str]
    r2: dict[str, float]
    superposition: dict[str, np.ndarray]
    set_sizes: list[int]
    n_inputs: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "analysis": "linearity",
            "source": self.source,
            "n_inputs": self.n_inputs,
            "set_sizes": self.set_sizes,
            "layers": [
                {
                    "layer": name,
                    "r2": self.r2[name],
                    "superposition_error": {str(k): float(e) for k, e in
                                            zip(self.set_sizes, self.superposition[name], strict=True)},
                }
                for name in self.hook_names
            ],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"set_sizes": np.asarray(self.set_sizes)}
        for name in self.hook_names:
            out[f"r2/{name}"] = np.asarray(self.r2[name])
            out[f"superposition/{name}"] = self.superposition[name]
        return out


def affine_r2(x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Held-out R² of a least-squares affine map ``x -> y``.

    Parameters
    ----------
    x_fit, x_test
        ``(N1, n)``, ``(N2, n)`` inputs.
    y_fit, y_test
        ``(N1, D)``, ``(N2, D)`` targets.

    Returns
    -------
    ``1 - SS_res / SS_tot`` pooled over the D outputs (1.0 when y is constant and
    predicted exactly; can be negative for a fit worse than the test mean).
    """
    xf = np.hstack([x_fit, np.ones((x_fit.shape[0], 1))]).astype(np.float64)
    xt = np.hstack([x_test, np.ones((x_test.shape[0], 1))]).astype(np.float64)
    w, *_ = np.linalg.lstsq(xf, y_fit.astype(np.float64), rcond=None)
    res = y_test - xt @ w
    ss_res = float((res ** 2).sum())
    ss_tot = float(((y_test - y_test.mean(axis=0)) ** 2).sum())
    if ss_tot <= 1e-12 * max(1.0, float((y_test ** 2).sum())):
        return 1.0 if ss_res <= 1e-10 * max(1.0, float((y_test ** 2).sum())) else 0.0
    return 1.0 - ss_res / ss_tot


def superposition_sets(n: int, set_sizes: Sequence[int], n_sets: int, seed: int) -> list[np.ndarray]:
    """Random electrode index sets: ``n_sets`` per size, each ``(k,)`` without repeats."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for k in set_sizes:
        if not 2 <= k <= n:
            raise ConfigError(f"superposition set size must be in 2..{n}, got {k}")
        out.extend(rng.choice(n, size=k, replace=False) for _ in range(n_sets))
    return out


def linearity(
    model: Any,
    pipeline: ModelAdapter,
    frames: np.ndarray | None = None,
    n_inputs: int = 256,
    set_sizes: Sequence[int] = (2, 4, 8),
    n_sets: int = 8,
    names: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    cancel: CancelToken | None = None,
) -> Job[LinearityResult]:
    """Affine R² and superposition error per layer (a job generator).

    Parameters
    ----------
    frames
        Optional ``(N, n)`` scaled dataset frames to fit on (a random subset of
        ``n_inputs`` is used); default uniform random mixes in [0, 1].
    n_inputs
        Input vectors for the R² (half fit, half held out); at least ``2 * (n + 1)``.
    set_sizes, n_sets
        Superposition sets: ``n_sets`` random sets of each size.

    Returns (as the job's result)
    -----------------------------
    :class:`LinearityResult`
    """
    n = pipeline.n_electrodes
    if n_inputs < 2 * (n + 1):
        raise ConfigError(f"linearity needs at least {2 * (n + 1)} inputs for {n} electrodes, got {n_inputs}")
    rng = np.random.default_rng(seed)
    if frames is not None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != n:
            raise ConfigError(f"frames must be (N, {n}), got {frames.shape}")
        if frames.shape[0] < n_inputs:
            n_inputs = frames.shape[0] - frames.shape[0] % 2
            if n_inputs < 2 * (n + 1):
                raise ConfigError(f"only {frames.shape[0]} frames; need at least {2 * (n + 1)}")
        x = frames[rng.choice(frames.shape[0], size=n_inputs, replace=False)]
        source = "frames"
    else:
        x = rng.uniform(0.0, 1.0, size=(n_inputs, n)).astype(np.float32)
        source = "random"
    sets = superposition_sets(n, list(set_sizes), n_sets, seed + 1)
    sums = np.zeros((len(sets), n), np.float32)
    for i, s in enumerate(sets):
        sums[i, s] = 1.0
    # one pass: zero, one-hots, superposition sums, fit inputs
    batch = np.concatenate([np.zeros((1, n), np.float32), np.eye(n, dtype=np.float32), sums, x])
    hook_names = list(names) if names is not None else list(model.hook_names())
    was_training = model.training
    model.eval()
    try:
        acts = yield from forward_cache(model, pipeline, batch, hook_names, batch_size, cancel)
    finally:
        model.train(was_training)
    half = n_inputs // 2
    r2: dict[str, float] = {}
    sup: dict[str, np.ndarray] = {}
    for li, name in enumerate(hook_names):
        a = acts[name].reshape(batch.shape[0], -1).astype(np.float64)
        zero, single = a[0], a[1:1 + n] - a[0]
        summed = a[1 + n:1 + n + len(sets)] - zero
        y = a[1 + n + len(sets):]
        r2[name] = affine_r2(x[:half], y[:half], x[half:], y[half:])
        errs = []
        for i, s in enumerate(sets):
            expected = single[s].sum(axis=0)
            denom = np.linalg.norm(expected)
            err = np.linalg.norm(summed[i] - expected)
            errs.append(err / denom if denom > 0 else (0.0 if err == 0 else np.inf))
        per_size = np.asarray(errs).reshape(len(set_sizes), n_sets).mean(axis=1)
        sup[name] = per_size
        yield Progress(li + 1, len(hook_names), f"fit {name}")
    return LinearityResult(hook_names, r2, sup, [int(k) for k in set_sizes], n_inputs, source)
