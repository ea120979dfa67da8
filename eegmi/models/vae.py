"""The convolutional VAE of the paper (seed 000, section 4) with named hook points."""

from __future__ import annotations

from typing import TypeAlias

import torch
from torch import nn

from eegmi.models.batch_buckets import BucketedConv2d
from eegmi.models.config import ModelConfig
from eegmi.models.decoder import ConvDecoder, DecoderOnly, VAEOutput
from eegmi.models.hooks import HookedModel, HookPoint
from eegmi.models.nonlinearities import make_activation

__all__ = ["ConfiguredModel", "ConvVAE", "VAEOutput", "build_model"]


class ConvVAE(HookedModel):
    """Image ``(B, 1, H, W)`` -> 3 stride-2 convs -> ``mu, logvar (B, d)`` -> conv decoder.

    Hook names: ``enc.conv1 enc.act1 enc.conv2 enc.act2 enc.conv3 enc.act3 latent.mu
    latent.logvar latent.z dec.fc dec.deconv1 dec.act1 dec.deconv2 dec.act2 dec.deconv3 out``.
    In training mode ``z`` is a reparameterised sample; in eval mode ``z = mu``, so
    analyses see a deterministic model.
    """

    input_kind = "image"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.kind != "vae":
            raise ValueError("ConvVAE needs a config with kind='vae'")
        self.config = config
        c1, c2, c3 = config.filters
        side = config.image_size // 8
        chans = (1, c1, c2, c3)
        for i in range(3):
            k = i + 1
            setattr(self, f"conv{k}", BucketedConv2d(chans[i], chans[k], 4, stride=2, padding=1))
            setattr(self, f"hook_conv{k}", HookPoint(f"enc.conv{k}"))
            setattr(self, f"act{k}",
                    make_activation(config.activation, chans[k], config.leaky_slope))
            setattr(self, f"hook_act{k}", HookPoint(f"enc.act{k}"))
            setattr(self, f"drop{k}", nn.Dropout(config.dropout))
        self.fc_mu = nn.Linear(c3 * side * side, config.latent_dim)
        self.fc_logvar = nn.Linear(c3 * side * side, config.latent_dim)
        self.hook_mu = HookPoint("latent.mu")
        self.hook_logvar = HookPoint("latent.logvar")
        self.hook_z = HookPoint("latent.z")
        self.decoder = ConvDecoder(config)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        device = next(self.parameters()).device
        s = self.config.image_size
        return torch.zeros(batch, 1, s, s, device=device)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, 1, H, W)`` -> ``(mu, logvar)``, each ``(B, d)``."""
        h = x
        for k in (1, 2, 3):
            h = getattr(self, f"hook_conv{k}")(getattr(self, f"conv{k}")(h))
            h = getattr(self, f"drop{k}")(getattr(self, f"hook_act{k}")(getattr(self, f"act{k}")(h)))
        h = h.flatten(1)
        return self.hook_mu(self.fc_mu(h)), self.hook_logvar(self.fc_logvar(h))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, d)`` -> images ``(B, 1, H, W)`` in [0, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(x)
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        else:
            z = mu
        z = self.hook_z(z)
        return VAEOutput(self.decoder(z), mu, logvar, z)


#: The models a :class:`ModelConfig` describes: what :func:`build_model` makes, training
#: trains and a checkpoint holds (other hooked models, such as analysis controls, have no
#: config or decoder).
ConfiguredModel: TypeAlias = ConvVAE | DecoderOnly


def build_model(config: ModelConfig) -> ConfiguredModel:
    """The model a config describes: :class:`ConvVAE` or :class:`DecoderOnly`."""
    if config.kind == "decoder":
        return DecoderOnly(config)
    return ConvVAE(config)
