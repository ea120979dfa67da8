"""Helpers that write hostile model, preset and SAE files for the hostile-input tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch

from eegmi.cli import main
from eegmi.models import ModelConfig, build_model
from eegmi.training.checkpoint import save_checkpoint

DEEP = 100_000  # nesting depth beyond any parser's recursion limit


def tiny_checkpoint(folder: Path) -> Path:
    """A small untrained decoder checkpoint whose card names synthetic data."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="decoder", latent_dim=32, filters=(4, 8, 8)))
    meta = {"name": folder.name,
            "scaler": {"lo": -20.0, "hi": 20.0, "q_low": 5.0, "q_high": 95.0},
            "injection": {"marks": False, "occlusion": False, "mark_value": 1.0},
            "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"},
            "experiment": {"data": {"source": "synthetic"}}}
    return save_checkpoint(folder, model, meta)


def raw_safetensors(path: Path, header: dict[str, Any] | bytes, data: bytes = b"",
                    length: int | None = None) -> Path:
    """A safetensors file from a literal header (which may lie about its tensors)."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    size = len(text) if length is None else length
    path.write_bytes(struct.pack("<Q", size) + text + data)
    return path


def edit_json(path: Path, change: Any) -> None:
    """Apply ``change(doc)`` (which edits in place or returns a replacement) to a JSON file."""
    doc = json.loads(path.read_text())
    new = change(doc)
    path.write_text(json.dumps(doc if new is None else new))


def refused(capsys: Any, argv: list[str], *fragments: str) -> str:
    """Run the CLI; assert one stderr line naming every fragment, non-zero exit, no stdout."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (argv, out, err)
    assert out == "", out
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and err.endswith("\n"), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    return err
