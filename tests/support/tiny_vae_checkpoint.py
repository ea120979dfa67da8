"""A tiny untrained ConvVAE checkpoint (filters 4/8/8, latent 4) for the SAE tests."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_vae(folder: Path) -> Path:
    """Save the checkpoint in ``folder`` (scaler [-1, 1], no injection); returns the folder."""
    from eegmi.data.preprocess import ClipScaler
    from eegmi.models import ConvVAE, ModelConfig
    from eegmi.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = ConvVAE(ModelConfig(kind="vae", filters=(4, 8, 8), latent_dim=4))
    return save_checkpoint(folder, model, {
        "name": "tiny", "scaler": ClipScaler(lo=-1.0, hi=1.0).to_dict(), "injection": {},
        "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"}})
