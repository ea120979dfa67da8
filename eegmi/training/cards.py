"""What a model card may declare: its scaler, injection, operator and montage, checked.

A card is untrusted input (it may come with a downloaded model): every number must
be finite, every size must match the model, and its montage is a built-in name or
electrode names and positions carried in the card itself (a model trained on a custom
electrode file); it never chooses a file for eegmi to read (see :func:`card_data_source`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import CheckpointError, ConfigError, EegmiError
from eegmi.limits import MAX_ELECTRODES, check_float, is_int
from eegmi.models.config import ModelConfig


def _table(meta: dict[str, Any], key: str, card: Path) -> dict[str, Any]:
    value = meta.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckpointError(f"'{key}' must be a table, got {type(value).__name__}", card)
    return value


def card_parts(meta: dict[str, Any], config: ModelConfig, card: Path) -> tuple[Any, Any, Any]:
    """Scaler, injection config and topomap operator a card describes, all checked.

    Raises
    ------
    CheckpointError
        A missing or mistyped entry, a non-finite number, an operator size other than
        the model's, or a montage that is not a built-in name.
    """
    from eegmi.data.injection import LAYOUTS, LEGACY_LAYOUT, InjectionConfig
    from eegmi.data.montage import builtin_montage_names
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import METHODS, get_operator

    def bad(why: str) -> CheckpointError:
        return CheckpointError(why, card)

    sc = _table(meta, "scaler", card)
    nums = {k: sc.get(k, d) for k, d in (("lo", None), ("hi", None), ("q_low", 5.0),
                                         ("q_high", 95.0))}
    try:
        vals = {k: check_float(v, f"scaler.{k}", -3e38, 3e38, None) for k, v in nums.items()}
    except ConfigError as exc:
        raise bad(exc.message) from None
    if not vals["hi"] > vals["lo"] or not 0 <= vals["q_low"] < vals["q_high"] <= 100:
        raise bad(f"scaler: {nums} must have lo < hi and 0 <= q_low < q_high <= 100")
    scaler = ClipScaler(vals["lo"], vals["hi"], vals["q_low"], vals["q_high"])
    inj = _table(meta, "injection", card)
    marks, occlusion = inj.get("marks", False), inj.get("occlusion", False)
    if not isinstance(marks, bool) or not isinstance(occlusion, bool):
        raise bad(f"injection.marks / occlusion must be true or false, got {marks!r} / "
                  f"{occlusion!r}")
    try:
        mark_value = check_float(inj.get("mark_value", 1.0), "injection.mark_value", -1e3, 1e3,
                                 None)
    except ConfigError as exc:
        raise bad(exc.message) from None
    layout = inj.get("layout", LEGACY_LAYOUT)  # a card without a layout predates them
    if layout not in LAYOUTS:
        raise bad(f"injection.layout {str(layout)[:40]!r} is not one of {', '.join(LAYOUTS)}")
    injection_config = InjectionConfig(marks=marks, occlusion=occlusion, mark_value=mark_value,
                                       layout=layout)
    op = _table(meta, "operator", card)
    size, method = op.get("size", config.image_size), op.get("method", "cubic")
    if not is_int(size) or size != config.image_size:
        raise bad(f"operator.size {size!r} must equal model image_size {config.image_size}")
    if method not in METHODS:
        raise bad(f"operator.method {method!r} is not one of {', '.join(METHODS)}")
    mont = _table(meta, "montage", card)
    name = mont.get("name", "biosemi32")
    builtin = {b.lower(): b for b in builtin_montage_names()}
    if isinstance(name, str) and name.strip().lower() in builtin:
        montage: Any = builtin[name.strip().lower()]
        exp = _table(meta, "experiment", card)
        exp_data = exp.get("data", {}) if isinstance(exp.get("data", {}), dict) else {}
        value = exp_data.get("montage", name)
        if not isinstance(value, str) or value.strip().lower() not in builtin:
            raise bad(f"experiment.data.montage {str(value)[:60]!r} is not a built-in montage "
                      "name (a model card cannot name a file)")
    elif "pos" in mont:
        montage = _embedded_montage(mont, bad)
    else:
        raise bad(f"montage.name {str(name)[:60]!r} is not a built-in montage name and the card "
                  "carries no electrode positions (a model card cannot name a file)")
    try:
        operator = get_operator(montage, size=int(size), method=method)
    except EegmiError as exc:
        raise bad(f"montage: {exc.message}") from None
    n = operator.montage.n_channels
    if config.kind == "decoder" and n != config.n_electrodes:
        raise bad(f"montage {name} has {n} electrodes, the model reads {config.n_electrodes}")
    return scaler, injection_config, operator


def card_data_source(meta: dict[str, Any], explicit: str | None, card: str | Path) -> str:
    """The dataset to use with a model or SAE card: ``explicit`` when given (``--data``),
    else ``"synthetic"`` when the card names it (or nothing).

    A card naming a file is not followed: a downloaded card must not choose what
    eegmi reads.

    Raises
    ------
    ConfigError
        The card names a file and no ``explicit`` source was given.
    """
    if explicit:
        return str(explicit)
    exp = meta.get("experiment")
    data = exp.get("data") if isinstance(exp, dict) else None
    source = data.get("source", "synthetic") if isinstance(data, dict) else "synthetic"
    if source == "synthetic" or source is None:
        return "synthetic"
    raise ConfigError(f"the card says it was trained on {str(source)[:200]!r}; a card cannot "
                      "choose files to read: give that data explicitly (--data)", card)


def _embedded_montage(mont: dict[str, Any], bad: Any) -> Any:
    """A custom montage from the names and positions a card carries (never from a file)."""
    from eegmi.data.montage import Montage

    names, pos = mont.get("ch_names"), mont.get("pos")
    if (not isinstance(names, list) or not 1 <= len(names) <= MAX_ELECTRODES
            or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in names)
            or len({c.lower() for c in names}) != len(names)):
        raise bad(f"montage.ch_names must be 1..{MAX_ELECTRODES} distinct names")
    if not isinstance(pos, list) or len(pos) != len(names):
        raise bad(f"montage.pos must hold one [x, y, z] per channel ({len(names)})")
    xyz = []
    for i, p in enumerate(pos):
        if not isinstance(p, list) or len(p) != 3:
            raise bad(f"montage.pos[{i}] must be [x, y, z] in metres")
        try:
            xyz.append([check_float(v, f"montage.pos[{i}]", -1.0, 1.0, None) for v in p])
        except ConfigError as exc:
            raise bad(exc.message) from None
    label = str(mont.get("name", "custom"))[:200]
    try:
        return Montage(label, tuple(names), np.asarray(xyz, dtype=np.float64))
    except EegmiError as exc:
        raise bad(f"montage: {exc.message}") from None
