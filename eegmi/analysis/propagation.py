"""Signal propagation: how every hook point responds to one-hot electrode signals.

A one-hot signal (seed paper 000) sets one electrode to 1 and the rest to 0 in the
model's *scaled* space (what ``ClipScaler.transform`` produces), so the image the
model sees is ``operator @ one_hot`` (then the injection layer, when the model was
trained with marks/occlusion).  All ``n`` one-hots times all amplitudes, plus the
zero input used as baseline, go through the model in a few batched
``run_with_cache`` calls; every response is the activation minus the zero-input
activation, which removes biases and injection marks so only the signal remains.

:class:`InputPipeline` (electrode vectors -> model input) is shared by the other
analyses in this package (linearity, pick & interpolate, saliency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from eegmi.devices import model_device
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.adapter import ModelAdapter, adapt

#: the input pipeline of a model: :class:`eegmi.models.adapter.ModelAdapter`
InputPipeline = ModelAdapter
#: build it from a ``LoadedModel``
pipeline_for = adapt


def forward_cache(
    model: Any,
    pipeline: InputPipeline,
    values: np.ndarray | torch.Tensor,
    names: Sequence[str],
    batch_size: int = 256,
    cancel: CancelToken | None = None,
) -> Job[dict[str, np.ndarray]]:
    """Run electrode vectors through the model in batches and gather hook activations.

    Parameters
    ----------
    values
        ``(N, n)`` scaled electrode vectors.
    names
        Hook names to keep.

    Returns (as the job's result)
    -----------------------------
    dict name -> ``(N, *shape)`` float32 activations.
    """
    device = model_device(model)
    x_all = torch.as_tensor(np.asarray(values, dtype=np.float32))
    n_total = x_all.shape[0]
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with torch.no_grad():
        for start in range(0, n_total, batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            x = pipeline.model_input(x_all[start:start + batch_size].to(device))
            _, cache = model.run_with_cache(x, list(names))
            for name in names:
                chunks[name].append(cache[name].detach().float().cpu().numpy())
            done = min(start + batch_size, n_total)
            yield Progress(done, n_total, f"forward {done}/{n_total}")
    return {name: np.concatenate(chunks[name], axis=0) for name in names}


def unit_magnitude(response: np.ndarray, unit: str = "channel") -> np.ndarray:
    """Per-unit response magnitude.

    With ``unit="channel"`` a conv map's unit is a channel (``(n, C, h, w)`` -> max |.|
    over space, since a channel "responds" when any position does); with
    ``unit="neuron"`` every ``(c, y, x)`` activation is its own unit.  Vector layers
    are per neuron either way.

    Parameters
    ----------
    response
        ``(n, C, h, w)`` or ``(n, D)``.

    Returns
    -------
    ``(n, U)`` non-negative magnitudes.
    """
    if unit not in ("channel", "neuron"):
        raise ConfigError(f"unit must be 'channel' or 'neuron', got {unit!r}")
    r = np.abs(response)
    if r.ndim >= 4 and unit == "channel":
        return r.reshape(*r.shape[:2], -1).max(axis=-1)
    return r.reshape(r.shape[0], -1)


def selectivity_index(mag: np.ndarray) -> np.ndarray:
    """Electrode selectivity of each unit in [0, 1].

    ``(n - sum_e r_e / max_e r_e) / (n - 1)``: 1 when a unit answers one electrode
    only, 0 when it answers all electrodes equally; 0 for a dead unit.

    Parameters
    ----------
    mag
        ``(n, U)`` non-negative responses of U units to n electrodes.

    Returns
    -------
    ``(U,)`` selectivity.
    """
    n = mag.shape[0]
    peak = mag.max(axis=0)
    safe = np.where(peak > 0, peak, 1.0)
    sel = (n - mag.sum(axis=0) / safe) / max(n - 1, 1)
    return np.where(peak > 0, np.clip(sel, 0.0, 1.0), 0.0)


def responsive_counts(mag: np.ndarray, threshold: float = 0.5, dead: float = 1e-3) -> np.ndarray:
    """How many electrodes each unit responds to.

    An electrode counts when the unit's response to it is at least ``threshold`` times
    the unit's strongest response.  Units whose strongest response is below ``dead``
    times the layer's strongest response count 0 (dead / silent units).

    Parameters
    ----------
    mag
        ``(n, U)`` non-negative responses.

    Returns
    -------
    ``(U,)`` int counts in ``0..n`` (1 = monosemantic, >1 = polysemantic).
    """
    peak = mag.max(axis=0)
    layer_peak = float(peak.max()) if peak.size else 0.0
    alive = peak > dead * layer_peak if layer_peak > 0 else np.zeros_like(peak, dtype=bool)
    counts = (mag >= threshold * peak[None, :]).sum(axis=0)
    return np.where(alive, counts, 0).astype(np.int64)


@dataclass
class PropagationResult:
    """Responses of every hook point to one-hot electrodes and amplitude sweeps.

    Attributes
    ----------
    ch_names
        The n electrodes, in input order.
    amplitudes
        ``(A,)`` amplitudes of the one-hots; ``ref_amplitude`` is the one used for
        the per-unit statistics (1.0 when swept, else the largest).
    responses
        name -> ``(A, n, *shape)`` activation minus zero-input activation.
    baseline
        name -> ``(*shape)`` activation for the zero input.
    unit_response
        name -> ``(n, U)`` per-unit magnitude at the reference amplitude.
    selectivity, n_responsive
        name -> ``(U,)`` selectivity index and responsive-electrode count.
    sweep_norm
        name -> ``(A, n)`` L2 norm of the response per amplitude and electrode.
    latent_matrix
        ``(n, d)`` electrode x latent (``latent.mu``, or ``latent.z`` for decoders) response.
    """

    ch_names: tuple[str, ...]
    amplitudes: np.ndarray
    ref_amplitude: float
    threshold: float
    hook_names: list[str]
    responses: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    unit_response: dict[str, np.ndarray] = field(default_factory=dict)
    selectivity: dict[str, np.ndarray] = field(default_factory=dict)
    n_responsive: dict[str, np.ndarray] = field(default_factory=dict)
    sweep_norm: dict[str, np.ndarray] = field(default_factory=dict)
    latent_name: str = "latent.mu"
    latent_matrix: np.ndarray | None = None
    unit: str = "channel"

    def layer_summary(self) -> list[dict[str, Any]]:
        """Per layer: units, mono/poly/dead counts, mean selectivity, amplitude linearity."""
        rows = []
        for name in self.hook_names:
            counts = self.n_responsive[name]
            norms = self.sweep_norm[name]
            rows.append({
                "layer": name,
                "units": int(counts.size),
                "monosemantic": int((counts == 1).sum()),
                "polysemantic": int((counts > 1).sum()),
                "dead": int((counts == 0).sum()),
                "mean_selectivity": float(self.selectivity[name].mean()) if counts.size else 0.0,
                "mean_electrodes": float(counts[counts > 0].mean()) if (counts > 0).any() else 0.0,
                "amplitude_gain": _amplitude_gain(self.amplitudes, norms),
            })
        return rows

    def to_json(self) -> dict[str, Any]:
        """Summary as plain JSON types (the big arrays go to :meth:`arrays`)."""
        out: dict[str, Any] = {
            "analysis": "propagation",
            "electrodes": list(self.ch_names),
            "amplitudes": [float(a) for a in self.amplitudes],
            "ref_amplitude": self.ref_amplitude,
            "threshold": self.threshold,
            "unit": self.unit,
            "layers": self.layer_summary(),
            "latent_name": self.latent_name,
        }
        if self.latent_matrix is not None:
            m = np.abs(self.latent_matrix)
            out["latent_matrix"] = self.latent_matrix.round(6).tolist()
            out["latent_best_electrode"] = [self.ch_names[i] for i in m.argmax(axis=0)]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays, keyed ``kind/layer`` for an ``.npz`` export."""
        out: dict[str, np.ndarray] = {"amplitudes": self.amplitudes}
        for name in self.hook_names:
            out[f"response/{name}"] = self.responses[name]
            out[f"baseline/{name}"] = self.baseline[name]
            out[f"unit_response/{name}"] = self.unit_response[name]
            out[f"selectivity/{name}"] = self.selectivity[name]
            out[f"n_responsive/{name}"] = self.n_responsive[name]
            out[f"sweep_norm/{name}"] = self.sweep_norm[name]
        if self.latent_matrix is not None:
            out["latent_matrix"] = self.latent_matrix
        return out


