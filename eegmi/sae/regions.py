"""Scalp regions from 10-20 electrode names, and the gallery's search filter and card order (Qt-free).

Regions follow the 10-20 naming rules rather than coordinates, so they work for any
montage MNE names in the usual way:

- the letters name the lobe: ``Fp AF F`` frontal, ``FC`` fronto-central (frontal and
  central), ``C`` central, ``CP`` centro-parietal (central and parietal), ``P``
  parietal, ``PO`` parieto-occipital (parietal and occipital), ``O`` occipital,
  ``T FT TP`` temporal; the lateral ring ``F7 F8 P7 P8`` (the old T3-T6 positions'
  neighbours) is temporal too;
- odd numbers are left, even numbers right, ``z`` is the midline.

A search query is whitespace/comma separated tokens; each is an electrode name or a
region name (case-insensitive) and the tokens' electrode sets are intersected, so
"left frontal" means left frontal electrodes and "Fz" means Fz alone.  A feature
matches when one of its driving electrodes is in that set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

REGIONS = ("frontal", "central", "parietal", "occipital", "temporal", "left", "right", "midline")

_LOBES = {
    "FP": ("frontal",), "AF": ("frontal",), "F": ("frontal",), "FC": ("frontal", "central"),
    "FT": ("frontal", "temporal"), "C": ("central",), "CP": ("central", "parietal"),
    "P": ("parietal",), "PO": ("parietal", "occipital"), "O": ("occipital",),
    "T": ("temporal",), "TP": ("temporal", "parietal"), "I": ("occipital",),
}
_LATERAL_TEMPORAL = {"F7", "F8", "P7", "P8", "T3", "T4", "T5", "T6"}
_NAME = re.compile(r"^([A-Za-z]+?)(z|Z|\d+)?$")


def regions_of(name: str) -> set[str]:
    """Regions an electrode belongs to (empty for names outside the 10-20 scheme)."""
    m = _NAME.match(name.strip())
    if m is None:
        return set()
    letters, suffix = m.group(1).upper(), m.group(2)
    out = set(_LOBES.get(letters, ()))
    if name.strip().upper() in _LATERAL_TEMPORAL:
        out.add("temporal")
    if suffix is not None:
        if suffix.lower() == "z":
            out.add("midline")
        elif int(suffix) % 2 == 1:
            out.add("left")
        else:
            out.add("right")
    return out


def region_table(ch_names: Sequence[str]) -> dict[str, set[int]]:
    """Electrode indices per region name for a montage's channel list."""
    table: dict[str, set[int]] = {r: set() for r in REGIONS}
    for i, name in enumerate(ch_names):
        for r in regions_of(name):
            table[r].add(i)
    return table


def query_electrodes(query: str, ch_names: Sequence[str]) -> set[int] | None:
    """Electrode indices a query selects; None for an empty query (no filter).

    Unknown tokens select nothing, so a typo shows an empty gallery rather than all cards.
    """
    tokens = [t for t in re.split(r"[\s,;]+", query.strip()) if t]
    if not tokens:
        return None
    lower = {n.lower(): i for i, n in enumerate(ch_names)}
    table = region_table(ch_names)
    selected: set[int] | None = None
    for tok in tokens:
        t = tok.lower()
        if t in lower:
            s = {lower[t]}
        elif t in table:
            s = set(table[t])
        else:
            s = set()
        selected = s if selected is None else selected & s
    return selected


def matches(drivers: Iterable[int], selected: set[int] | None) -> bool:
    """Whether a feature with these driving electrode indices passes the filter."""
    return selected is None or any(d in selected for d in drivers)


#: sort keys of the gallery cards (gallery attributes, largest first; ``index`` ascending)
SORT_KEYS = ("frequency", "mean_activation", "selectivity", "max_activation", "index")


def card_order(gallery: Any, drivers: Sequence[Sequence[int]], ch_names: Sequence[str],
               sort_key: str = "frequency", query: str = "") -> np.ndarray:
    """Features shown as cards, in order: ``(m,)`` int64.

    Parameters
    ----------
    gallery
        :class:`eegmi.sae.features.FeatureGallery` (``F`` features).
    drivers
        Driving electrode indices per feature (``F`` lists).
    sort_key
        One of :data:`SORT_KEYS`; ties keep feature order, so the order is reproducible.
    query
        Electrode/region search (:func:`query_electrodes`); empty keeps every feature.
    """
    if sort_key not in SORT_KEYS:
        raise ValueError(f"sort key must be one of {SORT_KEYS}, not {sort_key!r}")
    n = int(np.asarray(gallery.frequency).size)
    if sort_key == "index":
        order = np.arange(n, dtype=np.int64)
    else:
        order = np.argsort(-np.asarray(getattr(gallery, sort_key)), kind="stable")
    selected = query_electrodes(query, ch_names)
    if selected is not None:
        order = np.array([i for i in order if matches(drivers[int(i)], selected)], dtype=np.int64)
    return np.asarray(order, dtype=np.int64)
