"""Strict reading of an options dataclass from JSON (the recipes' exported states)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from eegmi.errors import ConfigError


def known_fields(cls: type, d: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``d`` as keyword arguments of dataclass ``cls``; an unknown key is refused.

    Raises
    ------
    ConfigError
        ``d`` is not a mapping, or names a key ``cls`` has no field for.
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"{what} options must be a JSON object, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{what} options: unknown key(s) {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(sorted(names))})")
    return dict(d)


def as_tuple(value: Any, what: str) -> tuple[Any, ...]:
    """A JSON list as a tuple (a string is one item, never its characters)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{what} must be a list, got {type(value).__name__}")
    return tuple(value)
