"""Electrode names and head-frame positions, taken from MNE montages.

A :class:`Montage` is the geometry every other part of eegmi works from: the
channel names in a fixed order and their 3-D positions. Channels in data files
are always matched to it by name (case-insensitive), never by position.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eegmi.errors import ConfigError, DataError

#: The 32 DEAP EEG channels in Geneva order; identical to MNE's ``biosemi32`` order.
DEAP_CHANNELS: tuple[str, ...] = (
    "Fp1", "AF3", "F7", "F3", "FC1", "FC5", "T7", "C3",
    "CP1", "CP5", "P7", "P3", "Pz", "PO3", "O1", "Oz",
    "O2", "PO4", "P4", "P8", "CP6", "CP2", "C4", "T8",
    "FC6", "FC2", "F4", "F8", "AF4", "Fp2", "Fz", "Cz",
)  # fmt: skip

DEFAULT_MONTAGE = "biosemi32"


@dataclass(frozen=True, eq=False)
class Montage:
    """Electrode names and positions.

    Attributes
    ----------
    name
        MNE montage name or the electrode file it came from.
    ch_names
        Channel names, in the order used for every electrode vector ``(n,)``.
    pos
        ``(n, 3)`` float64 head-frame positions in metres (x right, y nose, z up).

    Equality and hashing use the names and positions (not object identity), so a
    montage can key caches such as the topomap operator cache.
    """

    name: str
    ch_names: tuple[str, ...]
    pos: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        pos = np.array(self.pos, dtype=np.float64)
        if pos.shape != (len(self.ch_names), 3):
            raise DataError(
                f"montage {self.name!r}: positions have shape {pos.shape}, "
                f"expected ({len(self.ch_names)}, 3)"
            )
        if not np.all(np.isfinite(pos)):
            bad = [n for n, p in zip(self.ch_names, pos, strict=True) if not np.all(np.isfinite(p))]
            raise DataError(f"montage {self.name!r}: no position for channel(s) {', '.join(bad)}")
        pos.setflags(write=False)
        object.__setattr__(self, "ch_names", tuple(str(c) for c in self.ch_names))
        object.__setattr__(self, "pos", pos)

    @property
    def n_channels(self) -> int:
        """Number of electrodes ``n``."""
        return len(self.ch_names)

    def index(self, name: str) -> int:
        """Position of channel ``name`` (case-insensitive) in :attr:`ch_names`.

        Raises
        ------
        DataError
            If the montage has no such channel.
        """
        key = name.strip().lower()
        for i, ch in enumerate(self.ch_names):
            if ch.lower() == key:
                return i
        raise DataError(f"montage {self.name!r} has no channel {name!r}")

    def key(self) -> tuple[str, tuple[str, ...], bytes]:
        """A hashable value identifying the geometry (name, channels, positions)."""
        return (self.name, self.ch_names, self.pos.tobytes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Montage):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


def builtin_montage_names() -> list[str]:
    """Names of MNE's standard montages (``biosemi32``, ``standard_1020``, ...)."""
    import mne

    return list(mne.channels.get_builtin_montages())


