"""Sparse autoencoders on layer activations (seeds 002, 003): model, training,
activation filtering, metrics, gallery data, feature visualisation, save/load.

Qt-free; the GUI gallery reads :mod:`eegmi.sae.features` results."""

from eegmi.sae.io import LoadedSAE, load_sae, save_sae
from eegmi.sae.model import SAEConfig, SparseAutoencoder
from eegmi.sae.train import SAETrainResult, TrainConfig, train_sae

__all__ = [
    "LoadedSAE",
    "SAEConfig",
    "SAETrainResult",
    "SparseAutoencoder",
    "TrainConfig",
    "load_sae",
    "save_sae",
    "train_sae",
]
