"""Hooked models: the conv VAE of the paper, the decoder-only E1 model, hook points.

Names are imported on first use (PEP 562): ``eegmi.models.config`` (what experiment
presets and model cards need) never pulls in torch, so the GUI window and the
commands that need no model start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eegmi.models.config import ACTIVATIONS, KINDS, ModelConfig

if TYPE_CHECKING:  # the type checker sees the real names (re-exported, hence "as")
    from eegmi.models.decoder import ConvDecoder as ConvDecoder
    from eegmi.models.decoder import DecoderOnly as DecoderOnly
    from eegmi.models.decoder import VAEOutput as VAEOutput
    from eegmi.models.hooks import HookedModel as HookedModel
    from eegmi.models.hooks import HookPoint as HookPoint
    from eegmi.models.nonlinearities import SoLULayerNorm as SoLULayerNorm
    from eegmi.models.nonlinearities import make_activation as make_activation
    from eegmi.models.pick import pick_initialise as pick_initialise
    from eegmi.models.vae import ConfiguredModel as ConfiguredModel
    from eegmi.models.vae import ConvVAE as ConvVAE
    from eegmi.models.vae import build_model as build_model

#: public name -> module holding it (imported lazily)
_LAZY = {
    "ConvDecoder": "decoder", "DecoderOnly": "decoder", "VAEOutput": "decoder",
    "HookedModel": "hooks", "HookPoint": "hooks",
    "SoLULayerNorm": "nonlinearities", "make_activation": "nonlinearities",
    "pick_initialise": "pick", "ConfiguredModel": "vae", "ConvVAE": "vae", "build_model": "vae",
}

__all__ = ["ACTIVATIONS", "KINDS", "ModelConfig", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eegmi.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"eegmi.models.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
