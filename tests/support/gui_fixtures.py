"""Shared GUI-test material: a tiny dataset file, tiny checkpoints, an isolated window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.recording import EEGData

N_FRAMES = 60  # 3 trials of 20 frames


def write_tiny_data(path: Path, seed: int = 0) -> Path:
    """A small random-walk recording in biosemi32 order, saved as .npz."""
    from eegmi.data.loaders import save_npz

    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=(N_FRAMES, 32)), axis=0).astype(np.float32) * 5.0
    data = EEGData(values, tuple(DEAP_CHANNELS), 128.0, np.zeros(N_FRAMES, np.int16),
                   np.repeat(np.arange(3), 20).astype(np.int32))
    return save_npz(data, path)


def write_tiny_model(folder: Path, seed: int = 0, marks: bool = False, latent: int = 4,
                     scale: float = 20.0, data: str | Path | None = None) -> Path:
    """A tiny untrained ConvVAE checkpoint (filters 4/4/4) the GUI can load by path.

    ``scale``: its scaler maps [-scale, scale] to [0, 1]; ``data``: the training source its
    card names (``"synthetic"`` or a file), none by default."""
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind="vae", latent_dim=latent, filters=(4, 4, 4)))
    meta = {
        "name": folder.name,
        "scaler": {"lo": -scale, "hi": scale, "q_low": 5.0, "q_high": 95.0},
        "injection": {"marks": marks, "occlusion": False, "mark_value": 1.0},
        "montage": {"name": "biosemi32"},
        "operator": {"size": 40, "method": "cubic"},
    }
    if data is not None:
        meta["data"] = {"path": str(data)}
    return save_checkpoint(folder, model, meta)


def loaded_session(qtbot, model: str | Path, data: str | Path):
    """A Session with ``model`` and ``data`` loaded on its worker (the caller shuts it)."""
    from app.session import Session

    s = Session()
    with qtbot.waitSignal(s.model_changed, timeout=30000):
        s.set_model(model)
    with qtbot.waitSignal(s.data_changed, timeout=30000):
        s.set_data(data)
    return s


def shown_scalp_panel(qtbot):
    """A ScalpPanel on its own Session, shown and exposed (the caller shuts the session)."""
    from app.panels.scalp import ScalpPanel
    from app.session import Session

    p = ScalpPanel(Session())
    qtbot.addWidget(p)
    p.resize(900, 520)
    p.show()
    qtbot.waitExposed(p)
    return p


def train_tiny_sae(qtbot, panel, dict_size: int, mode: str | None = None,
                   timeout: int = 60000) -> None:
    """Train a tiny TopK SAE on ``enc.act3`` through the SAE panel's own widgets and its
    Train button (20 steps on 30 frames, a 40-input gallery), waiting for the gallery."""
    from PySide6.QtCore import Qt

    p = panel
    p.layer.setCurrentText("enc.act3")
    if mode is not None:
        p.mode.setCurrentText(mode)
    p.dict_size.setValue(dict_size)
    p.kind.setCurrentText("TopK")
    p.k.setValue(3)
    p.steps.setValue(20)
    p.train_frames.setValue(30)
    p.inputs.setValue(40)
    p.top_k.setValue(4)
    with qtbot.waitSignal(p.gallery_ready, timeout=timeout):
        qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
