"""The sparse autoencoder (seed 002): tied pre-encoder bias, ReLU or TopK encoder,
unit-norm decoder columns.

    f(x)  = ReLU(W_e (x/s - b_d) + b_e)          (``kind="l1"``)
    f(x)  = ReLU(TopK_k(W_e (x/s - b_d) + b_e))  (``kind="topk"``)
    x_hat = s * (W_d f + b_d)

``s`` is a fixed input scale (a buffer, set once from the training data so that
the mean squared norm of ``x/s`` is ``d``); it makes one default learning rate
and L1 coefficient work across layers whose activations differ by orders of
magnitude, while every public method takes and returns activations in the
layer's own units.  ``b_d`` is the bias subtracted before the encoder and added
back after the decoder (the "tied" bias of Cunningham et al. / seed 002).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from eegmi.errors import ConfigError

SAEKind = Literal["l1", "topk"]


@dataclass
class SAEConfig:
    """Architecture of a sparse autoencoder.

    Attributes
    ----------
    d_in
        Width ``d`` of the activation vectors it reads.
    n_features
        Dictionary size ``F`` (usually several times ``d``: an overcomplete basis).
    kind
        ``"l1"`` (ReLU + L1 penalty) or ``"topk"`` (keep the ``k`` largest pre-activations).
    l1
        L1 coefficient λ (``kind="l1"``).
    k
        Active features per input (``kind="topk"``).
    l1_decoder_norm
        Weight each feature's L1 term by its decoder column norm (stops the
        optimiser from shrinking activations by growing decoder columns between
        renormalisations).
    """

    d_in: int
    n_features: int
    kind: str = "l1"
    l1: float = 0.02
    k: int = 8
    l1_decoder_norm: bool = True

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.n_features < 1:
            raise ConfigError(f"SAE sizes must be positive (d_in={self.d_in}, n_features={self.n_features})")
        if self.kind not in ("l1", "topk"):
            raise ConfigError(f"unknown SAE kind {self.kind!r}; use 'l1' or 'topk'")
        if self.kind == "topk" and not 1 <= self.k <= self.n_features:
            raise ConfigError(f"TopK k={self.k} must be between 1 and the dictionary size {self.n_features}")
        if self.l1 < 0:
            raise ConfigError(f"L1 coefficient must be >= 0, got {self.l1}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SAEConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown SAE config keys {sorted(unknown)}")
        return cls(**d)


class SparseAutoencoder(nn.Module):
    """Sparse autoencoder over ``d``-dimensional activation vectors.

    Parameters
    ----------
    config
        The architecture.
    generator
        Optional torch generator for a deterministic initialisation.
    """

    scale: torch.Tensor  # () buffer: the fixed input scale ``s``

    def __init__(self, config: SAEConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        d, f = config.d_in, config.n_features
        w = torch.randn(d, f, generator=generator)
        w = w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)
        self.W_dec = nn.Parameter(w)  # (d, F): column i is feature i's direction
        # encoder starts as the decoder's transpose: each feature first reads its own direction
        self.W_enc = nn.Parameter(w.t().clone())  # (F, d)
        self.b_enc = nn.Parameter(torch.zeros(f))
        self.b_dec = nn.Parameter(torch.zeros(d))
        self.register_buffer("scale", torch.ones(()))

    # ------------------------------------------------------------------ forward
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations ``(B, F)`` of raw activations ``x (B, d)``."""
        return torch.addmm(self.b_enc, x / self.scale - self.b_dec, self.W_enc.t())

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Feature activations ``(B, F)`` from pre-activations ``(B, F)``."""
        if self.config.kind == "topk":
            vals, idx = pre.topk(self.config.k, dim=-1)
            return torch.zeros_like(pre).scatter(-1, idx, torch.relu(vals))
        return torch.relu(pre)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``(B, F)`` of raw activations ``x (B, d)``."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(B, d)`` in the layer's units from features ``f (B, F)``."""
        return (f @ self.W_dec.t() + self.b_dec) * self.scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x_hat (B, d), f (B, F))``."""
        f = self.encode(x)
        return self.decode(f), f

    # ----------------------------------------------------------- training aids
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss on a batch ``x (B, d)``: MSE (in normalised units) + λ·L1.

        Returns the scalar loss and its parts (``mse``, ``l1``, ``f``, ``x_hat``,
        ``f_sum``: each feature's activation summed over the batch, ``(F,)``, detached).
        The MSE is the mean over batch and dimensions of ``(x/s - x_hat/s)²``; the
        L1 term is the batch mean of ``Σ_i f_i ‖d_i‖`` (or ``Σ_i f_i``).
        """
        f = self.encode(x)
        x_hat = self.decode(f)
        mse = ((x - x_hat) / self.scale).pow(2).mean()
        # the batch mean of Σ_i f_i w_i is Σ_i (Σ_b f_bi) w_i / B: summing over the batch
        # first keeps every (B, F) product out of the forward and the backward pass
        f_sum = f.sum(0)
        if self.config.kind == "l1":
            if self.config.l1_decoder_norm:
                l1 = (f_sum * self.W_dec.norm(dim=0)).sum() / x.shape[0]
            else:
                l1 = f_sum.sum() / x.shape[0]
            loss = mse + self.config.l1 * l1
        else:
            l1 = f_sum.sum().detach() / x.shape[0]
            loss = mse
        return loss, {"mse": mse, "l1": l1, "f": f, "x_hat": x_hat, "f_sum": f_sum.detach()}

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every decoder column to unit norm."""
        self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Project out the gradient component parallel to each decoder column, so a
        step changes the column's direction rather than its (fixed, unit) length."""
        g = self.W_dec.grad
        if g is None:
            return
        g.sub_(self.W_dec * (self.W_dec * g).sum(0, keepdim=True))

    @property
    def decoder_directions(self) -> torch.Tensor:
        """Unit decoder directions ``(F, d)``, one row per feature."""
        w = self.W_dec.detach()
        return (w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)).t()
