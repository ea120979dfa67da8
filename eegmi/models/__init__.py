"""Hooked models: the conv VAE of the paper, the decoder-only E1 model, hook points."""

from eegmi.models.config import ACTIVATIONS, KINDS, ModelConfig
from eegmi.models.decoder import ConvDecoder, DecoderOnly, VAEOutput
from eegmi.models.hooks import HookedModel, HookPoint
from eegmi.models.nonlinearities import SoLULayerNorm, make_activation
from eegmi.models.pick import pick_initialise
from eegmi.models.vae import ConvVAE, build_model

__all__ = [
    "ACTIVATIONS", "KINDS", "ConvDecoder", "ConvVAE", "DecoderOnly", "HookPoint",
    "HookedModel", "ModelConfig", "SoLULayerNorm", "VAEOutput", "build_model",
    "make_activation", "pick_initialise",
]
