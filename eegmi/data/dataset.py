"""Train/validation/test splits without leakage, and topomap batches made on the device.

Neighbouring EEG frames are nearly identical (128 Hz sampling of signals that
change over tens of milliseconds), so a random per-frame split would put
near-copies of training frames into the test set.  :func:`split_frames` assigns
whole groups instead:

- ``"subject"``: every frame of a subject goes to one split (generalisation to new people);
- ``"trial"``: every frame of a ``(subject, trial)`` pair goes to one split;
- ``"time"``: each trial is cut into contiguous blocks of ``block_seconds``;
  blocks (not frames) are assigned to splits, and ``guard_seconds`` of frames are
  dropped at the start of a block whose predecessor in the same trial went to a
  different split, so no two frames closer than the guard straddle a split boundary.

Datasets hold electrode vectors; :class:`TopomapBatches` renders images per
batch on the target device (``operator.render_torch``), so image sets are never
stored, and indexes ``values`` per batch so a memmap is never loaded whole.
"""

from __future__ import annotations

import mmap as mmap_module
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eegmi.data.recording import EEGData
from eegmi.errors import ConfigError

SPLIT_KINDS = ("subject", "trial", "time")


@dataclass
class Split:
    """Frame indices (int64, sorted) of each part; disjoint."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _counts(n_groups: int, fractions: Sequence[float], what: str) -> list[int]:
    """Groups per split: every part with a positive fraction gets at least one group."""
    counts = [int(round(f * n_groups)) for f in fractions]
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0:
            counts[i] = 1
    counts[0] = n_groups - counts[1] - counts[2]
    if counts[0] < 1 or n_groups < sum(1 for f in fractions if f > 0):
        raise ConfigError(f"cannot split {n_groups} {what}(s) into {len(fractions)} parts "
                          f"with fractions {tuple(fractions)}; use another 'by' or more data")
    return counts


def _group_ids(data: EEGData) -> np.ndarray:
    return data.subject.astype(np.int64) * (1 << 32) + data.trial.astype(np.int64)


def split_frames(data: EEGData, by: str = "trial",
                 fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                 block_seconds: float = 4.0, guard_seconds: float = 0.5) -> Split:
    """Split frames into train/val/test without leakage across groups.

    Parameters
    ----------
    data
        The recording; frames of one trial must be contiguous and in time order.
    by
        ``"subject"``, ``"trial"`` or ``"time"`` (see module docstring).
    fractions
        ``(train, val, test)`` shares of groups (blocks for ``"time"``), summing to 1.
    seed
        Groups are shuffled with ``np.random.default_rng(seed)``; same seed, same split.
    block_seconds, guard_seconds
        Block length and boundary guard for ``by="time"``.

    Returns
    -------
    Split
        Sorted int64 frame indices.
    """
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, "
                          f"got {tuple(fractions)}")
    if by not in SPLIT_KINDS:
        raise ConfigError(f"unknown split {by!r}; use one of {', '.join(SPLIT_KINDS)}")
    rng = np.random.default_rng(seed)
    if by == "subject":
        groups = np.asarray(data.subject, dtype=np.int64)
    elif by == "trial":
        groups = _group_ids(data)
    else:
        groups = _time_blocks(data, block_seconds)
    uniq, inverse = np.unique(groups, return_inverse=True)
    counts = _counts(len(uniq), fr, "block" if by == "time" else by)
    order = rng.permutation(len(uniq))
    part_of_group = np.empty(len(uniq), dtype=np.int8)
    part_of_group[order[:counts[0]]] = 0
    part_of_group[order[counts[0]:counts[0] + counts[1]]] = 1
    part_of_group[order[counts[0] + counts[1]:]] = 2
    part = part_of_group[inverse]
    keep = np.ones(len(part), dtype=bool)
    if by == "time":
        keep = _guard(data, groups, part, int(round(guard_seconds * data.sfreq)))
    return Split(*(np.flatnonzero((part == p) & keep).astype(np.int64) for p in range(3)))


def _time_blocks(data: EEGData, block_seconds: float) -> np.ndarray:
    """Block id ``(N,)`` int64: (trial group, position-in-trial // block length)."""
    block = int(round(block_seconds * data.sfreq))
    if block < 1:
        raise ConfigError(f"block_seconds {block_seconds} is shorter than one frame")
    gid = _group_ids(data)
    # rank of each frame inside its trial, vectorised: frames of a trial are contiguous
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(gid)]))
    rank = np.arange(len(gid)) - run_start
    return np.unique(gid, return_inverse=True)[1].astype(np.int64) * (1 << 32) + rank // block


