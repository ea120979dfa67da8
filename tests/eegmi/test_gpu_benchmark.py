"""``benchmarks/gpu.py``: its whole code path on the CPU (``--dry-run``, tiny sizes), and
the clean skip on a machine without CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

GPU_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def _gpu_module():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", GPU_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: the real check runs")
def test_without_cuda_it_skips_cleanly(capsys) -> None:
    assert _gpu_module().main(["--device", "cuda"]) == 0
    assert _last_json(capsys) == {"skipped": "no CUDA device"}


def test_dry_run_runs_every_part_on_cpu(capsys) -> None:
    gpu = _gpu_module()
    rc = gpu.main(["--dry-run", "--frames", "1200", "--batch-size", "32", "--big-batch", "0",
                   "--epoch-budget-s", "0.3"])
    out = _last_json(capsys)
    assert rc == 0
    assert out["device"] == "cpu" and out["data"]["frames"] == 1200
    # E3's conv1: 32 maps of 20x20, each 1x4x4 multiply-adds per output
    assert out["flops_per_frame"]["layers"]["conv1"] == 2 * 32 * 20 * 20 * 16
    fwd = sum(out["flops_per_frame"]["layers"].values())
    assert out["flops_per_frame"]["train"] == pytest.approx(3 * fwd - 2 * 32 * 20 * 20 * 16)
    runs = out["training"]
    assert [(r["batch_size"], r["amp"]) for r in runs] == [(32, False), (32, True)]
    for r in runs:
        assert r["amp_effective"] is False  # bf16 autocast is CUDA-only in the loop
        assert r["batches_per_epoch"] == -(-r["train_frames"] // 32)
        assert r["frames_per_s"] > 0 and r["tflops"] > 0
    assert out["topomap"]["max_abs_diff_vs_cpu"] == 0.0
    assert out["click"]["cpu"]["forward_values"]["calls"] > 0
    assert out["sae"]["vectors"] == out["sae"]["frames"] * 25  # enc.act3: 5x5 positions
    assert out["check"]["passed"] is True
    assert out["check"]["fp32"]["recon_max_abs_diff"] == 0.0  # CPU against itself
