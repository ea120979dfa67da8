"""The in-memory form of an EEG recording every loader returns: :class:`EEGData`.

Values are electrode vectors (one row per time frame), never images.  Units are
microvolts for every loader (MNE raw files are converted from volts; DEAP's
preprocessed files and the synthetic set are already in µV).  ``values`` may be
a read-only ``np.memmap`` for data sets larger than memory (a folder of DEAP
files), so code that consumes it must index batches rather than copy it whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eegmi.errors import DataError

#: Largest magnitude accepted in a recording (µV).  No recording in any unit comes
#: near it, and up to it the scaler's ``hi - lo``, rendering and even squares stay
#: finite in float32 (max 3.4e38); beyond it a topomap comes out blank and NaN.
MAX_ABS_VALUE = 1e18


@dataclass
class EEGData:
    """An EEG recording (or a set of them) as electrode vectors.

    Attributes
    ----------
    values
        ``(N, n)`` float32 frames in montage channel order, microvolts; may be a memmap.
    ch_names
        ``(n,)`` channel names matching the columns of ``values``.
    sfreq
        Sampling rate in Hz.
    subject
        ``(N,)`` int16 subject id of every frame.
    trial
        ``(N,)`` int32 trial id of every frame, counted within its subject (so a
        trial is identified by the pair ``(subject, trial)``).  Frames of one
        trial are contiguous and in time order.
    provenance
        Where the data came from: ``path``, ``loader``, ``original_sfreq``,
        ``units``, ``montage`` ... (JSON-serialisable).
    ground_truth
        Synthetic data only: the generating sources (see :mod:`eegmi.data.synthetic`).
    """

    values: np.ndarray
    ch_names: tuple[str, ...]
    sfreq: float
    subject: np.ndarray
    trial: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    ground_truth: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        path = self.provenance.get("path")
        self.ch_names = tuple(str(c) for c in self.ch_names)
        if self.values.ndim != 2:
            raise DataError(f"expected values of shape (frames, channels), got {self.values.shape}", path)
        n_frames, n_ch = self.values.shape
        if n_ch != len(self.ch_names):
            raise DataError(f"{n_ch} value columns but {len(self.ch_names)} channel names", path)
        self.subject = np.asarray(self.subject)
        self.trial = np.asarray(self.trial)
        if self.subject.shape != (n_frames,) or self.trial.shape != (n_frames,):
            raise DataError(
                f"subject/trial arrays must have shape ({n_frames},), got "
                f"{self.subject.shape} and {self.trial.shape}", path)
        if not 0 < self.sfreq < np.inf:
            raise DataError(f"sampling rate must be positive and finite, got {self.sfreq}", path)

    @property
    def n_frames(self) -> int:
        """Number of time frames ``N``."""
        return int(self.values.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of electrodes ``n``."""
        return int(self.values.shape[1])

    def subjects(self) -> list[int]:
        """Sorted distinct subject ids."""
        return [int(s) for s in np.unique(self.subject)]

    def n_trials(self) -> int:
        """Number of distinct ``(subject, trial)`` pairs."""
        key = self.subject.astype(np.int64) * (1 << 32) + self.trial.astype(np.int64)
        return int(np.unique(key).size)

    def info(self, montage_channels: Sequence[str] | None = None) -> dict[str, Any]:
        """A JSON-ready summary.

        Parameters
        ----------
        montage_channels
            Channel names to report missing ones against; defaults to
            ``provenance["montage_channels"]`` when the loader recorded it.

        Returns
        -------
        dict
            ``channels``, ``n_channels``, ``sfreq``, ``duration_s``, ``shape``,
            ``subjects``, ``n_trials``, ``missing_channels``, ``units``, ``loader``, ``path``.
        """
        if montage_channels is None:
            montage_channels = self.provenance.get("montage_channels", ())
        have = {c.lower() for c in self.ch_names}
        missing = [c for c in montage_channels if c.lower() not in have]
        return {
            "path": self.provenance.get("path"),
            "loader": self.provenance.get("loader"),
            "channels": list(self.ch_names),
            "n_channels": self.n_channels,
            "sfreq": float(self.sfreq),
            "duration_s": self.n_frames / float(self.sfreq),
            "shape": [self.n_frames, self.n_channels],
            "subjects": self.subjects(),
            "n_trials": self.n_trials(),
            "missing_channels": missing,
            "units": self.provenance.get("units", "uV"),
            "synthetic": self.ground_truth is not None,
        }


