"""Turn an experiment and a recording into what the loop needs: ordered values, split,
operator, scaler, injection and loss mask (shared by training and evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from eegmi.errors import ConfigError, DataError
from eegmi.training.experiments import ExperimentConfig

if TYPE_CHECKING:
    from eegmi.data.dataset import ChannelView
    from eegmi.data.injection import Injection


@dataclass
class Prepared:
    """Everything derived from the data for one experiment.

    Attributes
    ----------
    values
        ``(N, n)`` electrode values in montage channel order (unscaled): a
        :class:`eegmi.data.dataset.ChannelView` of the recording, read per batch.
    split
        :class:`eegmi.data.dataset.Split` of frame indices (after ``max_frames``).
    operator
        The :class:`TopomapOperator` rendering the images.
    scaler
        The :class:`ClipScaler` (fitted on the training split unless given).
    injection
        The :class:`Injection` applied to model inputs, or None when it changes nothing.
    loss_mask
        ``(H, W)`` float32 (1 inside the head disc) or None for a whole-image loss.
    """

    values: ChannelView
    split: Any
    operator: Any
    scaler: Any
    injection: Injection | None
    loss_mask: np.ndarray | None


def _subsample(split: Any, max_frames: int, seed: int) -> Any:
    """Keep about ``max_frames`` frames, spread over the splits in proportion."""
    from eegmi.data.dataset import Split

    total = len(split.train) + len(split.val) + len(split.test)
    if max_frames <= 0 or total <= max_frames:
        return split
    rng = np.random.default_rng([seed, 7])
    parts = []
    for part in (split.train, split.val, split.test):
        k = max(1, round(len(part) * max_frames / total))
        parts.append(np.sort(rng.choice(part, size=min(k, len(part)), replace=False)))
    return Split(*parts)


#: block length of a ``by="time"`` split (``split_frames``' default, used by training)
BLOCK_SECONDS = 4.0


def _n_groups(data: Any, by: str) -> int:
    """Subjects, trials or time blocks the split shares out."""
    if by == "subject":
        return len(np.unique(np.asarray(data.subject)))
    pairs = np.stack([np.asarray(data.subject, np.int64), np.asarray(data.trial, np.int64)])
    if pairs.shape[1] == 0:
        return 0
    sizes = np.unique(pairs, axis=1, return_counts=True)[1]
    if by == "trial":
        return len(sizes)
    block = max(1, int(round(BLOCK_SECONDS * data.sfreq)))
    return int(np.sum(-(-sizes // block)))  # blocks per trial, rounded up


def too_small_message(data: Any, by: str, fractions: tuple[float, ...],
                      split: Any = None) -> str:
    """Why ``data`` cannot be split for training, in full: which split is empty and how
    much data the split needs."""
    names = ("train", "val", "test")
    wanted = [n for n, f in zip(names, fractions, strict=True) if f > 0]
    unit = {"subject": "subject", "trial": "trial"}.get(by, f"{BLOCK_SECONDS:g}-s block")
    have = _n_groups(data, by)
    if split is not None:
        empty = [n for n, part in zip(names, (split.train, split.val, split.test), strict=True)
                 if len(part) == 0]
    else:  # val and test take one group each first; train gets what is left
        empty = (list(wanted) if have == 0 else ["train"] if have == len(wanted) - 1
                 else ["train", " or ".join(wanted[1:])])
    need = f"at least {len(wanted)} {unit}s (one whole {unit} per split)"
    if by == "time":
        frames = int(np.ceil(len(wanted) * BLOCK_SECONDS * data.sfreq))
        need += f", about {frames} frames at {data.sfreq:g} Hz or more"
    return (f"too little data to split into {'/'.join(wanted)} "
            f"(by {by}, fractions {'/'.join(f'{f:g}' for f in fractions)}): "
            f"{data.n_frames} frames in {have} {unit}(s), so the "
            f"{' and '.join(empty)} split{'s' if len(empty) > 1 else ''} would be empty; "
            f"the split needs {need}")


def _scaler_rows(train: np.ndarray, n_channels: int) -> np.ndarray:
    """The training rows :meth:`ClipScaler.fit` would sample from ``values[train]``,
    chosen before reading, so only they are read (the same rows, the same fit)."""
    from eegmi.data.preprocess import DEFAULT_MAX_SAMPLES

    if len(train) * n_channels <= DEFAULT_MAX_SAMPLES:
        return train
    n_rows = max(1, DEFAULT_MAX_SAMPLES // n_channels)
    return train[np.sort(np.random.default_rng(0).choice(len(train), n_rows, replace=False))]


def prepare_data(experiment: ExperimentConfig, data: Any, scaler: Any = None) -> Prepared:
    """Match channels by name, split, subsample, fit the scaler, build the injection.

    Parameters
    ----------
    experiment
        The experiment (its ``data``, ``injection``, ``model`` and ``training`` settings).
    data
        An :class:`eegmi.data.recording.EEGData`.
    scaler
        A fitted scaler to reuse (evaluation); None fits one on the training split.

    Raises
    ------
    DataError
        Channels missing from the data, or a montage that does not fit the model.
    """
    from eegmi.data.dataset import ChannelView, split_frames
    from eegmi.data.injection import Injection, InjectionConfig
    from eegmi.data.montage import get_montage, match_channels
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import get_operator

    d, m = experiment.data, experiment.model
    where = data.provenance.get("path") if isinstance(data.provenance, dict) else None
    montage = get_montage(d.montage)
    if montage.n_channels != m.n_electrodes:
        raise DataError(f"montage {d.montage!r} has {montage.n_channels} channels but the model "
                        f"takes {m.n_electrodes} electrodes", where)
    order = match_channels(data.ch_names, montage, path=where)
    # channels are reordered per batch (and the check streams), so a memmap-backed
    # recording is never copied whole into memory
    values = ChannelView(data.values, order)
    if not values.all_finite():
        raise DataError("values contain NaN or infinity", where)
    operator = get_operator(montage, size=m.image_size, method=d.method)
    try:
        split = split_frames(data, by=d.split_by, fractions=tuple(d.fractions),
                             seed=d.split_seed)
    except ConfigError:
        if _n_groups(data, d.split_by) >= sum(1 for f in d.fractions if f > 0):
            raise  # not a matter of size (bad fractions or split kind)
        raise DataError(too_small_message(data, d.split_by, tuple(d.fractions)),
                        where) from None
    split = _subsample(split, d.max_frames, d.split_seed)
    if min(len(split.train), len(split.val), len(split.test)) == 0:
        raise DataError(too_small_message(data, d.split_by, tuple(d.fractions), split), where)
    if scaler is None:
        scaler = ClipScaler.fit(values.gather(_scaler_rows(split.train, values.shape[1])),
                                q_low=d.clip_low, q_high=d.clip_high)
        values.release_pages()
    inj = experiment.injection
    injection = Injection(operator, InjectionConfig(marks=inj.marks, occlusion=inj.occlusion,
                                                    mark_value=inj.mark_value,
                                                    layout=inj.layout))
    loss_mask = (np.asarray(injection.loss_mask, dtype=np.float32)
                 if experiment.training.loss_mask == "head" else None)
    changes_input = bool(inj.marks or inj.occlusion)
    return Prepared(values, split, operator, scaler, injection if changes_input else None,
                    loss_mask)
