"""Self-test of the sparse-autoencoder tools on planted superposed features.

Ground truth: :func:`eegmi.sae.synthetic.planted_features` — 64 random unit
directions in 32 dimensions (so in superposition), about 3 active per sample
with magnitudes in [0.5, 1.5].  An SAE trained with eegmi's own training code
(:func:`eegmi.sae.train.train_sae`) must recover the planted directions: the
mean over planted directions of the best cosine with a decoder direction
(:func:`eegmi.sae.synthetic.recovery_score`) reaches :data:`RECOVERY_BAR`.

Controls, which must *not* reach the bar, show that the bar discriminates:

- the same SAE untrained (its random initial dictionary: what chance gives in
  32 dimensions with a dictionary of this size);
- the same SAE trained the same way on Gaussian data with the planted data's
  mean and covariance (everything a second-order method could see, but no
  sparse structure to find).

Metric check: an oracle SAE on a planted case without superposition (32
directions in 32 dimensions: decoder = the directions, encoder = their inverse)
encodes every sample into exactly its planted magnitudes, so
:func:`eegmi.sae.metrics.sae_metrics` must report FVE = 1 and L0 = the planted
number of active features per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eegmi.jobs import CancelToken, Job, Progress
from eegmi.selftest.check import Check

if TYPE_CHECKING:  # torch stays unimported until the checks run (the GUI imports this module)
    from eegmi.sae.model import SAEConfig

ANALYSIS = "sae"
#: recovery a trained SAE must reach; trained runs give 0.97-0.995, controls 0.44-0.55
RECOVERY_BAR = 0.9
D = 32
N_PLANTED = 64
ACTIVE = 3.0
#: |L0 - ACTIVE| allowed for the oracle: ~6 standard errors of the empirical mean
#: count over 4096 samples (sd of the count is sqrt(3 (1 - 3/32)) ~ 1.65)
L0_MARGIN = 0.15


@dataclass(frozen=True)
class _Plan:
    n_samples: int
    steps: int
    seeds: tuple[int, ...]
    kinds: tuple[str, ...]


QUICK = _Plan(n_samples=4096, steps=600, seeds=(0,), kinds=("l1",))
FULL = _Plan(n_samples=8192, steps=800, seeds=(0, 1, 2), kinds=("l1", "topk"))


def _sae_config(kind: str) -> SAEConfig:
    from eegmi.sae.model import SAEConfig

    # a 2x overcomplete dictionary of the planted features, the usual SAE setting
    if kind == "topk":
        return SAEConfig(d_in=D, n_features=2 * N_PLANTED, kind="topk", k=4)
    return SAEConfig(d_in=D, n_features=2 * N_PLANTED, kind="l1", l1=0.05)


def _train(x: np.ndarray, kind: str, steps: int, seed: int, cancel: CancelToken | None,
           label: str) -> Job[np.ndarray]:
    """Train an SAE with eegmi's trainer; returns its unit decoder directions ``(F, d)``."""
    from eegmi.sae.train import TrainConfig, train_sae

    train = TrainConfig(steps=steps, batch_size=256, lr=5e-3, seed=seed, dead_steps=100,
                        resample_every=50, report_every=50, device="cpu")
    job = train_sae(x, _sae_config(kind), train, cancel)
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value.sae.decoder_directions.numpy()
        yield Progress(p.done, p.total, f"{label}: {p.message}")


def _untrained(kind: str, seed: int) -> np.ndarray:
    """Decoder directions ``(F, d)`` of the SAE as :func:`train_sae` initialises it."""
    import torch

    from eegmi.sae.model import SparseAutoencoder

    sae = SparseAutoencoder(_sae_config(kind), generator=torch.Generator().manual_seed(seed))
    return sae.decoder_directions.numpy()


def _matched_gaussian(x: np.ndarray, seed: int) -> np.ndarray:
    """Gaussian samples ``(N, d)`` with the mean and covariance of ``x (N, d)``."""
    rng = np.random.default_rng(10_000 + seed)
    xd = x.astype(np.float64)
    return rng.multivariate_normal(xd.mean(0), np.cov(xd.T), size=x.shape[0]).astype(np.float32)


def oracle_metrics(n_samples: int = 4096, seed: int = 0) -> dict[str, float]:
    """``sae_metrics`` of an SAE that encodes planted features exactly (no superposition).

    32 planted directions in 32 dimensions: decoder columns are the directions and
    encoder rows the columns of their inverse, so the codes are the planted
    magnitudes.  The L0 is measured with a small negative encoder bias so that the
    float32 round-off of the inverse (~1e-7 on inactive features) reads as zero; the
    FVE without it, so the codes are exact.

    Returns
    -------
    dict
        ``l0`` (thresholded oracle) and ``fve`` (exact oracle), both from ``sae_metrics``.
    """
    import torch

    from eegmi.sae.metrics import sae_metrics
    from eegmi.sae.model import SAEConfig, SparseAutoencoder
    from eegmi.sae.synthetic import planted_features

    x, dirs = planted_features(n_samples=n_samples, d=D, n_features=D, active=ACTIVE, seed=seed)
    sae = SparseAutoencoder(SAEConfig(d_in=D, n_features=D, kind="l1"))
    d64 = dirs.astype(np.float64)
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(d64.T.astype(np.float32)))  # (d, F), unit columns
        # x = m @ dirs, so m = x @ inv(dirs): encoder rows are the columns of inv(dirs)
        sae.W_enc.copy_(torch.from_numpy(np.linalg.inv(d64).T.astype(np.float32)))
        sae.b_dec.zero_()
        sae.b_enc.zero_()
    fve = sae_metrics(sae, x)["fve"]
    with torch.no_grad():
        # far below the smallest planted magnitude (0.5), far above the round-off
        sae.b_enc.fill_(-0.05)
    l0 = sae_metrics(sae, x)["l0"]
    return {"l0": float(l0), "fve": float(fve)}


