"""Initialise a ConvVAE at the *pick & interpolate* algorithm (seed 000, section 3).

The three stride-2 convolutions start as an exact space-to-depth transform: at each
stage four filters copy the four pixels of every 2x2 cell into four channels (a kernel
with a single 1 at the right tap).  After three stages 64 channels of the 5x5 map hold
all 1600 input pixels, unchanged because (leaky) ReLU is the identity on the
non-negative [0, 1] images.  The ``mu`` head then reads each electrode's pixel (pick),
so ``mu`` equals the image at the electrode pixels; ``logvar`` starts tiny.  The other
filters keep their random initialisation so training can move away from the algorithm.
"""

from __future__ import annotations

import numpy as np
import torch

from eegmi.models.vae import ConvVAE


def pixel_feature_index(row: int, col: int, side: int) -> int:
    """Index in the flattened ``enc.act3`` vector where pixel ``(row, col)`` lands.

    Parameters
    ----------
    row, col
        Pixel of the ``(H, W)`` input image.
    side
        Side of the final feature map (``H / 8``).
    """
    ch, r, c = 0, row, col
    for _ in range(3):
        ch = ch * 4 + (r % 2) * 2 + (c % 2)
        r, c = r // 2, c // 2
    return ch * side * side + r * side + c


def pick_initialise(model: ConvVAE, electrode_pixels: np.ndarray, logvar_bias: float = -10.0) -> None:
    """Set ``model``'s encoder so that ``mu = image[electrode_pixels]`` exactly.

    Parameters
    ----------
    model
        A ConvVAE with ``filters >= (4, 16, 64)`` and ``latent_dim == n`` electrodes.
    electrode_pixels
        ``(n, 2)`` int (row, col) pixel of each electrode, in latent order.
    logvar_bias
        Initial log-variance (a nearly deterministic posterior).
    """
    pixels = np.asarray(electrode_pixels, dtype=int)
    cfg = model.config
    if cfg.filters[0] < 4 or cfg.filters[1] < 16 or cfg.filters[2] < 64:
        raise ValueError("pick initialisation needs filters >= (4, 16, 64)")
    if pixels.shape != (cfg.latent_dim, 2):
        raise ValueError(f"need {cfg.latent_dim} electrode pixels, got shape {pixels.shape}")
    with torch.no_grad():
        for stage, n_in in ((1, 1), (2, 4), (3, 16)):
            conv = getattr(model, f"conv{stage}")
            for c in range(n_in):
                for a in (0, 1):
                    for b in (0, 1):
                        out = c * 4 + a * 2 + b
                        conv.weight[out].zero_()
                        conv.weight[out, c, a + 1, b + 1] = 1.0
                        conv.bias[out] = 0.0
        side = cfg.image_size // 8
        model.fc_mu.weight.zero_()
        model.fc_mu.bias.zero_()
        for e, (row, col) in enumerate(pixels):
            model.fc_mu.weight[e, pixel_feature_index(int(row), int(col), side)] = 1.0
        model.fc_logvar.weight.zero_()
        model.fc_logvar.bias.fill_(logvar_bias)
