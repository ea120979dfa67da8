"""What the SAE feature cards show, computed once per gallery (Qt-free).

:class:`GalleryData` bundles a :class:`~eegmi.sae.features.FeatureGallery` with the
scaled electrode values of every top frame, the topomap matrix that renders them
on demand, and each feature's driving electrodes (:func:`driving_electrodes`);
:func:`gallery_data` builds it from a gallery and the dataset it was computed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: a feature's driving electrodes: positive drive at least this fraction of its largest
DRIVE_FRACTION = 0.5
MAX_DRIVERS = 4


@dataclass
class GalleryData:
    """Everything the cards paint.

    Attributes
    ----------
    gallery
        :class:`eegmi.sae.features.FeatureGallery` (``F`` features, ``k`` top frames).
    top_inputs
        ``(F, k, n)`` float32 scaled electrode values of the top frames (zeros where a
        feature has fewer than ``k`` frames).
    matrix
        ``(H*W, n)`` topomap operator matrix: :meth:`top_image` renders a top frame on
        demand (a 1600x32 product), so a large dictionary never holds ``F*k`` images.
    drivers
        Per feature, electrode indices whose one-hot signal drives it, strongest first.
    ch_names
        Montage channel names.
    head_mask
        ``(H, W)`` bool pixels inside the head.
    hook, mode
        Where the SAE reads.
    """

    gallery: Any
    top_inputs: np.ndarray
    matrix: np.ndarray
    drivers: list[list[int]]
    ch_names: tuple[str, ...]
    head_mask: np.ndarray
    hook: str
    mode: str

    @property
    def n_features(self) -> int:
        return int(self.gallery.frequency.size)

    def top_image(self, i: int, j: int) -> np.ndarray:
        """Clean topomap ``(H, W)`` of feature ``i``'s ``j``-th top frame."""
        return (self.matrix @ self.top_inputs[i, j]).reshape(self.head_mask.shape)

    def feature_map(self, i: int) -> tuple[np.ndarray | None, str]:
        """Feature ``i`` as a map and its caption: the decoder direction summed over
        channels (flat SAE on a spatial layer), else the top frame's activation map
        (per-position SAE), else None."""
        g = self.gallery
        if g.decoder_map is not None:
            return g.decoder_map[i], "decoder"
        if g.top_map is not None:
            return g.top_map[i], "top map"
        return None, ""

    def driver_names(self, i: int) -> list[str]:
        return [self.ch_names[j] for j in self.drivers[i]]

    def export_items(self, order: np.ndarray, vis: dict[int, Any]) -> dict[str, object]:
        """The numbers behind the cards: gallery arrays as ``gallery_<name>``, the shown
        ``feature_order (m,)``, ``top_inputs (F, k, n)``, driver names per feature, and
        ``featurevis_features (v,)``, ``featurevis_images (v, H, W)``, ``featurevis_activation (v,)``
        for the features optimised so far."""
        items: dict[str, object] = {f"gallery_{k}": v for k, v in self.gallery.arrays().items()}
        items["feature_order"] = np.asarray(order, dtype=np.int64).copy()
        items["top_inputs"] = self.top_inputs
        items["drivers"] = {str(i): self.driver_names(i) for i in range(len(self.drivers))}
        if vis:
            feats = sorted(vis)
            items["featurevis_features"] = np.array(feats, dtype=np.int64)
            items["featurevis_images"] = np.stack([vis[f].image for f in feats])
            items["featurevis_activation"] = np.array([vis[f].activation for f in feats])
        return items


def driving_electrodes(drive: np.ndarray | None, n_features: int) -> list[list[int]]:
    """Electrodes driving each feature from ``drive (F, n)``: positive drive of at least
    :data:`DRIVE_FRACTION` of the feature's largest, at most :data:`MAX_DRIVERS`."""
    if drive is None:
        return [[] for _ in range(n_features)]
    out: list[list[int]] = []
    for row in np.asarray(drive, dtype=np.float64):
        top = float(row.max()) if row.size else 0.0
        if top <= 0:
            out.append([])
            continue
        order = np.argsort(-row, kind="stable")
        out.append([int(j) for j in order[:MAX_DRIVERS] if row[j] >= DRIVE_FRACTION * top])
    return out


def gallery_data(gallery: Any, values: np.ndarray, scaler: Any, operator: Any, hook: str,
                 mode: str) -> GalleryData:
    """Cards' data of ``gallery`` computed over dataset frames ``values (N, n)`` (raw units).

    ``scaler.transform`` scales the top frames as the model saw them; ``operator``
    supplies the render matrix, head mask and channel names.
    """
    frames = gallery.top_frames
    n = operator.montage.n_channels
    valid = frames >= 0
    raw = np.zeros((*frames.shape, n), dtype=np.float32)
    uniq = np.unique(frames[valid])  # ascending: a memmap is read in order, once per frame
    raw[valid] = np.asarray(values[uniq], dtype=np.float32)[np.searchsorted(uniq, frames[valid])]
    inputs = np.asarray(scaler.transform(raw), dtype=np.float32)
    inputs[~valid] = 0.0
    return GalleryData(gallery=gallery, top_inputs=inputs,
                       matrix=np.asarray(operator.matrix, dtype=np.float32),
                       drivers=driving_electrodes(gallery.electrode_drive, gallery.frequency.size),
                       ch_names=tuple(operator.montage.ch_names),
                       head_mask=np.asarray(operator.head_mask, dtype=bool), hook=hook, mode=mode)
