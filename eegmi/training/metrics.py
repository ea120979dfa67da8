"""Image-quality metrics on batches of topomaps (data range 1), computed in torch.

SSIM follows ``skimage.metrics.structural_similarity`` with its defaults
(7x7 uniform window, K1=0.01, K2=0.03, sample covariance, mean over the window
positions that lie fully inside the image) so figures are comparable with the
paper's; running it on the batch in torch avoids a per-image Python loop.
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
    pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, win_size: int = 7
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

    Returns
    -------
    Tensor ``(B,)`` mean SSIM of each image.
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
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1).to(pred.dtype if pred.is_floating_point() else torch.float32)


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"mse", "mae", "ssim"}``, each a ``(B,)`` tensor, for one batch."""
    return {"mse": mse(pred, target), "mae": mae(pred, target), "ssim": ssim(pred, target)}
