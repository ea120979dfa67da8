"""Layer activations as SAE inputs: hook lookup, reshaping, streaming extraction, splicing.

A layer output ``(B, C, H, W)`` becomes SAE input vectors in one of two modes:

- ``"spatial"``: one ``C``-vector per spatial position, ``(B*H*W, C)`` ordered
  (frame, row, col) — the per-position SAE of seed 003;
- ``"flat"``: one ``C*H*W``-vector per frame, ``(B, C*H*W)`` (C-order reshape).

A layer without spatial axes ``(B, C)`` gives ``(B, C)`` in both modes.
Activations are recorded with the model's own ``capture`` (``HookedModel.capture``,
the one capture story of ``eegmi.models``, also behind ``ModelAdapter.capture``);
:func:`run_to_hook` alone uses a torch forward hook, because it ends the forward
pass at the wanted layer (an encoder layer then costs the encoder prefix only),
and :func:`splice` because it replaces a layer's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.models.hooks import HookedModel, model_input

MODES = ("spatial", "flat")


def hook_names(model: nn.Module) -> list[str]:
    """The model's named hook points (``model.hook_names()`` when it has one)."""
    names_of = getattr(model, "hook_names", None)
    if callable(names_of):
        return list(names_of())
    return [name for m in model.modules() if isinstance(name := getattr(m, "name", None), str)]


def find_hook(model: nn.Module, name: str) -> nn.Module:
    """The module whose output is the hook point ``name``.

    Raises
    ------
    ConfigError
        Naming the valid hook points when ``name`` is not one of them.
    """
    valid = hook_names(model)
    for m in model.modules():
        if getattr(m, "name", None) == name and name in valid:
            return m
    raise ConfigError(f"unknown layer {name!r}; valid layers: {', '.join(valid)}")


def hooked(model: nn.Module) -> HookedModel:
    """``model`` as a :class:`HookedModel` (whose ``capture`` records hook points)."""
    if not isinstance(model, HookedModel):
        raise ConfigError(f"{type(model).__name__} has no named hook points to record")
    return model


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"unknown SAE mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def to_vectors(acts: torch.Tensor, mode: str) -> torch.Tensor:
    """Layer output ``(B, C, *S)`` -> SAE vectors ``(B*prod(S), C)`` (spatial) or ``(B, C*prod(S))`` (flat)."""
    check_mode(mode)
    if acts.ndim <= 2 or mode == "flat":
        return acts.reshape(acts.shape[0], -1)
    c = acts.shape[1]
    return acts.movedim(1, -1).reshape(-1, c)


def from_vectors(vectors: torch.Tensor, layer_shape: tuple[int, ...], mode: str) -> torch.Tensor:
    """Inverse of :func:`to_vectors`: vectors back to a layer output ``(B, *layer_shape)``."""
    if len(layer_shape) <= 1 or mode == "flat":
        return vectors.reshape(-1, *layer_shape)
    c, spatial = layer_shape[0], layer_shape[1:]
    return vectors.reshape(-1, *spatial, c).movedim(-1, 1)


def vector_width(layer_shape: tuple[int, ...], mode: str) -> int:
    """Width ``d`` of SAE vectors for a per-sample layer shape."""
    check_mode(mode)
    if len(layer_shape) <= 1 or mode == "flat":
        return int(np.prod(layer_shape))
    return int(layer_shape[0])


def positions_per_frame(layer_shape: tuple[int, ...], mode: str) -> int:
    """How many SAE vectors one frame gives (``H*W`` in spatial mode, else 1)."""
    if len(layer_shape) <= 1 or mode == "flat":
        return 1
    return int(np.prod(layer_shape[1:]))


def model_output(out: Any) -> torch.Tensor:
    """The reconstructed image ``(B, 1, H, W)`` of a model's forward output."""
    return out.recon if hasattr(out, "recon") else out


def model_target(batch: Any, out_like: torch.Tensor) -> torch.Tensor:
    """The clean image a reconstruction is compared with (the input itself for bare tensors)."""
    if isinstance(batch, torch.Tensor):
        return batch if batch.shape == out_like.shape else out_like.detach()
    return batch.target


class _ReachedHook(Exception):
    """Raised from a forward hook to end a forward pass once the wanted layer has run."""