def _guard(data: EEGData, blocks: np.ndarray, part: np.ndarray, guard: int) -> np.ndarray:
    """Mask dropping the first ``guard`` frames of a block whose predecessor changed split."""
    keep = np.ones(len(part), dtype=bool)
    if guard <= 0 or len(part) == 0:
        return keep
    gid = _group_ids(data)
    starts = np.flatnonzero(blocks[1:] != blocks[:-1]) + 1
    ends = np.r_[starts[1:], len(part)]
    for b, end in zip(starts, ends, strict=True):
        if gid[b] == gid[b - 1] and part[b] != part[b - 1]:
            keep[b:min(b + guard, end)] = False
    return keep


class ChannelView:
    """Electrode values with their columns reordered, read row block by row block.

    ``view[rows]`` returns ``base[rows][:, order]`` as float32: a per-batch read of
    a (possibly memory-mapped) recording in montage order, so a data set is never
    copied whole into memory just to reorder its channels.

    Parameters
    ----------
    base
        ``(N, c)`` values in the recording's channel order (array or memmap).
    order
        ``(n,)`` column of ``base`` for each montage channel.
    """

    def __init__(self, base: Any, order: Sequence[int] | np.ndarray) -> None:
        self.base = base
        self.order = np.asarray(order, dtype=np.int64)
        if base.ndim != 2:
            raise ConfigError(f"electrode values must be 2-D (N, channels), got shape {base.shape}")
        self.shape = (int(base.shape[0]), len(self.order))
        self.ndim = 2
        self.dtype = np.dtype(np.float32)
        # the identity order (a cache already in montage order) reads columns as they are
        self._identity = np.array_equal(self.order, np.arange(base.shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        block = np.asarray(self.base[rows])
        if isinstance(rows, np.ndarray) and rows.ndim == 1 and rows.size:
            # scattered rows (a shuffled batch): the kernel maps the pages around each
            # one read, which over an epoch would map the whole file into this process
            _release(self.base, int(rows.min()), int(rows.max()) + 1)
        if not self._identity:
            block = block[..., self.order]
        # always the caller's own, writable rows: never a view into the recording
        return np.array(block, dtype=np.float32, copy=True)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # the whole data set in memory: only for small data (tests, explicit np.asarray)
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def gather(self, rows: np.ndarray, chunk_rows: int = 8192) -> np.ndarray:
        """``self[rows]`` for sorted ``rows (M,)``, read ``chunk_rows`` at a time with
        a memmap's pages released behind each chunk: a sample scattered over the
        whole file never holds the file in the resident set."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for start in range(0, len(rows), chunk_rows):
            part = rows[start:start + chunk_rows]
            out[start:start + len(part)] = self[part]
            _release(self.base, int(part[0]), int(part[-1]) + 1)
        return out

    def release_pages(self) -> None:
        """Drop a memory-mapped recording's pages from this process (a no-op otherwise):
        the kernel maps the neighbours of every row read, so a scattered sample would
        otherwise leave most of the file in the resident set."""
        _release(self.base, 0, self.shape[0])

    def all_finite(self, chunk_rows: int = 65536) -> bool:
        """Whether every value of the used channels is finite, ``chunk_rows`` rows at a time.

        A memory-mapped recording's pages are released after each chunk, so one
        pass over a file larger than memory leaves no trace in the resident set.
        """
        for start in range(0, self.shape[0], chunk_rows):
            ok = bool(np.isfinite(self[start:start + chunk_rows]).all())
            _release(self.base, start, min(start + chunk_rows, self.shape[0]))
            if not ok:
                return False
        return True


def _release(values: Any, start: int, stop: int) -> None:
    """Drop the mapped pages of rows ``start:stop`` of a read-only memmap from this
    process (the page cache keeps them); a no-op for anything else."""
    mm = getattr(values, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap_module, "MADV_DONTNEED"):
        return
    if getattr(values, "mode", "r") != "r" or not values.flags.c_contiguous:
        return  # only pages that cannot hold unsaved changes
    row = values.strides[0]
    # where this array's first row lies inside the mapping (a slice of a memmap starts later)
    base = (values.__array_interface__["data"][0]
            - np.frombuffer(mm, dtype=np.uint8).__array_interface__["data"][0])
    page = mmap_module.PAGESIZE
    lo = (base + start * row) // page * page
    hi = (base + stop * row) // page * page  # whole pages only: the next chunk starts in the last
    if hi > lo:
        try:
            mm.madvise(mmap_module.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):  # pragma: no cover - advice is optional
            pass


@dataclass
class Batch:
    """One batch on the target device.

    Attributes
    ----------
    values
        ``(B, n)`` scaled electrode vectors in [0, 1].
    images
        ``(B, 1, H, W)`` model input (``target`` after the injection layer).
    target
        ``(B, 1, H, W)`` the clean topomap of ``values``.
    index
        ``(B,)`` frame indices into the data set (numpy, for bookkeeping).
    """

    values: torch.Tensor
    images: torch.Tensor
    target: torch.Tensor
    index: np.ndarray | None = None


class TopomapBatches:
    """Iterate over frames as topomap batches rendered on ``device``.

    Parameters
    ----------
    data_values
        ``(N, n)`` electrode values in montage order (may be a memmap, or a
        :class:`ChannelView` reordering a recording's channels per batch).
    indices
        ``(M,)`` frame indices to visit (e.g. ``split.train``).
    operator
        A :class:`~eegmi.data.topomap.TopomapOperator` for the same montage.
    scaler
        A fitted :class:`~eegmi.data.preprocess.ClipScaler` (torch-capable ``transform``).
    injection
        An :class:`~eegmi.data.injection.Injection`, or None for images == target.
    batch_size, shuffle, seed, device
        Shuffling reorders ``indices`` anew each pass with
        ``default_rng([seed, pass number])``, so runs are reproducible.
    drop_last
        Skip the final short batch.
    """

    def __init__(self, data_values: np.ndarray | ChannelView, indices: np.ndarray,
                 operator: Any, scaler: Any, injection: Any | None = None,
                 batch_size: int = 256, shuffle: bool = False, seed: int = 0,
                 device: str | torch.device = "cpu", drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.values = data_values
        self.indices = np.asarray(indices, dtype=np.int64)
        if data_values.ndim != 2 or data_values.shape[1] != operator.matrix.shape[1]:
            raise ConfigError(f"values of shape {data_values.shape} do not fit an operator "
                              f"for {operator.matrix.shape[1]} electrodes")
        self.operator = operator
        self.scaler = scaler
        self.injection = injection
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def make_batch(self, index: np.ndarray) -> Batch:
        """Build the batch of the frames ``index (B,)``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        # a memmap reads fastest front to back: gather in ascending order, then restore
        order = np.argsort(index, kind="stable")
        raw = np.empty((len(index), self.values.shape[1]), dtype=np.float32)
        raw[order] = self.values[index[order]]
        vals = torch.from_numpy(raw).to(self.device)
        vals = self.scaler.transform(vals).to(torch.float32)
        target = self.operator.render_torch(vals)
        images = self.injection.apply(target) if self.injection is not None else target
        return Batch(vals, images, target, index)

    def __iter__(self) -> Iterator[Batch]:
        order = self.indices
        if self.shuffle:
            order = order[np.random.default_rng([self.seed, self.epoch]).permutation(len(order))]
        self.epoch += 1
        for i in range(len(self)):
            yield self.make_batch(order[i * self.batch_size:(i + 1) * self.batch_size])
