"""The shared conv decoder and the decoder-only model (experiment E1)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from eegmi.models.batch_buckets import BucketedConvTranspose2d
from eegmi.models.config import ModelConfig
from eegmi.models.hooks import HookedModel, HookPoint
from eegmi.models.nonlinearities import make_activation


class VAEOutput(NamedTuple):
    """What a model's forward pass returns.

    Attributes
    ----------
    recon
        ``(B, 1, H, W)`` reconstruction in [0, 1].
    mu, logvar
        ``(B, d)`` posterior mean and log-variance (``logvar`` is None for a decoder-only model,
        whose ``mu`` is its input).
    z
        ``(B, d)`` latent fed to the decoder (a sample in training, ``mu`` in eval mode).
    """

    recon: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None
    z: torch.Tensor


class ConvDecoder(nn.Module):
    """``Linear -> (C3, s, s) -> deconv C3->C2 -> act -> C2->C1 -> act -> C1->1 -> sigmoid``.

    Hook points: ``dec.fc`` (after the reshape), ``dec.deconv1``, ``dec.act1``,
    ``dec.deconv2``, ``dec.act2``, ``dec.deconv3`` (logits) and ``out`` (sigmoid).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.filters
        self.side = config.image_size // 8
        self.c3 = c3
        self.fc = nn.Linear(config.latent_dim, c3 * self.side * self.side)
        self.hook_fc = HookPoint("dec.fc")
        self.deconv1 = BucketedConvTranspose2d(c3, c2, 4, stride=2, padding=1)
        self.hook_deconv1 = HookPoint("dec.deconv1")
        self.act1 = make_activation(config.activation, c2, config.leaky_slope)
        self.hook_act1 = HookPoint("dec.act1")
        self.drop1 = nn.Dropout(config.dropout)
        self.deconv2 = BucketedConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.hook_deconv2 = HookPoint("dec.deconv2")
        self.act2 = make_activation(config.activation, c1, config.leaky_slope)
        self.hook_act2 = HookPoint("dec.act2")
        self.drop2 = nn.Dropout(config.dropout)
        self.deconv3 = BucketedConvTranspose2d(c1, 1, 4, stride=2, padding=1)
        self.hook_deconv3 = HookPoint("dec.deconv3")
        self.hook_out = HookPoint("out")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z (B, d)`` into ``(B, 1, H, W)`` images in [0, 1]."""
        h = self.hook_fc(self.fc(z).view(-1, self.c3, self.side, self.side))
        h = self.drop1(self.hook_act1(self.act1(self.hook_deconv1(self.deconv1(h)))))
        h = self.drop2(self.hook_act2(self.act2(self.hook_deconv2(self.deconv2(h)))))
        return self.hook_out(torch.sigmoid(self.hook_deconv3(self.deconv3(h))))


class DecoderOnly(HookedModel):
    """Experiment E1: electrode vector ``(B, n)`` -> topomap ``(B, 1, H, W)``.

    The input passes through the ``latent.z`` hook point, then the decoder's hook points,
    so the decoder half of a VAE and this model share names and weight keys (``decoder.*``).
    """

    input_kind = "values"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.kind != "decoder":
            raise ValueError("DecoderOnly needs a config with kind='decoder'")
        self.config = config
        self.hook_z = HookPoint("latent.z")
        self.decoder = ConvDecoder(config)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.zeros(batch, self.config.n_electrodes, device=device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode electrode vectors ``(B, n)`` to ``(B, 1, H, W)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        z = self.hook_z(x)
        return VAEOutput(self.decoder(z), x, None, z)