def check_dtype(dtype: np.dtype, what: str, path: Any = None) -> None:
    """Refuse anything but plain integer and floating point numbers.

    Complex values would lose their imaginary part, datetime/timedelta are not
    voltages, and booleans, strings, structured and object arrays are not EEG.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fiu" and dtype.fields is None and dtype.subdtype is None:
        return
    if dtype.kind == "c":
        raise DataError(f"{what} is complex ({dtype}): refusing to drop the imaginary part", path)
    if dtype.kind in "mM":
        raise DataError(f"{what} holds dates or time spans ({dtype}), not voltages", path)
    raise DataError(f"{what} has non-numeric dtype {dtype}", path)


def to_float32(values: np.ndarray, what: str, path: Any = None) -> np.ndarray:
    """``values`` as float32 (a view when already float32), refusing values beyond float32.

    Parameters
    ----------
    values
        Array of any shape and plain numeric dtype.
    what
        Its name in messages (``"npz 'data'"``).

    Raises
    ------
    DataError
        A dtype :func:`check_dtype` refuses, or finite values too large for float32
        (casting would silently turn them into Inf).
    """
    check_dtype(values.dtype, what, path)
    try:
        with np.errstate(over="raise"):
            return np.asarray(values, dtype=np.float32)
    except FloatingPointError:
        raise DataError(f"{what} has values beyond the float32 range (|x| > 3.4e38)",
                        path) from None


def check_ids(ids: np.ndarray, what: str, hi: int, path: Any = None) -> np.ndarray:
    """Whole numbers in ``0..hi`` as int64, refusing fractions and out-of-range values
    (a cast to int16/int32 would wrap 10**6 into another subject)."""
    dtype = np.dtype(ids.dtype)
    if dtype.kind not in "iuf" or ids.dtype.fields is not None:
        raise DataError(f"{what} must hold whole numbers, got dtype {dtype}", path)
    if ids.size == 0:
        return ids.astype(np.int64)
    lo_v, hi_v = ids.min(), ids.max()
    if dtype.kind == "f" and not (np.isfinite(lo_v) and np.isfinite(hi_v)
                                  and np.array_equal(ids, np.round(ids))):
        raise DataError(f"{what} must hold whole numbers", path)
    if lo_v < 0 or hi_v > hi:
        bad = hi_v if hi_v > hi else lo_v
        raise DataError(f"{what} value {bad:.0f} is out of range 0..{hi}", path)
    return ids.astype(np.int64)


def check_values(values: np.ndarray, ch_names: Sequence[str], path: Any = None,
                 chunk: int = 1 << 20) -> None:
    """Refuse non-finite or flat channels, naming the channel.

    Parameters
    ----------
    values
        ``(N, n)`` frames; read in chunks of rows so a memmap is never loaded whole.
    ch_names
        ``(n,)`` names used in the message.
    path
        File named in the error.

    Raises
    ------
    DataError
        On NaN/Inf (with the channel and the count), values beyond
        :data:`MAX_ABS_VALUE`, a channel with zero spread over the whole
        recording, or an empty recording.
    """
    n_frames, n_ch = values.shape
    if n_frames == 0:
        raise DataError("recording has no samples", path)
    bad = np.zeros(n_ch, dtype=np.int64)
    lo = np.full(n_ch, np.inf)
    hi = np.full(n_ch, -np.inf)
    for start in range(0, n_frames, chunk):
        block = np.asarray(values[start:start + chunk])
        bad += (~np.isfinite(block)).sum(axis=0)
        # NaN poisons min/max, but then the recording is refused below anyway
        lo = np.minimum(lo, block.min(axis=0))
        hi = np.maximum(hi, block.max(axis=0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        more = int((bad > 0).sum()) - 1
        extra = f" (and {more} more channels)" if more else ""
        raise DataError(f"channel {ch_names[i]} has {int(bad[i])} NaN/Inf values{extra}", path)
    big = np.flatnonzero(np.maximum(-lo, hi) > MAX_ABS_VALUE)
    if big.size:
        i = int(big[0])
        peak = lo[i] if -lo[i] > hi[i] else hi[i]
        raise DataError(f"channel {ch_names[i]} has values up to {peak:.3g}, beyond "
                        f"±{MAX_ABS_VALUE:.0e}: too large to scale or render", path)
    flat = np.flatnonzero(~(hi > lo))
    if flat.size:
        names = ", ".join(ch_names[int(i)] for i in flat)
        raise DataError(f"flat channel(s) with no variation over the recording: {names}", path)
