"""The data behind the SAE feature gallery, computed in one streaming pass.

Per feature ``i`` (over up to ``max_frames`` frames; an *input* is one SAE vector:
a spatial position in ``"spatial"`` mode, a frame in ``"flat"`` mode):

- ``frequency``: fraction of inputs with ``f_i > 0``;
- ``mean_activation``: mean of ``f_i`` over all inputs; ``mean_when_active`` over firing ones;
- ``selectivity``: Treves–Rolls lifetime sparseness
  ``(1 - (E f)^2 / E f^2) / (1 - 1/N)`` in [0, 1]: 0 for a feature equally active on
  every input, 1 for one that fires on a single input;
- top-k dataset frames: a frame's activation is the feature's maximum over the
  frame's positions (spatial mode), its position kept in ``top_positions``;
- histogram of the nonzero activations, 64 equal bins on ``[0, hist_max_i]``;
  ``hist_max_i`` starts at the first batch's maximum and doubles (merging bin
  pairs, so counts stay exact) whenever a larger value arrives; ``hist_density``
  integrates to 1 over the nonzero activations;
- "as a map": for a flattened spatial layer the decoder direction reshaped to
  ``(C, H, W)`` and summed over channels (``decoder_map``); for a per-position SAE
  the direction lives in channel space, so its map is the feature's activation
  over the ``H x W`` positions of its top frame (``top_map``);
- ``electrode_drive (F, n)``: the feature's activation (max over positions) for a
  one-hot signal at each electrode minus that for an all-zero input
  (:func:`electrode_drive`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eegmi.errors import DataError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.hooks import model_input
from eegmi.paths import atomic_path
from eegmi.sae.activations import frame_ids, positions_per_frame, run_to_hook, to_vectors
from eegmi.sae.model import SparseAutoencoder

N_BINS = 64


@dataclass
class FeatureGallery:
    """Per-feature statistics (arrays have the feature index first; ``F`` features).

    Attributes
    ----------
    frequency, mean_activation, mean_when_active, max_activation, selectivity
        ``(F,)`` float64.
    top_frames, top_values
        ``(F, k)`` int64 frame indices (dataset indices when the batches carry them, else
        stream order; -1 when fewer frames) and float32
        activations, best first.
    top_positions
        ``(F, k)`` int64 flat position of the maximum (spatial mode) or None.
    hist_counts, hist_max
        ``(F, 64)`` int64 counts of nonzero activations and ``(F,)`` upper edge.
    top_map
        ``(F, H, W)`` activation map of the top frame (per-position SAE) or None.
    decoder_map
        ``(F, H, W)`` channel-summed decoder direction (flattened spatial layer) or None.
    electrode_drive
        ``(F, n)`` or None.
    n_inputs, n_frames
        Vectors and frames seen.
    """

    frequency: np.ndarray
    mean_activation: np.ndarray
    mean_when_active: np.ndarray
    max_activation: np.ndarray
    selectivity: np.ndarray
    top_frames: np.ndarray
    top_values: np.ndarray
    top_positions: np.ndarray | None
    hist_counts: np.ndarray
    hist_max: np.ndarray
    top_map: np.ndarray | None = None
    decoder_map: np.ndarray | None = None
    electrode_drive: np.ndarray | None = None
    n_inputs: int = 0
    n_frames: int = 0

    def hist_edges(self, i: int) -> np.ndarray:
        """Bin edges ``(65,)`` of feature ``i``'s histogram."""
        return np.linspace(0.0, float(self.hist_max[i]), N_BINS + 1)

    def hist_density(self, i: int) -> np.ndarray:
        """Density ``(64,)`` of feature ``i``'s nonzero activations (integrates to 1; zeros if it never fires)."""
        counts = self.hist_counts[i].astype(np.float64)
        width = self.hist_max[i] / N_BINS
        total = counts.sum()
        return counts / (total * width) if total > 0 and width > 0 else np.zeros(N_BINS)

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays by name (the ones that are not None)."""
        out = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        out["counts"] = np.array([self.n_inputs, self.n_frames], dtype=np.int64)
        return out

    def save_npz(self, path: str | Path) -> Path:
        """Write the arrays to ``path`` (``.npz``, atomically)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            # numpy's stub lets a ``**`` dict fill ``allow_pickle: bool``; every value is an array
            np.savez_compressed(fh, **self.arrays())  # type: ignore[arg-type]
        return path

    def to_json(self, top: int = 5) -> dict[str, Any]:
        """Summary: counts, dead/dense numbers and the ``top`` most frequent features."""
        order = np.argsort(-self.frequency, kind="stable")[:top]
        return {
            "n_features": int(self.frequency.size),
            "n_inputs": self.n_inputs,
            "n_frames": self.n_frames,
            "never_active": int((self.frequency == 0).sum()),
            "most_frequent": [{"feature": int(i), "frequency": float(self.frequency[i]),
                               "mean_when_active": float(self.mean_when_active[i]),
                               "selectivity": float(self.selectivity[i]),
                               "top_frames": self.top_frames[i].tolist()} for i in order],
        }


