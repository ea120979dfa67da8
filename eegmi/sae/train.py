"""Training a sparse autoencoder on a matrix of activation vectors.

Training is a job generator (``eegmi.jobs``): it yields a :class:`Progress` every
``report_every`` steps with the loss, L0 and fraction of variance explained of
the last batch, and returns a :class:`SAETrainResult`.  Decoder columns are kept
at unit norm (gradient projected, then renormalised after every step), and
features that have not fired for ``dead_steps`` steps are resampled towards
inputs the SAE reconstructs badly (Anthropic, "Towards monosemanticity").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from eegmi.devices import pick_device
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.sae.model import SAEConfig, SparseAutoencoder


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes
    ----------
    steps
        Optimiser steps.
    batch_size
        Vectors per step.
    lr
        Adam learning rate.
    seed
        Seed of initialisation, batch order and resampling.
    dead_steps
        A feature silent for this many consecutive steps is dead (0 disables resampling).
    resample_every
        How often (steps) dead features are looked for.
    report_every
        Progress report interval (steps).
    device
        ``"cpu"``, ``"cuda"`` or None (CUDA when present).
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 3e-3
    seed: int = 0
    dead_steps: int = 200
    resample_every: int = 100
    report_every: int = 10
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SAETrainResult:
    """What training returns: the SAE (on CPU, eval mode) and its loss curve."""

    sae: SparseAutoencoder
    history: list[dict[str, float]] = field(default_factory=list)
    resampled: int = 0
    steps: int = 0




def check_activations(x: np.ndarray, path: str | None = None) -> np.ndarray:
    """Validate an activation matrix ``(N, d)``; returns it as float32.

    Raises
    ------
    DataError
        When it is not 2-D, is empty, or holds NaN/inf.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"activations must be a 2-D array (N, d), got shape {x.shape}", path)
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise DataError(f"activations need at least 2 vectors of width >= 1, got shape {x.shape}", path)
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"activations must be numeric, got dtype {x.dtype}", path)
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"activations contain {int(bad.sum())} NaN/inf values "
                        f"(first at row {int(np.argwhere(bad)[0, 0])})", path)
    return x