def _amplitude_gain(amplitudes: np.ndarray, norms: np.ndarray) -> float | None:
    """Mean response norm per unit amplitude over all swept amplitudes and electrodes,
    divided by the same ratio at the smallest non-zero |amplitude|: 1.0 when the
    response grows in proportion to the amplitude (linear), None without a sweep."""
    a = np.abs(amplitudes).astype(np.float64)
    keep = a > 0
    if keep.sum() < 2:
        return None
    per_amp = norms[keep].mean(axis=1) / a[keep]
    ref = per_amp[int(np.argmin(a[keep]))]
    if ref <= 0:
        return None
    return float(per_amp.mean() / ref)


def one_hot_batch(n: int, amplitudes: Sequence[float] | np.ndarray) -> np.ndarray:
    """Zero vector followed by every one-hot at every amplitude.

    Returns
    -------
    ``(1 + A*n, n)`` float32; row ``1 + a*n + e`` is electrode ``e`` at ``amplitudes[a]``.
    """
    amps = np.asarray(amplitudes, dtype=np.float32)
    eye = np.eye(n, dtype=np.float32)
    hots = (amps[:, None, None] * eye[None]).reshape(-1, n)
    return np.concatenate([np.zeros((1, n), np.float32), hots], axis=0)


def propagation(
    model: Any,
    pipeline: InputPipeline,
    amplitudes: Sequence[float] = (1.0,),
    names: Sequence[str] | None = None,
    threshold: float = 0.5,
    batch_size: int = 512,
    unit: str = "channel",
    cancel: CancelToken | None = None,
) -> Job[PropagationResult]:
    """One-hot propagation sweep through all hook points (a job generator).

    Parameters
    ----------
    model
        A hooked model (``run_with_cache``, ``hook_names``) in eval mode.
    pipeline
        How electrode vectors become the model input.
    amplitudes
        One-hot amplitudes to sweep (scaled units; 1.0 is the one-hot of the paper).
    names
        Hook names (default: all of ``model.hook_names()``).
    threshold
        Relative threshold for :func:`responsive_counts`.
    batch_size
        Rows per forward pass; the default runs all 32 one-hots x a few amplitudes at once.
    unit
        ``"channel"`` (conv channels are the units) or ``"neuron"`` (every activation).

    Returns (as the job's result)
    -----------------------------
    :class:`PropagationResult`
    """
    amps = np.asarray(list(amplitudes), dtype=np.float32)
    if amps.size == 0:
        raise ConfigError("propagation needs at least one amplitude")
    unit_magnitude(np.zeros((1, 1)), unit)  # validate before the forward pass
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    hook_names = list(names) if names is not None else list(model.hook_names())
    n = pipeline.n_electrodes
    was_training = model.training
    model.eval()
    try:
        acts = yield from forward_cache(model, pipeline, one_hot_batch(n, amps), hook_names,
                                        batch_size=batch_size, cancel=cancel)
    finally:
        model.train(was_training)
    ref_idx = int(np.argmin(np.abs(amps - 1.0))) if np.any(amps == 1.0) else int(np.argmax(np.abs(amps)))
    result = PropagationResult(
        ch_names=pipeline.ch_names, amplitudes=amps, ref_amplitude=float(amps[ref_idx]),
        threshold=threshold, hook_names=hook_names, responses={}, baseline={}, unit=unit,
    )
    for name in hook_names:
        a = acts[name]
        base = a[0]
        resp = (a[1:] - base[None]).reshape(amps.size, n, *a.shape[1:])
        result.baseline[name] = base
        result.responses[name] = resp
        mag = unit_magnitude(resp[ref_idx], unit)
        result.unit_response[name] = mag
        result.selectivity[name] = selectivity_index(mag)
        result.n_responsive[name] = responsive_counts(mag, threshold)
        result.sweep_norm[name] = np.sqrt((resp.reshape(amps.size, n, -1) ** 2).sum(-1))
    latent = "latent.mu" if "latent.mu" in result.responses else (
        "latent.z" if "latent.z" in result.responses else None)
    if latent is not None:
        result.latent_name = latent
        result.latent_matrix = result.responses[latent][ref_idx].reshape(n, -1)
    return result
