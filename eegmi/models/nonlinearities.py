"""Activation functions selectable by name, including SoLU + LayerNorm (seed 002)."""

from __future__ import annotations

import torch
from torch import nn


class SoLULayerNorm(nn.Module):
    """``LN(x * softmax(x))`` with the softmax and the LayerNorm taken over channels.

    SoLU sharpens each position's channel vector towards its largest entries, which
    discourages superposition; the LayerNorm after it restores the scale that the
    softmax shrinks (Elhage et al., "Softmax Linear Units").

    Parameters
    ----------
    channels
        Number of channels ``C``; the input is ``(B, C)`` or ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.softmax(x, dim=1)
        mean = y.mean(dim=1, keepdim=True)
        var = y.var(dim=1, keepdim=True, unbiased=False)
        y = (y - mean) / torch.sqrt(var + self.eps)
        shape = (1, self.channels) + (1,) * (x.dim() - 2)
        return y * self.weight.view(shape) + self.bias.view(shape)


def make_activation(name: str, channels: int, leaky_slope: float = 0.3) -> nn.Module:
    """Build the activation ``name`` for a layer with ``channels`` channels.

    Parameters
    ----------
    name
        ``leaky_relu`` | ``relu`` | ``gelu`` | ``solu``.
    channels
        Channel count (needed by SoLU's LayerNorm parameters).
    leaky_slope
        Negative slope for LeakyReLU.
    """
    if name == "leaky_relu":
        return nn.LeakyReLU(leaky_slope)
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    if name == "solu":
        return SoLULayerNorm(channels)
    raise ValueError(f"unknown activation {name!r}")
