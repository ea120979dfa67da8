"""Tiny recordings and experiments for the training, checkpoint and CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.recording import EEGData
from eegmi.training.experiments import ExperimentConfig


def tiny_data(n_trials: int = 10, frames: int = 20, seed: int = 0) -> EEGData:
    """Smooth random electrode frames: ``n_trials * frames`` frames of 32 channels."""
    rng = np.random.default_rng(seed)
    n = n_trials * frames
    # a few shared spatial patterns with random slow amplitudes, so frames look like EEG maps
    patterns = rng.normal(size=(4, 32))
    amps = np.cumsum(rng.normal(size=(n, 4)), axis=0) * 0.3
    values = (amps @ patterns + 0.2 * rng.normal(size=(n, 32))).astype(np.float32)
    return EEGData(values=values, ch_names=DEAP_CHANNELS, sfreq=128.0,
                   subject=np.zeros(n, np.int16), trial=np.repeat(np.arange(n_trials), frames)
                   .astype(np.int32), provenance={"path": "tiny", "loader": "test"})


def tiny_experiment(kind: str = "decoder", epochs: int = 1, **training) -> ExperimentConfig:
    """A tiny model (filters 4/8/8) trained for ``epochs`` on batches of 64."""
    d = {"name": f"tiny_{kind}",
         "model": {"kind": kind, "latent_dim": 32, "filters": [4, 8, 8]},
         "training": {"epochs": epochs, "batch_size": 64, **training}}
    if kind == "vae":
        d["injection"] = {"marks": True}
    return ExperimentConfig.from_dict(d)


TINY_TOML = """
name = "tiny"
[model]
kind = "decoder"
latent_dim = 32
filters = [4, 8, 8]
[training]
epochs = 1
batch_size = 64
"""


def write_tiny_toml(path: Path, extra: str = "") -> Path:
    path.write_text(TINY_TOML + extra, encoding="utf-8")
    return path
