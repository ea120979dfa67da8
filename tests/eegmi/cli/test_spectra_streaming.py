"""The eigenspectrum analysis in bounded memory: inputs held as electrode vectors and made
into images per batch on every pass, the input spectrum streamed, and ``--max-inputs``
capped by ``--memory-mb`` with the output saying so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegmi.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    from eegmi.data.preprocess import ClipScaler
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("spectra_stream")
    eeg = np.random.default_rng(0).standard_normal((6000, 32)).cumsum(axis=0).astype(np.float32)
    np.save(root / "eeg.npy", eeg)
    torch.manual_seed(0)
    model = build_model(ModelConfig(filters=(4, 8, 8), latent_dim=6))
    path = save_checkpoint(root / "m", model, {
        "name": "tiny", "scaler": ClipScaler.fit(eeg).to_dict(),
        "injection": {"marks": False, "occlusion": False},
        "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"}})
    return path, root / "eeg.npy"


def _run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, json.loads(cap.out.strip().splitlines()[-1]) if cap.out.strip() else {}, cap.err


def test_model_batches_are_made_per_batch_on_every_pass(tiny) -> None:
    from eegmi.analysis.activations import LazyBatches
    from eegmi.analysis.spectra import model_batches
    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(tiny[0])
    values = np.random.default_rng(1).uniform(0, 1, size=(70, 32)).astype(np.float32)
    batches = model_batches(loaded, values, batch_size=32)
    assert isinstance(batches, LazyBatches) and len(batches) == 3
    made = []
    make = batches.make
    batches.make = lambda rows: made.append(len(rows)) or make(rows)
    first, second = list(batches), list(batches)
    assert made == [32, 32, 6, 32, 32, 6]  # never more than one batch of images at a time
    want = adapt(loaded).model_input(torch.from_numpy(values)).float()
    assert torch.equal(torch.cat(first), want) and torch.equal(torch.cat(second), want)


def test_streamed_input_spectrum_equals_the_whole_matrix(tiny, capsys) -> None:
    from eegmi.analysis.eigenspectrum import eigenspectrum
    from eegmi.analysis.inputs import InputSpec, analysis_inputs
    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint

    model, eeg = tiny
    for count in ("300", "3500"):  # held rows (n <= 2 x 1600) and a folded covariance
        code, res, err = _run(capsys, "analyze", "eigenspectrum", str(model), "--data", str(eeg),
                              "--layers", "latent.mu", "--max-inputs", count,
                              "--null-seeds", "0", "--json")
        assert code == 0, err
        loaded = load_checkpoint(model)
        vals = analysis_inputs(loaded, InputSpec(count=int(count), data=str(eeg))).values
        x = adapt(loaded).model_input(torch.from_numpy(vals)).reshape(len(vals), -1).numpy()
        whole = eigenspectrum(x, strict=False)
        assert res["input"]["n_samples"] == int(count)
        assert res["input"]["effective_rank"] == whole.effective_rank
        assert res["input"]["alpha"] == pytest.approx(whole.alpha, rel=1e-6)


def test_max_inputs_capped_by_memory_and_reported(tiny, capsys) -> None:
    model, eeg = tiny
    code, res, err = _run(capsys, "analyze", "eigenspectrum", str(model), "--data", str(eeg),
                          "--layers", "latent.mu", "--max-inputs", "5000", "--memory-mb", "1",
                          "--null-seeds", "0", "--json")
    assert code == 0, err
    # 1 MB holds 4096 inputs of 32 electrodes (drawn rows and their scaled copy)
    assert res["frames_used"] == 4096 and res["frames_requested"] == 5000
    assert res["frames_available"] == 6000 and res["capped"] is True
    assert res["inputs"]["n"] == 4096 and res["layers"]["latent.mu"]["n_samples"] == 4096
    assert "4096 of 5000 requested inputs used" in err
    code, res, err = _run(capsys, "analyze", "eigenspectrum", str(model), "--data", str(eeg),
                          "--layers", "latent.mu", "--max-inputs", "100", "--null-seeds", "0",
                          "--json")
    assert code == 0 and res["capped"] is False and res["frames_used"] == 100
    assert "note" not in err
