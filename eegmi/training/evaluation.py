"""Loss and held-out evaluation shared by the training loop and ``eegmi evaluate``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from eegmi.models.decoder import VAEOutput
from eegmi.models.hooks import HookedModel, model_input
from eegmi.training.metrics import image_metrics


def vae_loss(out: VAEOutput, target: torch.Tensor, mask: torch.Tensor | None,
             beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, reconstruction MSE, KL)`` for one batch.

    Parameters
    ----------
    out
        Model output; ``out.recon`` is ``(B, 1, H, W)``.
    target
        ``(B, 1, H, W)`` clean images.
    mask
        ``(H, W)`` weights (1 inside the head disc) or None for every pixel.
    beta
        KL weight; the KL is summed over latent dimensions, averaged over the batch.
    """
    err = (out.recon.float() - target.float()) ** 2
    if mask is not None:
        rec = (err * mask).sum(dim=(1, 2, 3)).mean() / mask.sum()
    else:
        rec = err.mean()
    if out.logvar is None:
        kl = torch.zeros((), device=rec.device)
    else:
        mu, logvar = out.mu.float(), out.logvar.float()
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum(dim=1).mean()
    return rec + beta * kl, rec, kl


def evaluate_batches(model: HookedModel, batches: Any, mask: torch.Tensor | None = None,
                     beta: float = 0.0, head: torch.Tensor | np.ndarray | None = None
                     ) -> dict[str, float]:
    """Mean loss, MSE, MAE and SSIM (whole image, data range 1) over ``batches``.

    ``head`` (``(H, W)`` bool, the head disc) adds ``ssim_head``: SSIM averaged over
    the windows centred in the disc (see :mod:`eegmi.training.metrics`).  Runs in
    ``inference_mode`` with the model in eval mode (``z = mu``); restores the model's
    previous mode afterwards.
    """
    steps = evaluate_steps(model, batches, mask, beta, head)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return dict(stop.value)


def evaluate_steps(model: HookedModel, batches: Any, mask: torch.Tensor | None = None,
                   beta: float = 0.0, head: torch.Tensor | np.ndarray | None = None
                   ) -> Generator[int, None, dict[str, float]]:
    """:func:`evaluate_batches` one batch at a time: yields the batches done, returns the
    metrics.  Inference mode is entered per batch, never held across a ``yield``: the
    GUI worker serves other requests between two steps of a job."""
    was_training = model.training
    sums = {"loss": 0.0, "mse": 0.0, "mae": 0.0, "ssim": 0.0}
    head_t = (head.bool() if isinstance(head, torch.Tensor)
              else None if head is None else torch.from_numpy(np.array(head, dtype=bool)))
    if head_t is not None:
        sums["ssim_head"] = 0.0
    n = 0
    try:
        for i, batch in enumerate(batches):
            model.eval()
            with torch.inference_mode():
                out = model(model_input(model, batch))
                loss, _, _ = vae_loss(out, batch.target, mask, beta)
                b = out.recon.shape[0]
                sums["loss"] += float(loss) * b
                if head_t is not None and head_t.device != out.recon.device:
                    head_t = head_t.to(out.recon.device)
                for key, value in image_metrics(out.recon.float(), batch.target.float(),
                                                head_t).items():
                    sums[key] += float(value.double().sum())
            n += b
            yield i + 1
    finally:
        model.train(was_training)
    return {k: (v / n if n else float("nan")) for k, v in sums.items()} | {"n": n}


def weight_norm(model: torch.nn.Module) -> float:
    """L2 norm of all parameters (tracks weight decay's pull)."""
    with torch.no_grad():
        return float(np.sqrt(sum(float((p.double() ** 2).sum()) for p in model.parameters())))