def train_sae(
    x: np.ndarray | torch.Tensor,
    config: SAEConfig,
    train: TrainConfig | None = None,
    cancel: CancelToken | None = None,
) -> Job[SAETrainResult]:
    """Train an SAE on activation vectors.

    Parameters
    ----------
    x
        Activations ``(N, d)``; ``d`` must equal ``config.d_in``.
    config
        SAE architecture.
    train
        Optimisation settings.
    cancel
        Polled every step.

    Yields
    ------
    Progress
        ``payload = {"step", "loss", "mse", "l1", "l0", "fve", "dead_fraction"}``.

    Returns
    -------
    SAETrainResult
    """
    train = train or TrainConfig()
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = check_activations(x)
    if x.shape[1] != config.d_in:
        raise DataError(f"activation width {x.shape[1]} does not match the SAE input width {config.d_in}")
    if train.steps < 1 or train.batch_size < 1:
        raise ConfigError(f"steps and batch size must be positive (steps={train.steps}, batch={train.batch_size})")
    device = pick_device(train.device)
    gen = torch.Generator().manual_seed(train.seed)
    sae = SparseAutoencoder(config, generator=gen)
    data = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    n = data.shape[0]
    with torch.no_grad():
        # input scale so E||x/s||^2 = d, and b_d at the data mean (a cheap geometric-median proxy)
        sample = data[torch.randperm(n, generator=gen)[: min(n, 8192)].to(device)]
        scale = float(sample.pow(2).sum(-1).mean().div(config.d_in).sqrt().clamp_min(1e-8))
        sae.scale.fill_(scale)
        sae.b_dec.copy_((sample.mean(0) / scale).cpu())
    sae.to(device).train()
    opt = _adam(sae.parameters(), train.lr)
    since_fired = torch.zeros(config.n_features, dtype=torch.long, device=device)
    history: list[dict[str, float]] = []
    resampled = 0
    batch = min(train.batch_size, n)
    perm = torch.randperm(n, generator=gen)
    cursor = 0
    for step in range(1, train.steps + 1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if cursor + batch > n:
            perm = torch.randperm(n, generator=gen)
            cursor = 0
        xb = data[perm[cursor: cursor + batch].to(device)]
        cursor += batch
        loss, parts = sae.loss(xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_gradient()
        opt.step()
        sae.normalize_decoder()
        with torch.no_grad():
            fired = parts["f_sum"] > 0  # activations are >= 0: a positive sum means one fired
            since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
        if train.dead_steps > 0 and step % train.resample_every == 0 and step < train.steps:
            dead = since_fired >= train.dead_steps
            if bool(dead.any()):
                resampled += _resample(sae, opt, data, dead, gen, batch_size=max(batch * 8, 1024))
                since_fired[dead] = 0
        if step % train.report_every == 0 or step == train.steps:
            with torch.no_grad():
                f, x_hat = parts["f"], parts["x_hat"]
                resid = (xb - x_hat).pow(2).sum()
                total = (xb - xb.mean(0)).pow(2).sum().clamp_min(1e-12)
                rec = {
                    "step": float(step),
                    "loss": float(loss),
                    "mse": float(parts["mse"]),
                    "l1": float(parts["l1"]),
                    "l0": float((f > 0).float().sum(-1).mean()),
                    "fve": float(1 - resid / total),
                    "dead_fraction": float((since_fired >= max(train.dead_steps, 1)).float().mean()),
                }
            if not np.isfinite(rec["loss"]):
                raise DataError(f"SAE training diverged (loss {rec['loss']}) at step {step}; lower the learning rate")
            history.append(rec)
            yield Progress(step, train.steps, f"loss {rec['loss']:.4g} L0 {rec['l0']:.2f} FVE {rec['fve']:.3f}", rec)
    sae.eval().cpu()
    return SAETrainResult(sae=sae, history=history, resampled=resampled, steps=train.steps)


@torch.no_grad()
def _resample(
    sae: SparseAutoencoder,
    opt: torch.optim.Optimizer,
    data: torch.Tensor,
    dead: torch.Tensor,
    gen: torch.Generator,
    batch_size: int,
) -> int:
    """Re-initialise dead features towards badly reconstructed inputs.

    Inputs are drawn with probability proportional to their squared
    reconstruction error; each dead feature's decoder column becomes the
    normalised (centred) input, its encoder row the same direction scaled to
    0.2 x the mean live encoder norm, its bias 0, and its Adam moments are reset.
    """
    idx_dead = dead.nonzero().flatten()
    n_dead = int(idx_dead.numel())
    sel = torch.randint(0, data.shape[0], (min(batch_size, data.shape[0]),), generator=gen).to(data.device)
    xb = data[sel]
    x_hat, _ = sae(xb)
    err = ((xb - x_hat) / sae.scale).pow(2).sum(-1)
    if float(err.sum()) <= 0:
        return 0
    probs = (err / err.sum()).cpu()
    pick = torch.multinomial(probs, n_dead, replacement=n_dead > probs.numel(), generator=gen).to(data.device)
    dirs = xb[pick] / sae.scale - sae.b_dec
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (n_dead, d)
    alive = ~dead
    enc_norm = sae.W_enc[alive].norm(dim=-1).mean() if bool(alive.any()) else torch.tensor(1.0)
    sae.W_dec[:, idx_dead] = dirs.t()
    sae.W_enc[idx_dead] = dirs * enc_norm * 0.2
    sae.b_enc[idx_dead] = 0.0
    for p, index, dim in ((sae.W_dec, idx_dead, 1), (sae.W_enc, idx_dead, 0), (sae.b_enc, idx_dead, 0)):
        state = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key].index_fill_(dim, index, 0.0)
    return n_dead


def _adam(params: Any, lr: float) -> torch.optim.Adam:
    """Adam with torch's fused kernel (one pass over all parameters per step, on CPU
    too), falling back to the default implementation where the kernel is missing."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or unsupported device
        return torch.optim.Adam(params, lr=lr)