class FeatureAccumulator:
    """Streaming accumulator of :class:`FeatureGallery` statistics.

    Parameters
    ----------
    n_features, top_k
        Dictionary size and examples kept per feature.
    positions
        SAE vectors per frame (``H*W`` in spatial mode, else 1).
    """

    def __init__(self, n_features: int, top_k: int = 16, positions: int = 1) -> None:
        f = n_features
        self.k, self.p, self.f = top_k, positions, n_features
        # running totals in float64 (F values); each batch is summed in float32
        self.count = torch.zeros(f, dtype=torch.long)
        self.s1 = torch.zeros(f, dtype=torch.float64)
        self.s2 = torch.zeros(f, dtype=torch.float64)
        self.vmax = torch.zeros(f)
        self.top_v = torch.full((f, top_k), -float("inf"))
        self.top_f = torch.full((f, top_k), -1, dtype=torch.long)
        self.top_p = torch.zeros((f, top_k), dtype=torch.long)
        self.hist = torch.zeros((f, N_BINS), dtype=torch.long)
        self.cap = torch.zeros(f)
        self.maps = torch.zeros((f, positions)) if positions > 1 else None
        self.n_inputs = 0
        self.n_frames = 0

    @torch.no_grad()
    def update(self, f: torch.Tensor, frames: np.ndarray | None = None) -> None:
        """Add feature activations ``(B * positions, F)`` (>= 0) of the next ``B`` frames
        (dataset indices ``frames (B,)``; stream positions when None)."""
        f = f.detach().float().cpu()
        rows, cols = (f > 0).nonzero(as_tuple=True)
        self.update_sparse(rows, cols, f[rows, cols], f.shape[0], frames)

    @torch.no_grad()
    def update_sparse(self, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor,
                      n_rows: int, frames: np.ndarray | None = None) -> None:
        """Add the next ``n_rows`` inputs (``n_rows // positions`` frames) given by their
        positive activations only: ``vals (E,)`` of feature ``cols (E,)`` on input
        ``rows (E,)`` (row = frame * positions + position); all others are 0.

        Every statistic is a scatter over the ``E`` entries, so the cost follows the
        number of firing features, not ``n_rows x F``.
        """
        rows, cols = rows.cpu().long(), cols.cpu().long()
        vals = vals.detach().cpu().float()
        nf, p = self.f, self.p
        b = n_rows // p
        self.count += torch.bincount(cols, minlength=nf)
        self.s1 += torch.zeros(nf).index_add_(0, cols, vals).double()
        self.s2 += torch.zeros(nf).index_add_(0, cols, vals * vals).double()
        bmax = torch.zeros(nf).scatter_reduce_(0, cols, vals, "amax")
        self.vmax = torch.maximum(self.vmax, bmax)
        frame, pos = rows // p, rows % p
        key = frame * nf + cols
        fmax = torch.zeros(b * nf).scatter_reduce_(0, key, vals, "amax")  # (B*F) max over positions
        # the first position holding that maximum (0 where the feature is silent)
        hit = vals == fmax[key]
        fpos = torch.full((b * nf,), p, dtype=torch.long).scatter_reduce_(0, key[hit], pos[hit], "amin")
        fpos[fpos == p] = 0
        fmax, fpos = fmax.view(b, nf), fpos.view(b, nf)
        ids = (torch.arange(self.n_frames, self.n_frames + b) if frames is None
               else torch.as_tensor(np.asarray(frames, dtype=np.int64)))
        if self.maps is not None:
            best_v, best_b = fmax.max(0)
            better = best_v > self.top_v[:, 0]
            if bool(better.any()):
                self.maps[better] = 0.0
                sel = better[cols] & (frame == best_b[cols])
                self.maps[cols[sel], pos[sel]] = vals[sel]
        vals_top = torch.cat([self.top_v, fmax.t()], 1)
        cand = torch.cat([self.top_f, ids.expand(nf, b)], 1)
        poss = torch.cat([self.top_p, fpos.t()], 1)
        self.top_v, order = vals_top.topk(self.k, dim=1)
        self.top_f = cand.gather(1, order)
        self.top_p = poss.gather(1, order)
        self._histogram(cols, vals, bmax)
        self.n_inputs += n_rows
        self.n_frames += b

    def _histogram(self, cols: torch.Tensor, vals: torch.Tensor, bmax: torch.Tensor) -> None:
        fresh = (self.cap == 0) & (bmax > 0)
        self.cap[fresh] = bmax[fresh]
        grow = (self.cap > 0) & (bmax > self.cap)
        if bool(grow.any()):
            m = torch.ceil(torch.log2(bmax[grow] / self.cap[grow])).long().clamp_min(1)
            rows = grow.nonzero().flatten()
            for mm in m.unique().tolist():
                r = rows[m == mm]
                fold = 2 ** mm
                if fold >= N_BINS:
                    merged = torch.zeros((r.numel(), N_BINS), dtype=torch.long)
                    merged[:, 0] = self.hist[r].sum(1)
                else:
                    h = self.hist[r].reshape(r.numel(), N_BINS // fold, fold).sum(-1)
                    merged = torch.cat([h, torch.zeros((r.numel(), N_BINS - h.shape[1]), dtype=torch.long)], 1)
                self.hist[r] = merged
                self.cap[r] *= fold
        if cols.numel():
            bins = (vals / self.cap[cols] * N_BINS).long().clamp_(0, N_BINS - 1)
            self.hist.view(-1).index_add_(0, cols * N_BINS + bins, torch.ones_like(bins))

    def result(self) -> FeatureGallery:
        """The gallery statistics so far."""
        n = max(self.n_inputs, 1)
        mean = self.s1 / n
        ms = self.s2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            sparse = (1 - (mean ** 2 / ms).numpy()) / max(1 - 1 / n, 1e-12)
        sparse = np.where(ms.numpy() > 0, np.clip(sparse, 0.0, 1.0), 0.0)
        top_v = self.top_v.numpy().copy()
        top_f = self.top_f.numpy().copy()
        top_f[~np.isfinite(top_v)] = -1
        top_v[~np.isfinite(top_v)] = 0.0
        return FeatureGallery(
            frequency=(self.count.double() / n).numpy(),
            mean_activation=mean.numpy(),
            mean_when_active=(self.s1 / self.count.clamp_min(1).double()).numpy(),
            max_activation=self.vmax.double().numpy(),
            selectivity=sparse,
            top_frames=top_f,
            top_values=top_v.astype(np.float32),
            top_positions=self.top_p.numpy().copy() if self.p > 1 else None,
            hist_counts=self.hist.numpy().copy(),
            hist_max=self.cap.double().numpy(),
            n_inputs=self.n_inputs,
            n_frames=self.n_frames,
        )


def decoder_maps(sae: SparseAutoencoder, layer_shape: tuple[int, ...] | None, mode: str) -> np.ndarray | None:
    """Channel-summed decoder directions ``(F, H, W)`` of a flat-mode SAE on a spatial
    layer ``(C, H, W)``; None for per-position SAEs and non-spatial layers."""
    if not layer_shape or len(layer_shape) != 3 or mode != "flat":
        return None
    return sae.decoder_directions.cpu().numpy().reshape(-1, *layer_shape).sum(1)


@torch.no_grad()
def layer_features(model: nn.Module, sae: SparseAutoencoder, hook: str, mode: str, inp: torch.Tensor) -> torch.Tensor:
    """SAE feature activations per frame ``(B, F)`` (max over positions) for model inputs ``inp``."""
    acts = run_to_hook(model, inp, hook)
    dev = next(sae.parameters()).device
    f = sae.encode(to_vectors(acts, mode).to(dev))
    return f.reshape(acts.shape[0], -1, f.shape[1]).max(1).values.cpu()


def electrode_drive(
    model: nn.Module,
    sae: SparseAutoencoder,
    hook: str,
    mode: str,
    n_electrodes: int,
    make_input: Callable[[torch.Tensor], torch.Tensor],
    amplitude: float = 1.0,
) -> np.ndarray:
    """How much a one-hot signal at each electrode drives each feature.

    Parameters
    ----------
    make_input
        Electrode values ``(B, n)`` (scaled units) -> model input, e.g. the topomap
        operator's ``render_torch`` for a VAE, identity for a decoder-only model.
    amplitude
        Value at the active electrode (1 = the top of the scaled range).

    Returns
    -------
    ``(F, n)`` float32: feature activation for the one-hot input minus that for zeros.
    """
    model.eval()
    values = torch.cat([torch.zeros(1, n_electrodes), amplitude * torch.eye(n_electrodes)])
    dev = next(model.parameters()).device
    f = layer_features(model, sae, hook, mode, make_input(values.to(dev)))
    return (f[1:] - f[:1]).t().numpy().astype(np.float32)


@torch.no_grad()
def sparse_codes(sae: SparseAutoencoder, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The positive feature activations of ``x (B, d)`` as ``(rows, cols, vals)`` (each ``(E,)``).

    The same activations as ``sae.encode(x)``, without building the dense ``(B, F)``
    matrix for a TopK SAE (its ``k`` survivors are the only candidates).
    """
    if sae.config.kind == "topk":
        vals, cols = sae.pre_activations(x).topk(sae.config.k, dim=-1)
        rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1).expand_as(cols)
        keep = vals > 0
        return rows[keep], cols[keep], vals[keep]
    f = sae.encode(x)
    rows, cols = (f > 0).nonzero(as_tuple=True)
    return rows, cols, f[rows, cols]


def feature_gallery(
    model: nn.Module,
    sae: SparseAutoencoder,
    batches: Iterable[Any],
    hook: str,
    mode: str,
    max_frames: int = 100_000,
    top_k: int = 16,
    electrodes: tuple[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    cancel: CancelToken | None = None,
) -> Job[FeatureGallery]:
    """Stream a model over batches and gather the gallery data of every SAE feature.

    Parameters
    ----------
    electrodes
        ``(n_electrodes, make_input)`` to also compute :func:`electrode_drive`.

    Yields
    ------
    Progress
        One per batch, in frames.
    """
    model.eval()
    dev = next(sae.parameters()).device
    acc: FeatureAccumulator | None = None
    layer_shape: tuple[int, ...] = ()
    n_total = len(batches) if hasattr(batches, "__len__") else 0  # type: ignore[arg-type]
    for i, batch in enumerate(batches):
        if cancel is not None:
            cancel.raise_if_cancelled()
        inp = model_input(model, batch)[: max_frames - (acc.n_frames if acc else 0)]
        with torch.no_grad():  # the layers after the hooked one are never run
            acts = run_to_hook(model, inp, hook)
            vectors = to_vectors(acts, mode).to(dev)
            codes = sparse_codes(sae, vectors)
        layer_shape = tuple(acts.shape[1:])
        if acc is None:
            acc = FeatureAccumulator(sae.config.n_features, top_k, positions_per_frame(layer_shape, mode))
        acc.update_sparse(*codes, vectors.shape[0], frame_ids(batch, acc.n_frames, inp.shape[0]))
        yield Progress(i + 1, n_total, f"gallery: {acc.n_frames} frames")
        if acc.n_frames >= max_frames:
            break
    if acc is None:
        raise DataError("no frames to compute SAE feature statistics on")
    gallery = acc.result()
    if acc.maps is not None:
        gallery.top_map = acc.maps.numpy().reshape(-1, *layer_shape[1:])
    gallery.decoder_map = decoder_maps(sae, layer_shape, mode)
    if electrodes is not None:
        gallery.electrode_drive = electrode_drive(model, sae, hook, mode, electrodes[0], electrodes[1])
    return gallery


@torch.no_grad()
def gallery_from_matrix(sae: SparseAutoencoder, x: np.ndarray, top_k: int = 16, batch_size: int = 4096) -> FeatureGallery:
    """Gallery statistics for a raw activation matrix ``x (N, d)`` (each row its own frame)."""
    acc = FeatureAccumulator(sae.config.n_features, top_k, 1)
    dev = next(sae.parameters()).device
    for i in range(0, x.shape[0], batch_size):
        acc.update(sae.encode(torch.as_tensor(np.asarray(x[i: i + batch_size], np.float32)).to(dev)))
    return acc.result()
