"""Figures of ``eegmi analyze sanity --out``: per-stage curves against the baseline band,
and the maps of the first input at every stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from eegmi.analysis.sanity import SanityResult
from eegmi.analysis.sanity_rule import STAT_LABELS, STATISTICS


def sanity_figures(plt: Any, res: SanityResult) -> dict[str, Any]:
    """``{"sanity_curves": fig, "sanity_maps": fig}`` (matplotlib figures, Agg backend).

    Curves: one row per method, one column per statistic; the mean similarity to the
    trained maps per stage (error bars: one-sided upper bound), the baseline band from
    ``baseline - margin`` to ``baseline`` and the ``floor`` (dotted); a filled marker is
    a stage where the statistic has changed under the rule.
    """
    x = np.arange(1, len(res.layers) + 1)
    margin = res.rule.margin
    rows = len(res.methods)
    fig, axes = plt.subplots(rows, len(STATISTICS), figsize=(3.4 * len(STATISTICS), 2.1 * rows + 0.6),
                             squeeze=False, sharex=True)
    for r, m in enumerate(res.methods):
        sim, base = res.mean_similarity(m), res.mean_baseline(m)
        _, ub = res.bounds(m)
        changed = res.verdicts[m].changed
        for c, stat in enumerate(STATISTICS):
            ax = axes[r, c]
            ax.axhspan(base[c] - margin, base[c], color="0.85", lw=0)
            ax.axhline(base[c], color="0.4", lw=1)
            ax.axhline(res.rule.floor, color="0.6", lw=0.8, ls=":")
            err = np.clip(np.nan_to_num(ub[:, c] - sim[:, c]), 0, None)
            ax.errorbar(x, sim[:, c], yerr=[np.zeros_like(err), err], color="C0", lw=1.4,
                        capsize=2)
            ax.scatter(x[changed[:, c]], sim[changed[:, c], c], color="C2", zorder=3, s=22)
            ax.scatter(x[~changed[:, c]], sim[~changed[:, c], c], facecolor="white",
                       edgecolor="C3", zorder=3, s=22)
            ax.set_ylim(-0.05, 1.0)
            if r == 0:
                ax.set_title(STAT_LABELS[stat], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{m}\n{res.label(m)}", fontsize=7)
            ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xticks(x, res.layers, rotation=60, ha="right", fontsize=6)
        ax.set_xlabel("randomised down to", fontsize=7)
    fig.suptitle(f"sanity {res.target}: similarity to trained maps (band: baseline - margin .. "
                 f"baseline; dotted: floor)", fontsize=8)
    fig.tight_layout()

    stages = res.maps[res.methods[0]].shape[0]
    fig2, axes2 = plt.subplots(rows, stages, figsize=(1.6 * stages, 1.7 * rows), squeeze=False)
    for r, m in enumerate(res.methods):
        for s in range(stages):
            axes2[r, s].imshow(np.abs(res.maps[m][s, 0]), cmap="magma")
            axes2[r, s].axis("off")
            axes2[r, s].set_title((m[:12] + " ") if s == 0 else res.layers[s - 1], fontsize=6)
    fig2.tight_layout()
    return {"sanity_curves": fig, "sanity_maps": fig2}
