"""Model cards (``model.json``) and the bundled models, without torch.

Listing the bundled models (``eegmi models``, the GUI's model menu) and finding a
checkpoint's folder only read JSON; keeping them here, away from the weights code
in :mod:`eegmi.training.checkpoint`, keeps torch out of those commands' imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eegmi.errors import CheckpointError
from eegmi.limits import read_json_card
from eegmi.paths import resources_dir

WEIGHTS = "model.safetensors"
CARD = "model.json"


def models_dir() -> Path:
    """Folder of the bundled trained models."""
    return resources_dir() / "models"


def resolve_model(name_or_path: str | Path) -> Path:
    """Checkpoint directory for a bundled name (``E1``..``E5``) or a path.

    A path may be the directory or its ``model.json`` / ``model.safetensors``.

    Raises
    ------
    CheckpointError
        Nothing usable there.
    """
    spec = str(name_or_path)
    path = Path(spec)
    if path.is_file() and path.name in (WEIGHTS, CARD):
        path = path.parent
    if (path / CARD).is_file():
        return path
    if models_dir().is_dir() and "/" not in spec and "\\" not in spec:
        for d in sorted(models_dir().iterdir()):
            if d.name.lower() == spec.lower() and (d / CARD).is_file():
                return d
    bundled = ", ".join(m["name"] for m in list_bundled()) or "none"
    raise CheckpointError(f"no model checkpoint ({CARD}) here; bundled models: {bundled}", spec)


def list_bundled() -> list[dict[str, Any]]:
    """One dict per bundled model: name, path, kind, latent_dim, experiment, metrics."""
    out: list[dict[str, Any]] = []
    root = models_dir()
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        card = d / CARD
        if not card.is_file():
            continue
        meta = read_card(card)
        cfg = meta["config"]
        found = meta.get("experiment")
        exp: dict[str, Any] = found if isinstance(found, dict) else {}
        out.append({"name": d.name, "path": str(d), "kind": cfg.get("kind"),
                    "latent_dim": cfg.get("latent_dim"),
                    "experiment": exp.get("name"),
                    "description": exp.get("description", ""),
                    "epochs": meta.get("epochs"), "metrics": meta.get("metrics", {})})
    return out


def bundled_names() -> list[str]:
    """Names of the bundled models (E1..E5) present in this install, in catalogue order;
    empty when the resources folder is missing or unreadable (the GUI lists what it can)."""
    try:
        return [str(m["name"]) for m in list_bundled() if m.get("name")]
    except Exception:  # noqa: BLE001 - a broken resources folder must not break a window
        return []


def read_card(card: Path) -> dict[str, Any]:
    """Parse ``model.json`` (bounded size and nesting); malformed raises :class:`CheckpointError`."""
    meta = read_json_card(Path(card), CheckpointError, "model card")
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError("model card has no 'config' table", card)
    return meta