def _head_positions(dig_montage: object, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Channel names and head-frame positions of an MNE ``DigMontage``.

    MNE stores standard montages in their own frame with fiducials; attaching the
    montage to an ``Info`` is MNE's public way to get positions in the head frame
    (x towards the right preauricular point, y through the nasion).
    """
    import mne

    names = list(dig_montage.ch_names)  # type: ignore[attr-defined]
    if not names:
        raise DataError(f"{where}: no electrodes found")
    lowered = [n.lower() for n in names]
    dups = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if dups:
        raise DataError(f"{where}: duplicate electrode name(s) {', '.join(dups)}")
    info = mne.create_info(names, 1000.0, "eeg")
    try:
        info.set_montage(dig_montage, on_missing="raise", verbose="error")
    except (ValueError, RuntimeError) as exc:
        raise DataError(f"{where}: cannot place electrodes ({exc})") from None
    pos = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=np.float64)
    return tuple(names), pos


@functools.lru_cache(maxsize=32)
def _builtin(name: str) -> tuple[tuple[str, ...], np.ndarray]:
    import mne

    return _head_positions(mne.channels.make_standard_montage(name), f"montage {name}")


def _from_file(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    import mne

    if not path.is_file():
        raise DataError("electrode file not found", path)
    try:
        dig = mne.channels.read_custom_montage(path, verbose="error")
    except Exception as exc:  # MNE raises many types for unreadable files
        raise DataError(f"cannot read electrode positions ({exc})", path) from None
    return _head_positions(dig, str(path))


def get_montage(
    spec: str | Path | Montage = DEFAULT_MONTAGE, ch_names: Sequence[str] | None = None
) -> Montage:
    """Load a montage by MNE name or from an electrode file.

    Parameters
    ----------
    spec
        An MNE standard montage name (case-insensitive, e.g. ``"biosemi32"``,
        ``"standard_1020"``), a path to an electrode file that
        ``mne.channels.read_custom_montage`` reads (``.elc .sfp .loc .locs .eloc
        .csd .elp .hpts .bvef``), or a :class:`Montage` (returned as is unless
        ``ch_names`` picks from it).
    ch_names
        Optional channel names picking and ordering a subset, matched
        case-insensitively; the montage's own spelling is kept.

    Returns
    -------
    Montage
        With ``pos`` of shape ``(n, 3)`` in metres, head frame.

    Raises
    ------
    ConfigError
        ``spec`` is neither a known montage name nor an existing file (the message
        lists the valid names).
    DataError
        The file cannot be read, or ``ch_names`` asks for channels the montage
        lacks or names one twice.
    """
    if isinstance(spec, Montage):
        name, names, pos = spec.name, spec.ch_names, spec.pos
    else:
        text = str(spec).strip()
        builtin = {b.lower(): b for b in builtin_montage_names()}
        if isinstance(spec, str) and text.lower() in builtin:
            name = builtin[text.lower()]
            names, pos = _builtin(name)
        elif Path(text).expanduser().exists() or isinstance(spec, Path) or _looks_like_path(text):
            path = Path(text).expanduser()
            names, pos = _from_file(path)
            name = str(path)
        else:
            raise ConfigError(
                f"unknown montage {text!r}: use an electrode file or one of "
                + ", ".join(sorted(builtin.values()))
            )
    if ch_names is not None:
        idx, missing, _ = _match(ch_names, names)
        lowered = [str(c).strip().lower() for c in ch_names]
        twice = sorted({str(c) for c, lc in zip(ch_names, lowered, strict=True)
                        if lowered.count(lc) > 1})
        if missing:
            raise DataError(f"montage {name} has no channel(s) {', '.join(missing)}")
        if twice:
            raise DataError(f"channel(s) {', '.join(twice)} requested twice from montage {name}")
        names = tuple(names[i] for i in idx)
        pos = pos[idx]
    return Montage(name, tuple(names), pos)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or Path(text).suffix != ""


def _match(wanted: Sequence[str], names: Sequence[str]) -> tuple[list[int], list[str], list[str]]:
    """Case-insensitive lookup: (first index of each wanted name, missing, duplicated)."""
    where: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        where.setdefault(str(n).strip().lower(), []).append(i)
    idx: list[int] = []
    missing: list[str] = []
    dups: list[str] = []
    for w in wanted:
        hits = where.get(str(w).strip().lower(), [])
        if not hits:
            missing.append(str(w))
        elif len(hits) > 1:
            dups.append(str(w))
        idx.extend(hits[:1])
    return idx, missing, dups


def match_channels(
    names: Sequence[str], montage: Montage, path: str | Path | None = None
) -> np.ndarray:
    """Indices into ``names`` of each montage channel, matched by name.

    Parameters
    ----------
    names
        Channel names as found in a data file, any order, any case; extra
        channels (EOG, status...) are ignored.
    montage
        The montage whose channel order the result follows.
    path
        The data file, named in errors.

    Returns
    -------
    np.ndarray
        ``(n,)`` int64: ``values[:, result]`` reorders file columns into montage order.

    Raises
    ------
    DataError
        Naming the montage channels missing from ``names`` or present twice.
    """
    idx, missing, dups = _match(montage.ch_names, names)
    problems = []
    if missing:
        problems.append("missing channel(s) " + ", ".join(missing))
    if dups:
        problems.append("duplicate channel(s) " + ", ".join(dups))
    if problems:
        raise DataError(f"{'; '.join(problems)} for montage {montage.name}", path)
    return np.array(idx, dtype=np.int64)
