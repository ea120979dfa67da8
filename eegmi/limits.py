"""Sane limits on sizes and numbers read from cards, presets and SAE folders.

Every size a file declares is checked here *before* anything is allocated, so a
small hostile file cannot make eegmi ask for gigabytes; every float a file
declares must be finite.  The limits are far above anything the workbench trains
(the bundled models have ~0.1 M parameters on 40x40 images).
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError, EegmiError

#: Largest topomap side (pixels); the operator matrix is ``size**2 x n_electrodes``.
MAX_IMAGE_SIZE = 256
#: Most electrodes a montage/model may declare.
MAX_ELECTRODES = 1024
#: Most conv filters per stage.
MAX_FILTERS = 1024
#: Largest latent size.
MAX_LATENT = 4096
#: Most parameters a model card or preset may describe (200 MB as float32).
MAX_MODEL_PARAMS = 50_000_000
#: Largest SAE input width and dictionary size, and their product (one weight matrix).
MAX_SAE_WIDTH = 1 << 20
MAX_SAE_FEATURES = 1 << 20
MAX_SAE_WEIGHTS = 1 << 27
#: Largest JSON card (model.json, sae.json) read.
MAX_CARD_BYTES = 16 << 20
#: Largest TOML preset read.
MAX_PRESET_BYTES = 1 << 20
#: Seeds must fit the generators (numpy takes any int, torch up to 2**64 - 1; the
#: training loop multiplies the seed by ~1e6).
MAX_SEED = 2**32 - 1
#: Most training epochs, batch size and frames a preset may ask for.
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1 << 20
MAX_FRAMES = 1 << 40


def is_int(value: Any) -> bool:
    """True for a Python/numpy integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for a Python/numpy int or float (not a bool, not complex)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value: Any, key: str, lo: int, hi: int, path: str | Path | None) -> int:
    """``value`` as an int in ``[lo, hi]``, else :class:`ConfigError` naming ``key``."""
    if not is_int(value) or not lo <= value <= hi:
        raise ConfigError(f"{key}: {_short(value)} must be an integer in [{lo}, {hi}]", path)
    return int(value)


def check_float(value: Any, key: str, lo: float, hi: float, path: str | Path | None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite float in the given interval, else :class:`ConfigError`."""
    try:
        v = float(value) if is_number(value) else math.nan
    except OverflowError:  # an int beyond float range
        v = math.nan
    ok = math.isfinite(v)
    if ok:
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ConfigError(f"{key}: {_short(value)} must be a finite number in {interval}", path)
    return float(value)


def as_float(value: Any, key: str, path: str | Path | None) -> float:
    """A number as a float; an integer too large for a float raises :class:`ConfigError`."""
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{key}: {_short(value)} is too large", path) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json_card(path: Path, error: type[EegmiError], what: str) -> Any:
    """Parse a JSON card with bounded size and nesting; any failure is one ``error`` line.

    Raises
    ------
    EegmiError
        Of class ``error``: unreadable, too large, too deeply nested, not UTF-8, not JSON.
    """
    try:
        if not path.is_file():
            raise error(f"{what} missing or not a regular file", path)
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise error(f"{what} is {size} bytes (at most {MAX_CARD_BYTES})", path)
        text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except EegmiError:
        raise
    except RecursionError:
        raise error(f"{what} is nested too deeply", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # ValueError covers JSONDecodeError and integers too long to convert
        raise error(f"cannot read {what} ({one_line(exc)})", path) from None


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """An exception (or text) as one line of at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj
