"""Readable forms of pick & interpolate results: number formatting, the text table
the CLI prints and the JSON the CLI writes for several models.

The GUI uses :func:`share` and :data:`COLUMNS` too, so both say the same thing; this
module imports neither torch nor the analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the GUI imports this module for its columns: no torch here
    from eegmi.analysis.pick_interpolate import PickInterpolateResult

from eegmi.analysis.pick_options import HEADLINE_BAR, SHARED_RHO

#: (key of NetworkScore.row(), header, explanation) of every column the CLI and GUI show
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pick_r2", "pick R²",
     "Cross-validated affine read-out of the true electrode values from the latents "
     "(OLS, 5 contiguous folds): R², mean over electrodes. Invariant to the latent basis. "
     "Weak alone: an untrained encoder keeps the information too."),
    ("interpolate", "interpolate",
     "Share of the model's output variance (head-disc pixels) explained by the topomap "
     "operator applied to the out-of-fold read-out, up to a constant image; nothing is "
     "fitted to the output. "
     "The mechanism score: needs latents that carry the values and a decoder that is the "
     "operator."),
    ("alignment", "alignment",
     "Held-out canonical correlations latents / electrode values: Σ max(ρ,0)² / n, the "
     "share of the electrode-space dimensions the latents carry (each counted equally). "
     "At most latent_dim / n."),
    ("shared_dims", "dims ρ≥0.9",
     f"Canonical pairs with held-out correlation ≥ {SHARED_RHO}."),
    ("axis_alignment", "axis alignment",
     "NOT basis-invariant: the old per-axis score (Hungarian assignment of one latent per "
     "electrode, gains fitted on half the inputs, output R² on the other half). Low for a "
     "rotated exact network: says nothing against the mechanism."),
    ("reconstruction_r2", "recon R²",
     "Share of the model's output variance explained by the operator applied to the true "
     "electrode values: how faithful the output is at all."),
)


def share(value: Any, digits: int = 3) -> str:
    """A share/R² for display: ``"0.996"``; below -1 (an output that barely varies, as an
    untrained decoder's) ``"< -1"``; ``"–"`` when missing."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("< -1" if v < 0 else "inf")
    return "< -1" if v < -1 else f"{v:.{digits}f}"


def text_report(results: Sequence[PickInterpolateResult]) -> str:
    """The CLI's table: per model its own row and its controls' rows, inputs and notes."""
    header = ["network", "latents"] + [h for _, h, _ in COLUMNS]
    lines = []
    for res in results:
        rows = [res.model, *res.controls]
        table = [header] + [[("  " if s.role != "model" else "") + s.label, str(s.latent_dim)]
                            + [share(s.row()[k], 4) for k, _, _ in COLUMNS] for s in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        kind = "decoder-only" if res.decoder_only else "VAE"
        lines.append(f"{res.label} ({kind}) on {res.inputs['description']}")
        for r in table:
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        verdict = "passes" if res.model.headline_passed else "does not pass"
        lines.append(f"headline (pick and interpolate ≥ {HEADLINE_BAR}): {res.label} {verdict}")
        lines.extend(f"note: {n}" for n in res.notes)
        lines.append("")
    lines.append("pick R², interpolate and alignment do not depend on the latent basis; "
                 "axis alignment does (compare the rotated exact network).")
    return "\n".join(lines)


def results_json(results: Sequence[PickInterpolateResult]) -> dict[str, Any]:
    """``{"analysis", "inputs", "table", "models"}`` for the CLI's ``--json`` and ``--out``."""
    return {"analysis": "pick-interpolate",
            "inputs": {r.label: r.inputs["description"] for r in results},
            "table": [r.row() for r in results],
            "models": {r.label: r.to_json() for r in results}}