def evaluate_checkpoint(loaded: Any, data: Any, split: str = "test", batch_size: int = 512,
                        device: str | torch.device = "cpu",
                        baseline: bool = True) -> dict[str, Any]:
    """Metrics of a loaded checkpoint on one split of ``data``, beside the PCA baseline.

    The split is rebuilt from the settings stored in the card (same grouping, fractions,
    seed and ``max_frames``), and inputs are scaled with the checkpoint's own scaler, so
    on the training data this is exactly the held-out set the model never saw.

    Parameters
    ----------
    loaded
        A :class:`eegmi.training.checkpoint.LoadedModel`.
    data
        :class:`eegmi.data.recording.EEGData`; channels are matched by name.
    split
        ``"test"``, ``"val"`` or ``"train"``.
    baseline
        Also score PCA with the model's latent size, fitted on the training split's
        images, on the same frames (:func:`eegmi.training.baseline.pca_baseline`).

    Returns
    -------
    dict
        ``{"split", "n", "mse", "mae", "ssim", "ssim_head", "loss"}`` and, with
        ``baseline``, ``"baseline"`` (its figures and ``note``) and ``"comparison"``.
    """
    from eegmi.data.dataset import TopomapBatches
    from eegmi.errors import CheckpointError, ConfigError
    from eegmi.training.experiments import ExperimentConfig
    from eegmi.training.prepare import prepare_data

    if split not in ("test", "val", "train"):
        raise ConfigError(f"split {split!r} is not one of test, val, train")
    try:
        exp = ExperimentConfig.from_dict(loaded.meta["experiment"])
    except (KeyError, ConfigError) as exc:
        raise CheckpointError(f"model card has no usable experiment ({exc})",
                              loaded.path / "model.json") from None
    inj_cfg = getattr(loaded, "injection_config", None)
    if inj_cfg is not None:  # the layout the model was trained with (older cards: legacy)
        exp.injection.layout = inj_cfg.layout
    prep = prepare_data(exp, data, scaler=loaded.scaler)
    model = loaded.model.to(device)
    batches = TopomapBatches(prep.values, getattr(prep.split, split), prep.operator, prep.scaler,
                             prep.injection, batch_size=batch_size, device=device)
    mask = None if prep.loss_mask is None else torch.from_numpy(prep.loss_mask.copy()).to(device)
    res = evaluate_batches(model, batches, mask, exp.training.beta, prep.operator.head_mask)
    out: dict[str, Any] = {"split": split, "n": res["n"], "mse": res["mse"], "mae": res["mae"],
                           "ssim": res["ssim"], "ssim_head": res["ssim_head"],
                           "loss": res["loss"]}
    if baseline:
        from eegmi.training.baseline import pca_baseline

        k = int(exp.model.latent_dim)
        from eegmi.models.adapter import adapt

        # a model whose input is the electrode vector is compared with a linear decoder
        base = pca_baseline(prep, k, split, linear_decoder=adapt(loaded).takes_values)
        out["baseline"] = base
        out["comparison"] = compare_with_baseline(res["mse"], res["ssim_head"], base)
    return out


#: A baseline MSE below this (images in [0, 1]) is float rounding: the baseline is exact.
EXACT_MSE = 1e-10


def compare_with_baseline(mse: float, ssim_head: float, base: dict[str, Any]) -> str:
    """One sentence: the model against PCA-k on MSE and head-disc SSIM."""
    k = base["k"]
    if base["mse"] < EXACT_MSE:
        mse_part = (f"MSE {mse:.3g} vs PCA-{k} {base['mse']:.2g}: PCA-{k} is exact (float "
                    "rounding only)")
    elif mse > base["mse"]:
        mse_part = (f"MSE {mse:.3g} vs PCA-{k} {base['mse']:.3g}: the linear baseline is "
                    f"{mse / base['mse']:.3g}x better")
    else:
        mse_part = (f"MSE {mse:.3g} vs PCA-{k} {base['mse']:.3g}: the model is "
                    f"{base['mse'] / max(mse, 1e-300):.3g}x better than the linear baseline")
    better = "model" if ssim_head > base["ssim_head"] else "linear baseline"
    return (f"{mse_part}; head-disc SSIM {ssim_head:.4f} vs {base['ssim_head']:.4f} "
            f"({better} higher)")
