"""Self-test of the pick & interpolate test on planted networks.

On the real biosemi32 40x40 operator and i.i.d. random electrode values:

- the exact pick & interpolate network and the same network with rotated latents
  must pass the headline (pick and interpolate ≥ :data:`HEADLINE_BAR`);
- the rotated one must *fail* the per-axis score (that is why the headline changed);
- a sheared latent basis must give the same headline as the plain one;
- an untrained VAE of the bundled architecture must score clearly lower.
"""

from __future__ import annotations

import numpy as np

from eegmi.jobs import CancelToken, Job, Progress
from eegmi.selftest.check import Check

ANALYSIS = "pick-interpolate"
#: the rotated network's axis alignment must stay below this
AXIS_FAIL_BAR = 0.6
#: the untrained network's interpolate share must stay below this
UNTRAINED_BAR = 0.5


def checks(quick: bool = False, cancel: CancelToken | None = None) -> Job[list[Check]]:
    """Run the planted cases (a job generator); ``quick`` uses fewer inputs."""
    from eegmi.analysis.inputs import random_mixes
    from eegmi.analysis.pick_controls import (
        ExactPickInterpolate,
        random_rotation,
        untrained_network,
    )
    from eegmi.analysis.pick_interpolate import HEADLINE_BAR, score_network
    from eegmi.data.injection import InjectionConfig
    from eegmi.data.topomap import get_operator
    from eegmi.models import ModelConfig
    from eegmi.models.adapter import ModelAdapter, injection_for

    op = get_operator("biosemi32", 40)
    n = op.n_channels
    # marks on, as most bundled models see them: picking must step around them
    pipe = ModelAdapter("vae", op, injection_for(op, InjectionConfig(marks=True)))
    values = random_mixes(n, 200 if quick else 400, seed=0)
    rng = np.random.default_rng(1)
    shear = np.diag(10.0 ** rng.uniform(-1, 1, n)) @ (np.eye(n) + np.triu(rng.normal(size=(n, n)), 1))
    nets = [("exact", ExactPickInterpolate(op)),
            ("rotated", ExactPickInterpolate(op, random_rotation(n, 0))),
            ("sheared", ExactPickInterpolate(op, shear)),
            ("untrained", untrained_network(ModelConfig(kind="vae"), seed=0))]
    scores = {}
    for i, (role, net) in enumerate(nets):
        if cancel is not None:
            cancel.raise_if_cancelled()
        scores[role] = yield from score_network(net, pipe, values, label=role, role=role,
                                                cancel=cancel)
        yield Progress(i + 1, len(nets), f"pick & interpolate self-test: {role}")

    def headline(s: object) -> float:
        return min(s.pick, s.interpolate)  # type: ignore[attr-defined]

    bar = f">= {HEADLINE_BAR}"
    ex, rot, sh, un = (scores[k] for k in ("exact", "rotated", "sheared", "untrained"))
    detail = "min(pick R², interpolate)"
    gap = max(abs(sh.pick - ex.pick), abs(sh.interpolate - ex.interpolate),
              abs(sh.alignment - ex.alignment))
    return [
        Check(ANALYSIS, "exact network: headline", headline(ex), bar,
              headline(ex) >= HEADLINE_BAR, detail),
        Check(ANALYSIS, "exact network: axis alignment", ex.axis.score, bar,
              ex.axis.score >= HEADLINE_BAR, "per-axis (Hungarian) score"),
        Check(ANALYSIS, "rotated latents: headline", headline(rot), bar,
              headline(rot) >= HEADLINE_BAR, detail),
        Check(ANALYSIS, "rotated latents: alignment", rot.alignment, bar,
              rot.alignment >= HEADLINE_BAR, "held-out canonical correlations, Σρ²/n"),
        Check(ANALYSIS, "rotated latents: axis alignment fails", rot.axis.score,
              f"< {AXIS_FAIL_BAR}", rot.axis.score < AXIS_FAIL_BAR,
              "the basis-dependent score must not see the rotated mechanism"),
        Check(ANALYSIS, "sheared latents: same headline", gap, "< 1e-4", gap < 1e-4,
              "largest change of pick, interpolate, alignment vs the plain basis"),
        Check(ANALYSIS, "untrained VAE: interpolate", un.interpolate, f"< {UNTRAINED_BAR}",
              un.interpolate < UNTRAINED_BAR, f"its pick R² is {un.pick:.3f}: pick alone is weak"),
    ]
