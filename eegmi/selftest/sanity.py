"""Self-test of the saliency sanity check on planted cases.

A tiny conv encoder (random weights: its output depends on every weight) and a small
smooth electrodes -> image operator stand in for a trained model and the topomap.  The
rule (:class:`eegmi.analysis.sanity_rule.SanityRule`) must

- pass the vanilla gradient, whose maps are functions of the weights;
- fail a planted model-independent "method" returning the input magnitude, and one
  returning the input's Sobel edges (their maps cannot change when the model does);
- fail a planted method whose maps are fresh noise on every call (it would otherwise
  "change" under randomisation without explaining anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from eegmi.analysis.sanity import SanityResult, cascading_randomization
from eegmi.analysis.sanity_rule import SanityRule
from eegmi.jobs import CancelToken, Job
from eegmi.models import ConvVAE, ModelConfig
from eegmi.models.adapter import ModelAdapter
from eegmi.selftest.check import Check

SIZE = 16
N_ELECTRODES = 12


@dataclass(frozen=True)
class _Montage:
    ch_names: tuple[str, ...]

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)


class BumpOperator:
    """Electrodes on two rings of a head disc, each painting a smooth Gaussian bump."""

    def __init__(self, n: int = N_ELECTRODES, size: int = SIZE) -> None:
        self.size = size
        self.montage = _Montage(tuple(f"E{i}" for i in range(n)))
        c = (size - 1) / 2.0
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        radii = np.where(np.arange(n) % 2, 0.35, 0.7) * c
        self.electrode_pixels = np.stack([np.round(c + radii * np.sin(angles)),
                                          np.round(c + radii * np.cos(angles))], 1).astype(int)
        rr, cc = np.mgrid[0:size, 0:size]
        self.head_mask = np.hypot(rr - c, cc - c) <= c
        bumps = [np.exp(-np.hypot(rr - r, cc - q) ** 2 / (2 * (0.18 * size) ** 2))
                 for r, q in self.electrode_pixels]
        self.matrix = np.stack([b.reshape(-1) * self.head_mask.reshape(-1) for b in bumps], 1)

    def render_torch(self, values: torch.Tensor) -> torch.Tensor:
        m = torch.as_tensor(self.matrix, dtype=values.dtype, device=values.device)
        return (values @ m.T).reshape(-1, 1, self.size, self.size)


def _input_magnitude(_model: Any, _pipe: Any, images: torch.Tensor, _target: Any) -> np.ndarray:
    return images.detach().abs().cpu().numpy()


def _sobel(_model: Any, _pipe: Any, images: torch.Tensor, _target: Any) -> np.ndarray:
    x = images.detach().cpu().numpy().astype(np.float64)
    return np.hypot(ndimage.sobel(x, axis=1), ndimage.sobel(x, axis=2))


def _noise(_model: Any, _pipe: Any, images: torch.Tensor, _target: Any) -> np.ndarray:
    return np.random.default_rng().normal(size=tuple(images.shape))


PLANTED = {"input magnitude (ignores the model)": _input_magnitude,
           "Sobel edges of the input (ignores the model)": _sobel,
           "fresh noise on every call": _noise}


def planted_case(n_inputs: int = 16, seed: int = 0, cancel: CancelToken | None = None,
                 rule: SanityRule | None = None) -> Job[SanityResult]:
    """The sanity check of the vanilla gradient and the :data:`PLANTED` methods on a tiny
    random conv encoder (a job generator)."""
    torch.manual_seed(seed)
    model = ConvVAE(ModelConfig(kind="vae", image_size=SIZE, n_electrodes=N_ELECTRODES,
                                latent_dim=4, filters=(4, 8, 8))).eval()
    pipe = ModelAdapter("vae", BumpOperator())
    values = np.random.default_rng(seed).uniform(0, 1, (n_inputs, N_ELECTRODES)).astype(np.float32)
    from eegmi.analysis.saliency import Target

    result = yield from cascading_randomization(
        model, pipe, values, Target.latent(0), ["saliency"], rule=rule, seed=seed, cancel=cancel,
        extra_methods=PLANTED, inputs={"n": n_inputs, "description": "uniform random mixes"})
    return result


def checks(quick: bool = False, cancel: CancelToken | None = None) -> Job[list[Check]]:
    """Self-test rows of the sanity check (a job generator; seconds on a CPU)."""
    res = yield from planted_case(n_inputs=12 if quick else 24, cancel=cancel)
    rows = []
    for m in res.methods:
        v = res.verdicts[m]
        want = m == "saliency"
        case = ("vanilla gradient, model whose output depends on its weights" if want
                else f"planted method: {m}")
        score = float(res.mean_similarity(m)[-1, 0])
        rows.append(Check(
            analysis="saliency sanity", case=case, score=score,
            bar="verdict pass" if want else "verdict FAIL",
            passed=bool(v.passed is want),
            detail=f"{res.label(m)}: {v.reason} (score: |Spearman| of |maps|, all layers "
                   f"randomised, vs trained)"))
    return rows
