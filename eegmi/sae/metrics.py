"""How good an SAE is: sparsity, fidelity, dead/dense features, and the model's own
reconstruction quality with the SAE spliced into the layer.

Definitions (per SAE input vector — one position in spatial mode, one frame in flat mode):

- ``l0``: mean number of features with activation > 0;
- ``fve``: fraction of variance explained, ``1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖²``;
- ``dead_fraction``: features never active on the evaluation set;
- ``dense_fraction``: features active on more than ``DENSE_THRESHOLD`` (10%) of inputs;
- ``raw_l0``: mean number of nonzero raw activations per input (``d`` on a
  leaky-ReLU layer, which has no exact zeros), next to ``d``, the input dimension.

There is deliberately no "compression" figure.  An earlier one, ``raw_l0 / l0``
(after seed 003's "7x fewer activations"), is ``d / l0`` on every layer of the
bundled models (all leaky ReLU), so it restated ``l0``; it grew without bound as an
SAE explained less (``l0 -> 0`` at ``fve -> 0``) and ignored that a sparse code must
also say *which* of ``n_features`` features are active.  Seed 003's count compares
ReLU layers, whose zeros are real.  Read sparsity from ``l0`` (and ``l0 / d``) beside
fidelity (``fve`` and the spliced reconstruction), never alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.hooks import model_input
from eegmi.sae.activations import (
    from_vectors,
    model_output,
    model_target,
    splice,
    to_vectors,
)
from eegmi.sae.model import SparseAutoencoder

DENSE_THRESHOLD = 0.10


@torch.no_grad()
def sae_metrics(sae: SparseAutoencoder, x: np.ndarray | torch.Tensor, batch_size: int = 4096) -> dict[str, float]:
    """Evaluate an SAE on vectors ``x (N, d)``.

    Returns
    -------
    dict
        ``l0, fve, mse, dead_fraction, dense_fraction, raw_l0, d, n_inputs``.
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    dev = next(sae.parameters()).device
    n, _ = xt.shape
    fires = torch.zeros(sae.config.n_features, dtype=torch.float64)
    l0 = raw_l0 = sq_err = 0.0
    s1 = torch.zeros(xt.shape[1], dtype=torch.float64)
    s2 = 0.0
    for i in range(0, n, batch_size):
        xb = xt[i: i + batch_size].to(dev)
        x_hat, f = sae(xb)
        active = f > 0
        fires += active.sum(0).double().cpu()
        l0 += float(active.sum())
        raw_l0 += float((xb != 0).sum())
        sq_err += float((xb - x_hat).double().pow(2).sum())
        s1 += xb.double().sum(0).cpu()
        s2 += float(xb.double().pow(2).sum())
    total_var = s2 - float((s1 ** 2).sum()) / n
    freq = fires / n
    mean_l0 = l0 / n
    return {
        "n_inputs": int(n),
        "l0": mean_l0,
        "fve": 1.0 - sq_err / max(total_var, 1e-12),
        "mse": sq_err / (n * xt.shape[1]),
        "dead_fraction": float((freq == 0).double().mean()),
        "dense_fraction": float((freq > DENSE_THRESHOLD).double().mean()),
        "raw_l0": raw_l0 / n,
        "d": int(xt.shape[1]),
    }


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of image batches ``(B, 1, H, W)`` with data range 1 (the project's metric)."""
    try:
        from eegmi.training.metrics import ssim  # the shared definition, so numbers match training
    except ImportError:  # training package absent in a partial build: same SSIM via scikit-image
        from skimage.metrics import structural_similarity

        a_np, b_np = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
        return float(np.mean([structural_similarity(x[0], y[0], data_range=1.0) for x, y in zip(a_np, b_np, strict=True)]))
    return float(ssim(a, b).mean())


def spliced_reconstruction(
    model: nn.Module,
    sae: SparseAutoencoder,
    batches: Iterable[Any],
    hook: str,
    mode: str,
    max_frames: int | None = None,
    cancel: CancelToken | None = None,
) -> Job[dict[str, float]]:
    """The model's reconstruction quality with and without the SAE spliced into ``hook``.

    The SAE output replaces the layer's output (forward hook), so everything
    downstream sees only what the SAE kept.

    Yields
    ------
    Progress
        One per batch.

    Returns
    -------
    dict
        ``mse_clean, mse_spliced, ssim_clean, ssim_spliced, mse_ratio, frames``.
    """
    model.eval()
    dev = next(sae.parameters()).device

    def through_sae(out: torch.Tensor) -> torch.Tensor:
        v = to_vectors(out, mode)
        x_hat, _ = sae(v.to(dev))
        return from_vectors(x_hat.to(out.dtype).to(out.device), tuple(out.shape[1:]), mode)

    n_total = len(batches) if hasattr(batches, "__len__") else 0  # type: ignore[arg-type]
    sums = {"mse_clean": 0.0, "mse_spliced": 0.0, "ssim_clean": 0.0, "ssim_spliced": 0.0}
    seen = 0
    with torch.no_grad():
        for i, batch in enumerate(batches):
            if cancel is not None:
                cancel.raise_if_cancelled()
            inp = model_input(model, batch)
            if max_frames is not None:
                inp = inp[: max_frames - seen]
            b = inp.shape[0]
            clean = model_output(model(inp))
            target = model_target(batch, clean)[:b]
            with splice(model, hook, through_sae):
                spliced = model_output(model(inp))
            sums["mse_clean"] += float((clean - target).pow(2).mean()) * b
            sums["mse_spliced"] += float((spliced - target).pow(2).mean()) * b
            sums["ssim_clean"] += _ssim(clean, target) * b
            sums["ssim_spliced"] += _ssim(spliced, target) * b
            seen += b
            yield Progress(i + 1, n_total, f"spliced reconstruction: {seen} frames")
            if max_frames is not None and seen >= max_frames:
                break
    res = {k: v / max(seen, 1) for k, v in sums.items()}
    res["mse_ratio"] = res["mse_spliced"] / max(res["mse_clean"], 1e-12)
    res["frames"] = float(seen)
    return res
