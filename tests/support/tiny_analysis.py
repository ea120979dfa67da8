"""A small fake topomap operator and tiny models for the analysis tests.

``BumpOperator`` has the TopomapOperator interface; ``PickInterpolateModel`` is an
exact pick & interpolate network on it; ``tiny_vae`` a small ConvVAE of its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eegmi.models import ConvVAE, HookedModel, HookPoint, ModelConfig

N_EL = 6
SIZE = 16


@dataclass(frozen=True)
class _Montage:
    ch_names: tuple[str, ...]


class BumpOperator:
    """A linear electrodes -> image operator with the TopomapOperator interface.

    Each electrode paints a compact bump that is exactly 1 at its own pixel and 0 at
    every other electrode's pixel (as an interpolating operator does).
    """

    def __init__(self, n: int = N_EL, size: int = SIZE) -> None:
        self.size = size
        self.montage = _Montage(tuple(f"E{i}" for i in range(n)))
        rng = np.random.default_rng(3)
        cells = rng.choice((size - 4) ** 2, size=n, replace=False)
        rows, cols = 2 + cells // (size - 4), 2 + cells % (size - 4)
        self.electrode_pixels = np.stack([rows, cols], axis=1)
        rr, cc = np.mgrid[0:size, 0:size]
        mat = np.zeros((size * size, n), np.float32)
        for e, (r, c) in enumerate(self.electrode_pixels):
            d = np.hypot(rr - r, cc - c)
            mat[:, e] = (np.clip(1 - d / 3.0, 0, None) ** 2).reshape(-1)
        for e, (r, c) in enumerate(self.electrode_pixels):
            mat[r * size + c, :] = 0.0
            mat[r * size + c, e] = 1.0
        self.matrix = mat
        self.head_mask = np.ones((size, size), bool)

    def render(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values) @ self.matrix.T).reshape(*np.shape(values)[:-1], self.size, self.size)

    def render_torch(self, values: torch.Tensor) -> torch.Tensor:
        m = torch.as_tensor(self.matrix, dtype=values.dtype, device=values.device)
        return (values @ m.T).reshape(-1, 1, self.size, self.size)


class PickInterpolateModel(HookedModel):
    """Exactly pick & interpolate: latent k = pixel of electrode perm[k]; out = operator @ latents."""

    def __init__(self, op: BumpOperator, perm: np.ndarray) -> None:
        super().__init__()
        self.op = op
        px = op.electrode_pixels[perm]
        self.register_buffer("flat_idx", torch.as_tensor(px[:, 0] * op.size + px[:, 1]))
        self.register_buffer("dec", torch.as_tensor(op.matrix[:, perm]))
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.hook_mu = HookPoint("latent.mu")
        self.hook_out = HookPoint("out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = self.hook_mu(x.flatten(1)[:, self.flat_idx] * self.scale)
        return self.hook_out((mu @ self.dec.T).reshape(-1, 1, self.op.size, self.op.size))


def tiny_vae(latent: int = N_EL, seed: int = 0, activation: str = "leaky_relu") -> ConvVAE:
    torch.manual_seed(seed)
    cfg = ModelConfig(kind="vae", image_size=SIZE, n_electrodes=N_EL, latent_dim=latent,
                      filters=(4, 8, 8), activation=activation)
    return ConvVAE(cfg).eval()