def _per_seed(values: list[float]) -> str:
    return "per seed " + ", ".join(f"{v:.3f}" for v in values)


def checks(quick: bool = False, cancel: CancelToken | None = None) -> Job[list[Check]]:
    """The SAE family's planted cases and controls.

    Parameters
    ----------
    quick
        One seed and the L1 SAE only (a few seconds); otherwise three seeds and
        both the L1 and the TopK SAE (well under a minute on a laptop CPU).
    cancel
        Polled between and inside training runs.

    Returns
    -------
    list[Check]
    """
    import torch

    # these problems are tiny (32-d, batches of 256): extra threads only spin, and on a
    # busy 2-core machine made the quick run ten times slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return (yield from _checks(quick, cancel))
    finally:
        torch.set_num_threads(threads)


def _checks(quick: bool, cancel: CancelToken | None) -> Job[list[Check]]:
    from eegmi.sae.synthetic import planted_features, recovery_score

    plan = QUICK if quick else FULL
    rows: list[Check] = []
    n_runs = len(plan.seeds) * len(plan.kinds) * 2
    run = 0

    def scaled(job: Job[np.ndarray]) -> Job[np.ndarray]:
        while True:
            try:
                p = next(job)
            except StopIteration as stop:
                return stop.value
            frac = p.fraction or 0.0
            yield Progress(run + frac, n_runs, p.message)

    planted = {s: planted_features(n_samples=plan.n_samples, d=D, n_features=N_PLANTED,
                                   active=ACTIVE, seed=s) for s in plan.seeds}
    what = f"{N_PLANTED} planted directions in {D}-d, ~{ACTIVE:g} active"
    seeds = ", ".join(str(s) for s in plan.seeds)
    for kind in plan.kinds:
        trained: list[float] = []
        gauss: list[float] = []
        for s in plan.seeds:
            x, dirs = planted[s]
            learned = yield from scaled(_train(x, kind, plan.steps, s, cancel,
                                               f"{kind} SAE, planted features, seed {s}"))
            trained.append(recovery_score(learned, dirs))
            run += 1
            learned_g = yield from scaled(_train(_matched_gaussian(x, s), kind, plan.steps, s,
                                                 cancel, f"{kind} SAE, Gaussian control, seed {s}"))
            gauss.append(recovery_score(learned_g, dirs))
            run += 1
        name = "L1" if kind == "l1" else "TopK"
        rows.append(Check(ANALYSIS, f"{name} SAE recovers {what} (worst of seeds {seeds})",
                          min(trained), f">= {RECOVERY_BAR}", min(trained) >= RECOVERY_BAR,
                          f"mean best cosine of planted to learned directions; {_per_seed(trained)}"))
        rows.append(Check(ANALYSIS, f"control: {name} SAE on Gaussian data, same mean and "
                          f"covariance (best of seeds {seeds})", max(gauss),
                          f"< {RECOVERY_BAR} (must fail the recovery bar)",
                          max(gauss) < RECOVERY_BAR,
                          f"no sparse structure to find; {_per_seed(gauss)}"))
    # the initial dictionary does not depend on the SAE kind: one row covers both
    chance = [recovery_score(_untrained(plan.kinds[0], s), planted[s][1]) for s in plan.seeds]
    rows.append(Check(ANALYSIS, f"control: the same SAE untrained (best of seeds {seeds})",
                      max(chance), f"< {RECOVERY_BAR} (must fail the recovery bar)",
                      max(chance) < RECOVERY_BAR,
                      f"its random initial dictionary: chance level; {_per_seed(chance)}"))
    if cancel is not None:
        cancel.raise_if_cancelled()
    m = oracle_metrics(seed=plan.seeds[0])
    rows.append(Check(ANALYSIS, f"metric: L0 of an exact SAE ({D} planted directions in {D}-d, "
                      f"{ACTIVE:g} active on average)", m["l0"], f"|L0 - {ACTIVE:g}| < {L0_MARGIN}",
                      abs(m["l0"] - ACTIVE) < L0_MARGIN,
                      "sae_metrics L0 of an encoder that inverts the planted directions"))
    rows.append(Check(ANALYSIS, "metric: FVE of the same exact SAE", m["fve"], ">= 0.9999",
                      m["fve"] >= 0.9999, "sae_metrics FVE when the codes are the planted ones"))
    yield Progress(n_runs, n_runs, "SAE checks done")
    return rows
