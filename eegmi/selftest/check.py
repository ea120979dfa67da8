"""One row of the self-test table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """A planted case or control, what the analysis scored on it, and the bar.

    Attributes
    ----------
    analysis
        The analysis family, e.g. ``"pick-interpolate"``, ``"eigenspectrum"``.
    case
        What was planted or which control, e.g. ``"exact network, rotated latents"``.
    score
        The number the analysis reported.
    bar
        The rule it must meet, human-readable, e.g. ``">= 0.99"`` or ``"|alpha - 1.5| < 0.1"``.
    passed
        Whether ``score`` meets ``bar``.
    detail
        Optional extra context (one line).
    """

    analysis: str
    case: str
    score: float
    bar: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        score = self.score if math.isfinite(self.score) else None
        return {"analysis": self.analysis, "case": self.case, "score": score, "bar": self.bar,
                "passed": bool(self.passed), "detail": self.detail}
