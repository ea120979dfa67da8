"""The trivial linear baseline every model is shown beside: PCA of the training images.

A model with a ``k``-dimensional code is compared with **PCA-k**: the mean and the top
``k`` principal components of the clean target images of the model's *training*
split, applied (centre, project, reconstruct) to the same held-out frames the model
is scored on.  PCA-k is the best any affine encoder/decoder pair with a ``k``-number
code can do on the training distribution.  The model inputs (watermarked, occluded
or not) determine the electrode values linearly here (occlusion keeps the electrode
pixels), so the bound applies to every experiment.

On this data the bar is very low: every topomap is a *linear* function of the
electrode values, clipped and scaled to ``[0, 1]`` (see :mod:`eegmi.data.topomap`), so
the images lie in an affine subspace of dimension at most the number of electrodes
and PCA with that many components reconstructs them exactly.  :func:`pca_baseline`
measures that dimension (``image_rank``) rather than assuming it and says so in its
``note``.

E1 has no encoder: its input *is* the 32 electrode values.  Its like-for-like
baseline is the least-squares linear (affine) decoder from those values to the
image, fitted on the training split (``linear_decoder``), which recovers the topomap
operator and is exact; PCA-32 is reported beside it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from eegmi.errors import DataError
from eegmi.training.metrics import image_metrics

#: Singular values below this fraction of the largest count as zero (float32 images).
RANK_TOL = 1e-5


def _scaled(prep: Any, indices: np.ndarray, chunk: int = 4096) -> Iterator[np.ndarray]:
    """Yield the scaled electrode values ``(b, n)`` float32 of ``indices``, chunk by chunk."""
    for start in range(0, len(indices), chunk):
        idx = np.sort(indices[start:start + chunk])
        yield prep.scaler.transform(np.asarray(prep.values[idx], dtype=np.float32))


def _targets(prep: Any, indices: np.ndarray, chunk: int = 4096
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(values (b, n) float64 scaled, images (b, H*W) float64)`` chunks."""
    for scaled in _scaled(prep, indices, chunk):
        img = prep.operator.render(scaled).reshape(len(scaled), -1)
        yield scaled.astype(np.float64), img.astype(np.float64)


