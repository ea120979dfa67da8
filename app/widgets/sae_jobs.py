"""Worker-side jobs of the SAE gallery panel (Qt-free; they run on the model worker).

Each ``*_job`` function returns a factory ``token -> generator`` for
``Session.run_job``: the generator yields :class:`eegmi.jobs.Progress` and returns
its result, and all torch work happens inside it, on the worker thread.  They only
glue the session's model and data to :mod:`eegmi.sae`; the SAE maths lives there.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Progress

JobFactory = Callable[[CancelToken], Generator[Progress, None, Any]]

#: a feature's driving electrodes: positive drive at least this fraction of its largest
DRIVE_FRACTION = 0.5
MAX_DRIVERS = 4


@dataclass
class ModelContext:
    """What the jobs need from the session, captured on the GUI thread.

    Attributes
    ----------
    model
        The hooked ``nn.Module``.
    kind
        ``"vae"`` or ``"decoder"``.
    operator
        Topomap operator (electrodes -> images).
    injection
        ``eegmi.data.injection.Injection`` or None.
    scaler
        Raw frame -> scaled values (``transform``).
    device
        Torch device string.
    """

    model: Any
    kind: str
    operator: Any
    injection: Any
    scaler: Any
    device: str

    def make_input(self) -> Callable[[Any], Any]:
        """Scaled electrode values ``(B, n)`` -> model input, as the training batches build it."""
        if self.kind == "decoder":
            return lambda v: v
        op, inj = self.operator, self.injection
        return lambda v: inj.apply(op.render_torch(v)) if inj is not None else op.render_torch(v)

    def batches(self, values: np.ndarray, indices: np.ndarray, batch_size: int = 256) -> Any:
        from eegmi.data.dataset import TopomapBatches

        return TopomapBatches(values, np.sort(indices), self.operator, self.scaler, self.injection,
                              batch_size=batch_size, device=self.device)


@dataclass
class GalleryData:
    """Everything the cards paint, computed once per gallery on the worker.

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

    def export_items(self, order: np.ndarray, vis: dict[int, Any]) -> dict[str, object]:
        """The numbers behind the cards: gallery arrays as ``gallery_<name>``, the shown
        ``feature_order (m,)``, ``top_inputs (F, k, n)``, driver names per feature, and
        ``featurevis_features (v,)``, ``featurevis_images (v, H, W)``, ``featurevis_activation (v,)``
        for the features optimised so far."""
        items: dict[str, object] = {f"gallery_{k}": v for k, v in self.gallery.arrays().items()}
        items["feature_order"] = np.asarray(order, dtype=np.int64).copy()
        items["top_inputs"] = self.top_inputs
        items["drivers"] = {str(i): [self.ch_names[j] for j in drv] for i, drv in enumerate(self.drivers)}
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
    out = []
    for row in np.asarray(drive, dtype=np.float64):
        top = float(row.max()) if row.size else 0.0
        if top <= 0:
            out.append([])
            continue
        order = np.argsort(-row, kind="stable")
        out.append([int(j) for j in order[:MAX_DRIVERS] if row[j] >= DRIVE_FRACTION * top])
    return out


def subset(n_frames: int, max_frames: int, seed: int = 0) -> np.ndarray:
    """Up to ``max_frames`` frame indices ``(m,)`` out of ``n_frames``, sorted, reproducible."""
    if max_frames < 1:
        raise ConfigError(f"number of inputs must be positive, got {max_frames}")
    if n_frames <= max_frames:
        return np.arange(n_frames, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_frames, size=max_frames, replace=False))


def load_job(path: str | Path, ctx: ModelContext) -> JobFactory:
    """Load an SAE folder (``eegmi.sae.io``) and check it reads one of the model's layers."""

    def run(_token: CancelToken) -> Generator[Progress, None, Any]:
        from eegmi.sae.activations import hook_names
        from eegmi.sae.io import load_sae

        yield Progress(0, 1, f"loading SAE {path}")
        loaded = load_sae(path, device=ctx.device)
        if loaded.hook is None:
            raise DataError("this SAE was trained on a raw activation matrix, not a model layer", path)
        if loaded.hook not in hook_names(ctx.model):
            raise DataError(f"SAE reads layer {loaded.hook!r}, which the current model does not have", path)
        return loaded

    return run


