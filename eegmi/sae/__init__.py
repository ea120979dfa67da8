"""Sparse autoencoders on layer activations (seeds 002, 003): model, training,
activation filtering, metrics, gallery data, feature visualisation, save/load.

Qt-free; the GUI gallery reads :mod:`eegmi.sae.features` results. Names are imported
on first use (PEP 562), so the GUI can import the torch-free parts (regions, gallery
options) without loading torch on its thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eegmi.sae.io import LoadedSAE, load_sae, save_sae
    from eegmi.sae.model import SAEConfig, SparseAutoencoder
    from eegmi.sae.train import SAETrainResult, TrainConfig, train_sae

#: public name -> module holding it (imported lazily)
_LAZY = {
    "LoadedSAE": "io", "load_sae": "io", "save_sae": "io",
    "SAEConfig": "model", "SparseAutoencoder": "model",
    "SAETrainResult": "train", "TrainConfig": "train", "train_sae": "train",
}

__all__ = [
    "LoadedSAE", "SAEConfig", "SAETrainResult", "SparseAutoencoder", "TrainConfig",
    "load_sae", "save_sae", "train_sae",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eegmi.sae' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"eegmi.sae.{module}"), name)
    globals()[name] = value
    return value