def run_to_hook(model: nn.Module, inp: torch.Tensor, name: str) -> torch.Tensor:
    """Hook ``name``'s output for model input ``inp``, computing no layer after it.

    The forward pass is ended by an exception raised from the hook as soon as the
    layer has run, so an encoder layer costs the encoder prefix, not the whole
    model (decoder included).  The output is detached; gradients are the caller's
    choice (call under ``torch.no_grad()`` for speed).
    """
    box: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        box["acts"] = out.detach()
        raise _ReachedHook

    handle = find_hook(model, name).register_forward_hook(hook)
    try:
        model(inp)
    except _ReachedHook:
        pass
    finally:
        handle.remove()
    if "acts" not in box:
        raise ConfigError(f"layer {name!r} was not reached by the model's forward pass")
    return box["acts"]


@contextmanager
def splice(model: nn.Module, name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace hook ``name``'s output by ``fn(output)`` during the block."""

    def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> torch.Tensor:
        return fn(out)

    handle = find_hook(model, name).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def frame_ids(batch: Any, start: int, n: int) -> np.ndarray:
    """Dataset frame indices ``(n,)`` of a batch: ``batch.index`` when the batch carries
    it (``TopomapBatches``), else positions ``start .. start+n-1`` in the stream."""
    # a bare tensor's ``index`` is a method, not frame indices
    index = None if isinstance(batch, torch.Tensor) else getattr(batch, "index", None)
    if index is not None:
        return np.asarray(index, dtype=np.int64)[:n]
    return np.arange(start, start + n, dtype=np.int64)


@dataclass
class ActivationSet:
    """Activation vectors extracted from a model.

    Attributes
    ----------
    x
        ``(N, d)`` float32 vectors.
    frame
        ``(N,)`` int64 frame each vector came from (see :func:`frame_ids`).
    position
        ``(N,)`` int64 flat spatial position (row * W + col) in spatial mode, else None.
    layer_shape
        Per-sample layer shape, e.g. ``(128, 5, 5)``.
    mode
        ``"spatial"`` or ``"flat"``.
    gradcam
        ``(N,)`` Grad-CAM weight of each vector's position when requested, else None.
    rows_seen, frames_seen
        Vectors and frames the model produced; ``rows_seen > N`` when a row cap kept a
        uniform random sample of them (:class:`RowReservoir`).
    """

    x: np.ndarray
    frame: np.ndarray
    position: np.ndarray | None
    layer_shape: tuple[int, ...]
    mode: str
    gradcam: np.ndarray | None = None
    rows_seen: int = 0
    frames_seen: int = 0

    @property
    def capped(self) -> bool:
        """Whether a row cap dropped vectors (``x`` is a uniform sample of them)."""
        return self.rows_seen > len(self.x)

    @property
    def n_frames(self) -> int:
        return int(np.unique(self.frame).size)


def gradcam_target(hook: str, out: Any) -> torch.Tensor:
    """Scalar whose gradient Grad-CAM uses: for encoder layers half the squared norm
    of the latent mean ``mu`` (a VAE has no class score; this weights each channel
    by how much it moves the code), for all other layers half the squared norm of
    the reconstructed image."""
    if hook.startswith("enc.") and hasattr(out, "mu"):
        return 0.5 * out.mu.pow(2).sum()
    return 0.5 * model_output(out).pow(2).sum()


class RowReservoir:
    """A uniform random sample of at most ``cap`` rows of a stream (Algorithm R).

    Memory is the ``cap`` rows and nothing else: row ``t`` of the stream (0-based)
    replaces a random held row with probability ``cap / (t + 1)``, so after any number
    of rows every row seen is held with the same probability.  Several aligned columns
    (vectors, frame ids, positions, weights) are sampled together.

    Parameters
    ----------
    cap
        Rows held at most.
    seed
        Seed of the replacement draws (same stream, same seed: same sample).
    """

    def __init__(self, cap: int, seed: int = 0) -> None:
        if cap < 1:
            raise ConfigError(f"row cap must be at least 1, got {cap}")
        self.cap = int(cap)
        self.seen = 0
        self.rng = np.random.default_rng(seed)
        self.columns: list[np.ndarray] | None = None

    def add(self, *cols: np.ndarray) -> None:
        """Offer ``k`` new rows: each ``cols[i]`` is ``(k, ...)``."""
        k = len(cols[0])
        if self.columns is None:
            self.columns = [np.empty((self.cap, *c.shape[1:]), dtype=c.dtype) for c in cols]
        fill = max(0, min(k, self.cap - self.seen))
        for held, c in zip(self.columns, cols, strict=True):
            held[self.seen:self.seen + fill] = c[:fill]
        if fill < k:
            t = self.seen + np.arange(fill, k)  # stream positions of the remaining rows
            slot = (self.rng.random(len(t)) * (t + 1)).astype(np.int64)
            take = np.flatnonzero(slot < self.cap)
            # a slot drawn twice in one batch keeps the later row, as one-by-one would
            slot, take = slot[take][::-1], take[::-1] + fill
            slot, first = np.unique(slot, return_index=True)
            for held, c in zip(self.columns, cols, strict=True):
                held[slot] = c[take[first]]
        self.seen += k

    def result(self) -> list[np.ndarray]:
        """The held columns, ``(min(seen, cap), ...)`` each."""
        if self.columns is None:
            return []
        n = min(self.seen, self.cap)
        return [c[:n] for c in self.columns]


def collect_activations(
    model: nn.Module,
    batches: Iterable[Any],
    hook: str,
    mode: str = "spatial",
    max_frames: int | None = None,
    gradcam: bool = False,
    cancel: CancelToken | None = None,
    max_rows: int | None = None,
    seed: int = 0,
) -> Job[ActivationSet]:
    """Stream a layer's activations over batches into one matrix.

    Parameters
    ----------
    model
        A hooked model (eval mode is set here).
    batches
        ``TopomapBatches`` (or any iterable of model inputs).
    hook, mode
        Hook point name and ``"spatial"``/``"flat"``.
    max_frames
        Stop after this many frames.
    gradcam
        Also compute per-position Grad-CAM weights (spatial layers only).
    max_rows, seed
        Hold at most this many vectors: every frame is run, and a uniform random
        sample of all vectors (:class:`RowReservoir`, seeded) is kept, so memory is
        ``max_rows x d`` float32 whatever the number of frames (None: keep all).

    Yields
    ------
    Progress
        One per batch, in frames.
    """
    check_mode(mode)
    find_hook(model, hook)
    model.eval()
    n_total = len(batches) if hasattr(batches, "__len__") else 0  # type: ignore[arg-type]
    xs: list[np.ndarray] = []
    cams: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    layer_shape: tuple[int, ...] = ()
    seen = rows = 0
    reservoir = None if max_rows is None else RowReservoir(max_rows, seed)
    for i, batch in enumerate(batches):
        if cancel is not None:
            cancel.raise_if_cancelled()
        inp = model_input(model, batch)
        if max_frames is not None:
            inp = inp[: max_frames - seen]
        if gradcam:
            with hooked(model).capture([hook], detach=False) as cache, torch.enable_grad():
                out = model(inp)
                acts = cache[hook]
                if acts.ndim != 4 or mode != "spatial":
                    raise ConfigError(f"Grad-CAM filtering needs per-position vectors of a spatial "
                                      f"layer; {hook!r} in {mode} mode has one vector per frame")
                grad = torch.autograd.grad(gradcam_target(hook, out), acts)[0]
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = torch.relu((weights * acts.detach()).sum(1))  # (B, H, W)
            cams.append(cam.reshape(-1).cpu().numpy())
            acts = acts.detach()
        else:
            with torch.no_grad():  # the layers after the hooked one are never run
                acts = run_to_hook(model, inp, hook)
        layer_shape = tuple(acts.shape[1:])
        b = acts.shape[0]
        vec = to_vectors(acts, mode).float().cpu().numpy()
        per = positions_per_frame(layer_shape, mode)
        frame = np.repeat(frame_ids(batch, seen, b), per)
        position = np.tile(np.arange(per, dtype=np.int64), b)
        if not np.isfinite(vec).all():
            raise DataError(f"layer {hook!r} produced NaN/inf activations")
        if reservoir is not None:
            reservoir.add(vec, frame, position, *(cams[-1:] if gradcam else []))
            cams = []
        else:
            frames.append(frame)
            positions.append(position)
            xs.append(vec)
        seen += b
        rows += len(vec)
        yield Progress(i + 1, n_total, f"{seen} frames from {hook}")
        if max_frames is not None and seen >= max_frames:
            break
    if reservoir is not None:
        held = reservoir.result()
        if held:
            xs, frames, positions = held[:1], held[1:2], held[2:3]
            cams = held[3:]
    if not xs:
        raise DataError("no frames to extract activations from")
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    del xs
    spatial = positions_per_frame(layer_shape, mode) > 1
    return ActivationSet(
        x=x,
        frame=np.concatenate(frames),
        position=np.concatenate(positions) if spatial else None,
        layer_shape=layer_shape,
        mode=mode,
        gradcam=np.concatenate(cams) if gradcam else None,
        rows_seen=rows,
        frames_seen=seen,
    )