def train_job(ctx: ModelContext, values: np.ndarray, hook: str, mode: str, config: Any,
              train: Any, max_frames: int) -> JobFactory:
    """Extract ``hook`` activations over up to ``max_frames`` dataset frames ``values (N, n)``
    and train an SAE (``config: SAEConfig``, ``train: TrainConfig``) on them."""

    def run(token: CancelToken) -> Generator[Progress, None, Any]:
        from eegmi.sae.activations import collect_activations
        from eegmi.sae.io import LoadedSAE
        from eegmi.sae.model import SAEConfig
        from eegmi.sae.train import train_sae

        idx = subset(len(values), max_frames, train.seed)
        acts = yield from collect_activations(ctx.model, ctx.batches(values, idx), hook, mode,
                                              cancel=token)
        cfg = SAEConfig(**{**config.to_dict(), "d_in": int(acts.x.shape[1])})
        result = yield from train_sae(acts.x, cfg, train, cancel=token)
        meta = {"hook": hook, "mode": mode, "layer_shape": list(acts.layer_shape),
                "train": train.to_dict(), "final": result.history[-1] if result.history else {},
                "provenance": {"train_frames": int(len(idx)), "source": "eegmi gui"}}
        return LoadedSAE(sae=result.sae.to(ctx.device).eval(), meta=meta, path=None)

    return run


def save_job(loaded: Any, folder: str | Path) -> JobFactory:
    """Write the SAE with :func:`eegmi.sae.io.save_sae`."""

    def run(_token: CancelToken) -> Generator[Progress, None, Any]:
        from eegmi.sae.io import save_sae

        yield Progress(0, 1, f"saving SAE to {folder}")
        meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "version", "config",
                                                                   "normalisation")}
        return save_sae(folder, loaded.sae, meta)

    return run


def gallery_job(ctx: ModelContext, loaded: Any, values: np.ndarray, max_frames: int,
                top_k: int) -> JobFactory:
    """Gallery statistics over up to ``max_frames`` frames plus the top frames' maps."""

    def run(token: CancelToken) -> Generator[Progress, None, Any]:
        from eegmi.sae.features import feature_gallery

        sae = loaded.sae.to(ctx.device).eval()
        idx = subset(len(values), max_frames, 0)
        n = ctx.operator.montage.n_channels
        gallery = yield from feature_gallery(ctx.model, sae, ctx.batches(values, idx), loaded.hook,
                                             loaded.mode, max_frames=len(idx), top_k=top_k,
                                             electrodes=(n, ctx.make_input()), cancel=token)
        frames = gallery.top_frames
        valid = frames >= 0
        raw = np.zeros((*frames.shape, n), dtype=np.float32)
        uniq = np.unique(frames[valid])  # ascending: a memmap is read in order, once per frame
        raw[valid] = np.asarray(values[uniq], dtype=np.float32)[np.searchsorted(uniq, frames[valid])]
        inputs = np.asarray(ctx.scaler.transform(raw), dtype=np.float32)
        inputs[~valid] = 0.0
        return GalleryData(gallery=gallery, top_inputs=inputs,
                           matrix=np.asarray(ctx.operator.matrix, dtype=np.float32),
                           drivers=driving_electrodes(gallery.electrode_drive, gallery.frequency.size),
                           ch_names=tuple(ctx.operator.montage.ch_names),
                           head_mask=np.asarray(ctx.operator.head_mask, dtype=bool),
                           hook=loaded.hook, mode=loaded.mode)

    return run


def featurevis_job(ctx: ModelContext, loaded: Any, feature: int, param: str, steps: int) -> JobFactory:
    """Optimise an input for SAE feature ``feature`` (:func:`eegmi.sae.featurevis.visualise`).

    The result's ``image`` is always the ``(H, W)`` map shown on the card: for a
    decoder-only model the optimised electrode values are rendered by the operator.
    """

    def run(token: CancelToken) -> Generator[Progress, None, Any]:
        from eegmi.sae.featurevis import VisTarget, visualise

        target = VisTarget(hook=loaded.hook, sae=loaded.sae.to(ctx.device).eval(), feature=feature,
                           mode=loaded.mode)
        make = ctx.make_input() if param == "electrodes" else None
        result = yield from visualise(ctx.model, target, param, make_input=make,
                                      n_electrodes=ctx.operator.montage.n_channels, steps=steps,
                                      report_every=max(1, min(25, steps // 20)), cancel=token)
        if result.image.size == 0 and result.electrodes is not None:
            result.image = ctx.operator.render(result.electrodes).astype(np.float32)
        return result

    return run
