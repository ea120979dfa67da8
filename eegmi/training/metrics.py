"""Image-quality metrics on batches of topomaps (data range 1), computed in torch.

SSIM follows ``skimage.metrics.structural_similarity`` with its defaults
(7x7 uniform window, K1=0.01, K2=0.03, sample covariance, mean over the window
positions that lie fully inside the image) so figures are comparable with the
paper's; running it on the batch in torch avoids a per-image Python loop.

**Head-disc SSIM** (``ssim_head``): the same SSIM map averaged only over the windows
whose centre pixel lies inside the head disc. Whole-image SSIM also averages the
corners outside the disc, where both images are the constant fill 0 and every window
scores about 1 whatever the model does inside the head, so it flatters every model;
the head-disc figure is the one that speaks about the topomap itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).float()


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image.

    Parameters
    ----------
    pred, target
        ``(B, 1, H, W)`` (or any ``(B, ...)``) images.

    Returns
    -------
    Tensor ``(B,)``
    """
    return ((_flat(pred) - _flat(target)) ** 2).mean(dim=1)


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image, ``(B, ...) -> (B,)``."""
    return (_flat(pred) - _flat(target)).abs().mean(dim=1)


def ssim(
    pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, win_size: int = 7,
    region: torch.Tensor | None = None,
) -> torch.Tensor:
    """Structural similarity per image, matching ``skimage`` defaults.

    Parameters
    ----------
    pred, target
        ``(B, 1, H, W)`` or ``(B, H, W)`` images.
    data_range
        Value range of the images (1 for our [0, 1] topomaps).
    win_size
        Side of the uniform window (odd).
    region
        Optional ``(H, W)`` bool mask (e.g. the head disc): average the SSIM map only
        over the windows whose centre pixel lies in it. None averages every window
        that fits in the image (skimage's figure).

    Returns
    -------
    Tensor ``(B,)`` mean SSIM of each image.
    """
    out_dtype = pred.dtype if pred.is_floating_point() else torch.float32
    smap = ssim_map(pred, target, data_range, win_size)
    return _reduce(smap, region, win_size).to(out_dtype)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
             win_size: int = 7) -> torch.Tensor:
    """The float64 SSIM of every window that fits in the image.

    Returns
    -------
    Tensor ``(B, 1, H - win_size + 1, W - win_size + 1)``; entry ``[b, 0, i, j]`` is the
    window centred on pixel ``(i + win_size // 2, j + win_size // 2)``.
    """
    if pred.dim() == 3:
        pred, target = pred.unsqueeze(1), target.unsqueeze(1)
    # float64: the variance terms subtract nearly equal numbers on smooth topomaps
    x, y = pred.double(), target.double()
    k = win_size
    npix = k * k
    cov_norm = npix / (npix - 1.0)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, k, stride=1)  # valid windows = skimage's cropped region

    ux, uy = filt(x), filt(y)
    uxx, uyy, uxy = filt(x * x), filt(y * y), filt(x * y)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def _reduce(smap: torch.Tensor, region: torch.Tensor | None, win_size: int) -> torch.Tensor:
    if region is None:
        return smap.flatten(1).mean(dim=1)
    half = win_size // 2
    reg = torch.as_tensor(region, device=smap.device).bool()
    centres = reg[half:reg.shape[0] - half, half:reg.shape[1] - half]
    if centres.shape != smap.shape[-2:]:
        raise ValueError(f"region of shape {tuple(reg.shape)} does not fit images whose "
                         f"SSIM map is {tuple(smap.shape[-2:])}")
    w = centres.to(smap.dtype)
    if not bool(w.any()):
        raise ValueError("region holds no SSIM window centre")
    return (smap * w).flatten(1).sum(dim=1) / w.sum()


def image_metrics(pred: torch.Tensor, target: torch.Tensor,
                  head: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``{"mse", "mae", "ssim"}`` (plus ``"ssim_head"`` when ``head`` is given), each a
    ``(B,)`` tensor, for one batch; ``head`` is the ``(H, W)`` bool head disc."""
    smap = ssim_map(pred, target)
    out = {"mse": mse(pred, target), "mae": mae(pred, target),
           "ssim": _reduce(smap, None, 7).float()}
    if head is not None:
        out["ssim_head"] = _reduce(smap, head, 7).float()
    return out
