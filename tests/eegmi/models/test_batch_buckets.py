"""Bounded native memory over batch sizes: convolutions in power-of-two pieces, MKL's
memory manager off.

Torch's CPU kernels keep native memory for every batch size they see (oneDNN
convolutions ~0.9 MB, MKL products ~0.2 MB per size for a bundled VAE); the GUI ran
analyses of every size a user picks, and grew.  These tests check what the kernels
are given (only power-of-two batches), that the results do not change, and the heap
of a real process over 40 new batch sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from eegmi.models import ModelConfig, build_model
from eegmi.models.batch_buckets import batch_pieces, use_plain_layers

ROOT = Path(__file__).resolve().parents[3]
TINY = dict(filters=(4, 8, 8), image_size=40, n_electrodes=32)


def _plain_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with torch's own layers (the old behaviour)."""
    import copy

    return use_plain_layers(copy.deepcopy(model))


@pytest.fixture
def kernel_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes passed to torch's convolution functions while the test runs."""
    import torch.nn.modules.conv as conv_module

    seen: list[int] = []
    for name in ("conv2d", "conv_transpose2d"):
        original = getattr(conv_module.F, name)

        def record(x: torch.Tensor, *args: object, _f: object = original, **kw: object) -> torch.Tensor:
            seen.append(int(x.shape[0]))
            return _f(x, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(conv_module.F, name, record)
    return seen


@pytest.mark.parametrize("n, pieces", [(0, []), (1, [1]), (2, [2]), (3, [2, 1]), (200, [128, 64, 8]),
                                       (256, [256]), (1023, [512, 256, 128, 64, 32, 16, 8, 4, 2, 1])])
def test_batch_pieces_are_the_binary_digits(n: int, pieces: list[int]) -> None:
    assert batch_pieces(n) == pieces
    assert sum(batch_pieces(n)) == n


@pytest.mark.parametrize("kind", ["vae", "decoder"])
def test_eval_kernels_see_only_power_of_two_batches(kind: str, kernel_batches: list[int]) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, **TINY)).eval()
    with torch.no_grad():
        for n in range(1, 41):
            model(model.example_input(n))
    assert kernel_batches, "no convolution ran"
    assert all(b & (b - 1) == 0 for b in kernel_batches), sorted(set(kernel_batches))
    assert set(kernel_batches) == {1, 2, 4, 8, 16, 32}  # 40 sizes, 6 kernel shapes


def test_training_runs_whole_batches(kernel_batches: list[int]) -> None:
    model = build_model(ModelConfig(**TINY)).train()
    model(torch.rand(37, 1, 40, 40)).recon.sum().backward()
    assert set(kernel_batches) == {37}


@pytest.mark.parametrize("kind", ["vae", "decoder"])
def test_pieces_change_no_result(kind: str) -> None:
    """Outputs, recorded activations and input gradients equal the unsplit layers'."""
    torch.manual_seed(1)
    model = build_model(ModelConfig(kind=kind, **TINY)).eval()
    plain = _plain_copy(model)
    x = model.example_input(37).uniform_()
    out, cache = model.run_with_cache(x)
    ref, ref_cache = plain.run_with_cache(x)
    torch.testing.assert_close(out.recon, ref.recon, rtol=0, atol=1e-6)
    assert cache.keys() == ref_cache.keys()
    for name, act in cache.items():
        assert act.shape[0] == 37, name  # hook points see the whole batch
        torch.testing.assert_close(act, ref_cache[name], rtol=0, atol=1e-5)
    grads = []
    for m in (model, plain):
        xg = x.clone().requires_grad_(True)
        m(xg).recon[:, 0, 20, 20].sum().backward()
        grads.append(xg.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-6)
    assert list(model.state_dict()) == list(plain.state_dict())


_HEAP_SCRIPT = r"""
import ctypes, json, sys
first = sys.argv[1]
if first == "eegmi":
    import eegmi  # sets MKL_DISABLE_FAST_MM before torch loads
import torch
from eegmi.models import ModelConfig, build_model
from eegmi.models.batch_buckets import use_plain_layers

class M(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks "
                                              "fsmblks uordblks fordblks keepcost").split()]
f = ctypes.CDLL(None).mallinfo2
f.restype = M
def heap():
    i = f()
    return (i.uordblks + i.hblkhd) / 2**20
torch.set_num_threads(1)
torch.manual_seed(0)
model = build_model(ModelConfig(filters=(16, 32, 64), latent_dim=27)).eval()
if first == "torch":  # the old layers
    use_plain_layers(model)
with torch.no_grad():
    model(torch.rand(1, 1, 40, 40))
    start = heap()
    for n in range(2, 42):
        model(torch.rand(n, 1, 40, 40))
print(json.dumps({"growth_mb": heap() - start}))
"""


def _heap_growth(first: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MKL_DISABLE_FAST_MM"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT, first], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["growth_mb"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads glibc's heap (mallinfo2)")
def test_new_batch_sizes_keep_no_native_memory() -> None:
    """40 new batch sizes through a VAE of the bundled size: the old layers with MKL's
    memory manager on (torch loaded first) keep tens of MB; as eegmi runs, a few."""
    old = _heap_growth("torch")
    if old < 10:
        pytest.skip(f"this torch build keeps only {old:.1f} MB over 40 batch sizes")
    assert _heap_growth("eegmi") < 0.2 * old
