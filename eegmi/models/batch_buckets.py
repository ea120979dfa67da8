"""Convolutions that run evaluation batches in power-of-two pieces.

Torch's CPU convolutions (oneDNN) keep native memory for every input shape they
have seen: about 0.6 MB per new batch size for a bundled VAE (0.9 with MKL's
share, which ``import eegmi`` turns off), never returned
(``benchmarks/shape_caches.py``).  Analyses take batches of whatever size the
user asked for (130 inputs, then 131, ...), so a long session kept growing.  In
evaluation mode these layers split a batch of ``n`` rows into power-of-two
pieces (:func:`batch_pieces`: 200 -> 128 + 64 + 8) and concatenate the outputs,
so only ``log2`` of the largest batch shapes ever reach the kernel.  Nothing is
padded, so no work is wasted; every output row depends on its own input row only
(these models have no batch statistics), so the pieces give the rows the whole
batch gives.  Hook points and forward hooks on the layer see the whole batch.
Training mode runs unsplit: its batches have one size per run already.  So do
other devices than the CPU, where this memory is not kept and a split batch
would only cost kernel launches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["BucketedConv2d", "BucketedConvTranspose2d", "batch_pieces", "use_plain_layers"]


def batch_pieces(n: int) -> list[int]:
    """The power-of-two piece sizes a batch of ``n`` rows runs in, largest first
    (the binary digits of ``n``: ``200 -> [128, 64, 8]``; ``0 -> []``)."""
    return [1 << bit for bit in range(int(n).bit_length() - 1, -1, -1) if n >> bit & 1]


def _run_in_pieces(module: nn.Module, x: torch.Tensor,
                   run: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``run(x)`` for ``x (n, C, H, W)``; in eval mode on the CPU, run on the
    :func:`batch_pieces` of ``n`` and concatenated along the batch."""
    n = x.shape[0]
    if module.training or x.dim() != 4 or x.device.type != "cpu" or n & (n - 1) == 0:
        return run(x)  # powers of two (and 0) run whole
    outputs, start = [], 0
    for size in batch_pieces(n):
        outputs.append(run(x[start:start + size]))
        start += size
    return torch.cat(outputs)


class BucketedConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` that runs eval batches in :func:`batch_pieces`
    (same parameters and state-dict keys)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (torch's name)
        return _run_in_pieces(self, input, super().forward)


class BucketedConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` that runs eval batches in :func:`batch_pieces`
    (same parameters and state-dict keys)."""

    def forward(self, input: torch.Tensor,  # noqa: A002 (torch's name)
                output_size: list[int] | None = None) -> torch.Tensor:
        return _run_in_pieces(self, input, lambda x: super(BucketedConvTranspose2d, self)
                              .forward(x, output_size))


def use_plain_layers(model: nn.Module) -> nn.Module:
    """Turn ``model``'s bucketed layers back into torch's classes, in place (the
    baseline the benchmarks and tests compare with); returns ``model``."""
    for m in model.modules():
        # the subclasses add no state, so the torch class fits the same object
        if isinstance(m, BucketedConv2d):
            setattr(m, "__class__", nn.Conv2d)  # noqa: B010 (a class change, not an attribute)
        elif isinstance(m, BucketedConvTranspose2d):
            setattr(m, "__class__", nn.ConvTranspose2d)  # noqa: B010
    return model
