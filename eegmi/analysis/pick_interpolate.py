"""The pick & interpolate test, invariant to the latent basis, with its controls.

Seed paper 000's target algorithm: the network *picks* the electrode values from the
input image into its latents and *interpolates* them with the known topomap operator.
A VAE's objective has no preferred latent axes, so the test must not depend on them:
a network that is exactly pick & interpolate but whose latents are rotated is the same
mechanism.  On held-out inputs (see :mod:`eegmi.analysis.inputs`) the headline is

(a) **pick**: cross-validated affine read-out of the true electrode values from the
    latents (OLS, blocked folds, see :mod:`eegmi.analysis.readout`): R² per
    electrode and its mean.  Alone it is weak evidence: any encoder that keeps the
    information, even an untrained one, is read out well.
(b) **interpolate**: the share of the model's output (head-disc pixels) explained by
    the topomap operator applied to that out-of-fold read-out, up to a constant image,
    ``1 - Σ(out - mean out - O(x̂ - mean x̂))² / Σ(out - mean out)²``; no parameter is
    fitted to the output.
    This is the mechanism score: it needs both a latent space that carries the
    electrode values and a decoder that is the operator.
(c) **alignment**: held-out canonical correlations between latents and electrode
    values (cosines of the principal angles between the two spaces); summary
    ``Σ max(ρ, 0)² / n``, the share of the ``n`` electrode-space dimensions the
    latents carry, each dimension counted equally whatever its variance.  With
    ``d < n`` latents (E4/E5: 27) at most ``d / n`` is reachable.

All three are invariant to invertible affine maps of the latents.  The per-axis
Hungarian score (:mod:`eegmi.analysis.axis_alignment`) is reported beside them as
"axis alignment".  A decoder-only model (E1) has no encoder: its "latent" is its
input, so its pick is trivially exact and its interpolate is its reconstruction R²
(without the output's mean bias); it is flagged, not like-for-like with the VAEs.

Every result carries four controls (:mod:`eegmi.analysis.pick_controls`) scored on
the same inputs: the exact network (≈ 1 everywhere), the same with rotated latents
(≈ 1 on the headline, low axis alignment), the untrained architecture and PCA-``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eegmi.analysis.axis_alignment import AxisAlignment, axis_alignment
from eegmi.analysis.pick_options import HEADLINE_BAR, SHARED_RHO, PickInterpolateOptions
from eegmi.analysis.propagation import forward_cache, propagation
from eegmi.analysis.readout import (
    blocked_folds,
    cv_readout,
    heldout_canonical,
    numerical_rank,
    output_r2,
    r2_columns,
)
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter, adapt


@dataclass
class NetworkScore:
    """The basis-invariant headline and the axis alignment of one network.

    Attributes
    ----------
    role
        ``"model"`` or a control role (``"exact"``, ``"rotated"``, ``"untrained"``, ``"pca"``).
    latent_rank
        Numerical rank of the (standardised) latents over the inputs.
    pick_r2
        ``(n,)`` cross-validated R² of each electrode's read-out.
    interpolate
        Output share explained by the operator applied to the read-out.
    reconstruction_r2
        Output share explained by the operator applied to the *true* values.
    canonical
        ``(m,)`` held-out canonical correlations latents / electrodes.
    axis
        The per-axis (Hungarian) score.
    """

    label: str
    role: str
    description: str
    latent_name: str
    latent_dim: int
    latent_rank: int
    n_electrodes: int
    pick_r2: np.ndarray
    interpolate: float
    reconstruction_r2: float
    canonical: np.ndarray
    axis: AxisAlignment

    @property
    def pick(self) -> float:
        """Mean pick R² over electrodes."""
        return float(np.nanmean(self.pick_r2))

    @property
    def alignment(self) -> float:
        """``Σ max(ρ, 0)² / n``: share of the electrode dimensions the latents carry."""
        return float((np.clip(self.canonical, 0.0, 1.0) ** 2).sum() / self.n_electrodes)

    @property
    def shared_dims(self) -> int:
        """Canonical pairs with held-out correlation ≥ :data:`SHARED_RHO`."""
        return int((self.canonical >= SHARED_RHO).sum())

    @property
    def headline_passed(self) -> bool:
        """Pick and interpolate both reach :data:`HEADLINE_BAR`."""
        return self.pick >= HEADLINE_BAR and self.interpolate >= HEADLINE_BAR

    def row(self) -> dict[str, Any]:
        return {
            "network": self.label, "role": self.role, "latent_dim": self.latent_dim,
            "latent_rank": self.latent_rank, "pick_r2": self.pick,
            "interpolate": self.interpolate, "alignment": self.alignment,
            "alignment_ceiling": min(self.latent_rank, self.n_electrodes) / self.n_electrodes,
            "shared_dims": self.shared_dims, "axis_alignment": self.axis.score,
            "reconstruction_r2": self.reconstruction_r2,
        }

    def to_json(self, ch_names: tuple[str, ...]) -> dict[str, Any]:
        return {**self.row(), "description": self.description, "latent_name": self.latent_name,
                "pick_r2_per_electrode": dict(zip(ch_names, map(float, self.pick_r2), strict=True)),
                "canonical_correlations": [float(r) for r in self.canonical],
                "axis": self.axis.to_json(ch_names)}


@dataclass
class PickInterpolateResult:
    """The pick & interpolate test of one model with its controls.

    Attributes
    ----------
    model
        The model's own score.
    controls
        Control scores, same inputs.
    inputs
        ``InputSet.to_json()`` of the inputs used (with its ``description``).
    notes
        Caveats that apply to this model (decoder-only, fewer latents than electrodes).
    """

    label: str
    ch_names: tuple[str, ...]
    kind: str
    model: NetworkScore
    controls: list[NetworkScore]
    inputs: dict[str, Any]
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    input_kind: str = "image"

    @property
    def decoder_only(self) -> bool:
        """True for a model whose input is the electrode vector (E1): not like-for-like."""
        return self.input_kind == "values"

    def control(self, role: str) -> NetworkScore | None:
        return next((c for c in self.controls if c.role == role), None)

    def row(self) -> dict[str, Any]:
        """One row of the across-models table: the model's figures and the controls' headline."""
        out = {"model": self.label, "kind": "decoder-only" if self.decoder_only else "vae",
               **{k: v for k, v in self.model.row().items() if k not in ("network", "role")}}
        for c in self.controls:
            out[f"{c.role}_interpolate"] = c.interpolate
            out[f"{c.role}_axis_alignment"] = c.axis.score
        return out

    def to_json(self) -> dict[str, Any]:
        return {"analysis": "pick-interpolate", "model": self.label, "kind": self.row()["kind"],
                "inputs": self.inputs, "options": self.options, "notes": list(self.notes),
                "headline_bar": HEADLINE_BAR,
                "score": self.model.to_json(self.ch_names),
                "controls": {c.role: c.to_json(self.ch_names) for c in self.controls}}

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s in [self.model, *self.controls]:
            out[f"{s.role}/pick_r2"] = s.pick_r2
            out[f"{s.role}/canonical"] = s.canonical
            out[f"{s.role}/axis_assignment"] = s.axis.assignment
        return out


def interpolate_share(outputs: np.ndarray, values: np.ndarray, op_matrix: np.ndarray) -> float:
    """Share of the output variance the operator explains from electrode values, up to a
    constant image: ``1 - Σ(y - ȳ - O(v - v̄))² / Σ(y - ȳ)²``.

    The mean image is a bias, not part of the mechanism: a network that carries only some
    electrode directions may fill the others with any constant (the affine read-out
    predicts their mean), which changes its output by a constant image only.

    Parameters
    ----------
    outputs
        ``(N, P)`` model output pixels.
    values
        ``(N, n)`` electrode values (the read-out).
    op_matrix
        ``(P, n)`` operator rows of the same pixels.
    """
    v = np.asarray(values, dtype=np.float64)
    y = np.asarray(outputs, dtype=np.float64)
    return output_r2(y - y.mean(axis=0), (v - v.mean(axis=0)) @ np.asarray(op_matrix).T)


def _latent_hook(model: Any) -> str:
    hooks = set(model.hook_names())
    latent = "latent.mu" if "latent.mu" in hooks else "latent.z"
    if latent not in hooks or "out" not in hooks:
        raise ConfigError("pick & interpolate needs hook points 'latent.mu' (or 'latent.z') and 'out'")
    return latent


def score_network(
    model: Any,
    pipeline: ModelAdapter,
    values: np.ndarray,
    label: str = "model",
    role: str = "model",
    description: str = "",
    folds: int = 5,
    latent_matrix: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    batch_size: int = 256,
    cancel: CancelToken | None = None,
) -> Job[NetworkScore]:
    """Score one network on given inputs (a job generator).

    Parameters
    ----------
    values
        ``(N, n)`` scaled electrode values, in the order the folds block them.
    latent_matrix
        ``(n, d)`` one-hot responses for the axis alignment (else a propagation runs).
    mask
        ``(H, W)`` bool pixels scored (default the operator's head disc).
    """
    latent = _latent_hook(model)
    x = np.asarray(values, dtype=np.float32)
    n = pipeline.n_electrodes
    if x.ndim != 2 or x.shape[1] != n:
        raise ConfigError(f"inputs must be (N, {n}), got {x.shape}")
    test_folds = blocked_folds(x.shape[0], folds)
    if latent_matrix is None:
        prop = yield from propagation(model, pipeline, (1.0,), names=[latent], cancel=cancel)
        if prop.latent_matrix is None:  # _latent_hook found the hook, so propagation fills it
            raise ConfigError(f"no one-hot responses at {latent!r}")
        latent_matrix = prop.latent_matrix
    was_training = model.training
    model.eval()
    try:
        acts = yield from forward_cache(model, pipeline, x, [latent, "out"], batch_size, cancel)
    finally:
        model.train(was_training)
    z = acts[latent].reshape(x.shape[0], -1).astype(np.float64)
    if z.shape[1] != np.shape(latent_matrix)[1]:
        raise ConfigError(f"latent matrix has {np.shape(latent_matrix)[1]} latents, "
                          f"the model has {z.shape[1]}")
    op = pipeline.operator
    pix = np.asarray(op.head_mask if mask is None else mask, dtype=bool).reshape(-1)
    y = acts["out"].reshape(x.shape[0], -1)[:, pix].astype(np.float64)
    o = np.asarray(op.matrix, dtype=np.float64)[pix]
    xd = x.astype(np.float64)
    x_hat = cv_readout(z, xd, test_folds)
    score = NetworkScore(
        label=label, role=role, description=description, latent_name=latent,
        latent_dim=int(z.shape[1]), latent_rank=numerical_rank(z), n_electrodes=n,
        pick_r2=r2_columns(xd, x_hat), interpolate=interpolate_share(y, x_hat, o),
        reconstruction_r2=output_r2(y, xd @ o.T), canonical=heldout_canonical(z, xd, test_folds),
        axis=axis_alignment(np.asarray(latent_matrix, np.float64), z, y, xd, o),
    )
    yield Progress(1, 1, f"{label}: interpolate {score.interpolate:.3f}")
    return score


def model_notes(decoder_only: bool, latent_dim: int, n: int) -> list[str]:
    """Caveats of a model's figures, one line each (``decoder_only``: the model's input is
    the electrode vector, ``ModelAdapter.takes_values``)."""
    notes = []
    if decoder_only:
        notes.append("decoder-only model: its latent is its input, so pick is trivially exact and "
                     "interpolate is its reconstruction R² (without the mean bias); not like-for-like "
                     "with the VAEs")
    if latent_dim < n:
        notes.append(f"{latent_dim} latents < {n} electrodes: at most {latent_dim} electrode "
                     f"dimensions can be carried (alignment ≤ {latent_dim / n:.3f}); compare with "
                     f"PCA-{latent_dim}, the best {latent_dim}-dimensional linear code")
    return notes


def pick_interpolate(
    loaded: Any,
    options: PickInterpolateOptions | None = None,
    latent_matrix: np.ndarray | None = None,
    label: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[PickInterpolateResult]:
    """The pick & interpolate test of one loaded model and its controls (a job generator).

    Parameters
    ----------
    loaded
        A ``LoadedModel`` (model, config, operator, scaler, card).
    options
        Inputs, folds, controls (default :class:`PickInterpolateOptions()`).
    latent_matrix
        ``(n, d)`` one-hot latent responses if already computed (the GUI's propagation).
    """
    from eegmi.analysis.inputs import analysis_inputs
    from eegmi.analysis.pick_controls import control_networks

    options = options or PickInterpolateOptions()
    label = label or str(getattr(loaded, "name", "model"))
    pipe = adapt(loaded)
    inputs = analysis_inputs(loaded, options.inputs)
    own = yield from score_network(loaded.model, pipe, inputs.values, label=label, role="model",
                                   description=f"{label} ({pipe.kind})",
                                   latent_matrix=latent_matrix, folds=options.folds,
                                   batch_size=options.batch_size, cancel=cancel)
    controls = []
    if options.controls:
        for c in control_networks(loaded, pipe, options.inputs, options.pca_frames):
            if cancel is not None:
                cancel.raise_if_cancelled()
            controls.append((yield from score_network(
                c.model, c.pipeline, inputs.values, label=c.label, role=c.role,
                description=c.description, folds=options.folds, batch_size=options.batch_size,
                cancel=cancel)))
    notes = model_notes(pipe.takes_values, own.latent_dim, pipe.n_electrodes)
    flat = int((np.ptp(inputs.values, axis=0) == 0).sum())
    if flat:
        notes.append(f"{flat} electrode(s) constant over the inputs (clipped by the model's "
                     "scaler?): their pick R² is undefined and left out of the mean")
    return PickInterpolateResult(
        label=label, ch_names=pipe.ch_names, kind=pipe.kind, model=own, controls=controls,
        inputs=inputs.to_json(), options=options.to_json(), notes=notes,
        input_kind=pipe.input_kind)


def compare_models(
    models: Sequence[tuple[str, Any]],
    options: PickInterpolateOptions | None = None,
    cancel: CancelToken | None = None,
) -> Job[list[PickInterpolateResult]]:
    """The pick & interpolate test across models (e.g. E1..E5), same options for all.

    Parameters
    ----------
    models
        ``(label, LoadedModel)`` pairs.

    Returns (as the job's result)
    -----------------------------
    One :class:`PickInterpolateResult` per model; ``[r.row() for r in results]`` is the table.
    """
    results = []
    for i, (label, loaded) in enumerate(models):
        res = yield from pick_interpolate(loaded, options, label=label, cancel=cancel)
        results.append(res)
        yield Progress(i + 1, len(models), f"{label}: interpolate {res.model.interpolate:.3f}")
    return results