def fit_pca(prep: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the training split's clean target images.

    The targets are ``operator.render(scaled values)``, i.e. ``v @ M.T`` with the
    ``(H*W, n)`` operator matrix ``M``, so their mean is ``M mean(v)`` and their
    covariance is exactly ``M Cov(v) M.T``; it is computed that way (an ``n x n``
    covariance over the training frames) instead of an ``(H*W)^2`` Gram matrix over
    every training image, which is the same PCA at a small fraction of the cost.

    Returns
    -------
    mean : ``(H*W,)``
    components : ``(H*W, r)`` principal directions as columns, by decreasing variance
        (``r = min(n, H*W)``; every further direction has zero variance)
    variances : ``(r,)`` their variances (eigenvalues of the image covariance)
    """
    m = np.asarray(prep.operator.matrix, dtype=np.float64)
    chunks = (s.astype(np.float64) for s in _scaled(prep, prep.split.train))
    first = next(chunks, None)
    if first is None:
        raise DataError("no training frames to fit the PCA baseline on")
    shift = first.mean(axis=0)  # centred on the first chunk's mean: accurate float64 sums
    total = np.zeros_like(shift)
    gram = np.zeros((len(shift), len(shift)))
    count = 0
    for v in itertools.chain([first], chunks):
        vc = v - shift
        total += vc.sum(axis=0)
        gram += vc.T @ vc
        count += len(v)
    mean_c = total / count
    cov_v = (gram - count * np.outer(mean_c, mean_c)) / max(count - 1, 1)
    evals, evecs = np.linalg.eigh(cov_v)
    half = evecs * np.sqrt(np.clip(evals, 0.0, None))  # cov_v = half @ half.T
    u, sing, _ = np.linalg.svd(m @ half, full_matrices=False)  # M cov_v M.T = U S^2 U.T
    return m @ (shift + mean_c), u, sing**2


def _fit_linear_decoder(prep: Any) -> np.ndarray:
    """Least-squares affine map ``[values, 1] -> image`` on the training split, ``(n+1, H*W)``."""
    xtx: np.ndarray | None = None
    xty: np.ndarray | None = None
    for v, y in _targets(prep, prep.split.train):
        a = np.c_[v, np.ones(len(v))]  # (b, n + 1)
        xtx = a.T @ a if xtx is None else xtx + a.T @ a
        xty = a.T @ y if xty is None else xty + a.T @ y
    if xtx is None or xty is None:
        raise DataError("no training frames to fit the linear decoder on")
    return np.linalg.lstsq(xtx, xty, rcond=None)[0]


def _score(recon_fn: Any, prep: Any, indices: np.ndarray, head: np.ndarray) -> dict[str, float]:
    size = prep.operator.size
    head_t = torch.from_numpy(np.array(head, dtype=bool))
    sums: dict[str, float] = {}
    n = 0
    for v, y in _targets(prep, indices):
        pred = torch.from_numpy(recon_fn(v, y).reshape(-1, 1, size, size)).float()
        target = torch.from_numpy(y.reshape(-1, 1, size, size)).float()
        for key, value in image_metrics(pred, target, head_t).items():
            sums[key] = sums.get(key, 0.0) + float(value.double().sum())
        n += len(y)
    return {k: s / n for k, s in sums.items()}


def pca_baseline(prep: Any, k: int, split: str = "test",
                 linear_decoder: bool = False) -> dict[str, Any]:
    """Scores of PCA-``k`` (fitted on the training images) on one split.

    Parameters
    ----------
    prep
        :class:`eegmi.training.prepare.Prepared` of the model being compared (same
        split, scaler and operator, so the frames are the model's).
    k
        Number of components: the model's latent size.
    split
        ``"test"``, ``"val"`` or ``"train"``.
    linear_decoder
        Also score the least-squares affine decoder from the scaled electrode values
        (E1's like-for-like baseline).

    Returns
    -------
    dict
        ``{"method", "k", "mse", "mae", "ssim", "ssim_head", "image_rank",
        "explained_variance", "note"}`` and, with ``linear_decoder``, ``"linear_decoder"``
        with its own ``mse``/``mae``/``ssim``/``ssim_head``.
    """
    indices = getattr(prep.split, split)
    mean, comps, variances = fit_pca(prep)
    k = int(min(k, comps.shape[1]))
    basis = comps[:, :k]
    sd = np.sqrt(variances)
    rank = int((sd > RANK_TOL * sd[0]).sum()) if sd[0] > 0 else 0
    head = prep.operator.head_mask
    scores = _score(lambda v, y: ((y - mean) @ basis) @ basis.T + mean, prep, indices, head)
    n_el = prep.values.shape[1]
    explained = float(variances[:k].sum() / variances.sum()) if variances.sum() > 0 else 1.0
    note = (f"linear baseline: PCA-{k} (mean + top {k} principal components of the "
            f"{len(prep.split.train)} training images, applied to the same {len(indices)} "
            f"{split} frames). Every topomap is a linear function of the {n_el} clipped, "
            f"scaled electrode values, so the training images span only {rank} dimensions "
            f"(affine) and PCA-{rank} reconstructs them exactly; a model with latent size "
            f"{k} should be judged against PCA-{k}, not against zero.")
    out: dict[str, Any] = {"method": "pca", "k": k, **scores, "image_rank": rank,
                           "explained_variance": explained, "note": note}
    if linear_decoder:
        w = _fit_linear_decoder(prep)
        lin = _score(lambda v, y: np.c_[v, np.ones(len(v))] @ w, prep, indices, head)
        out["linear_decoder"] = {**lin, "note": (
            f"least-squares affine decoder from the {n_el} scaled electrode values to the "
            "image, fitted on the training split: the comparable baseline for a decoder "
            "whose input is the electrode values (E1); it recovers the topomap operator.")}
    return out
