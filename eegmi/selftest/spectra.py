"""Self-test of the eigenspectrum analysis: planted power laws, a rank cliff, the untrained null."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from eegmi.jobs import CancelToken, Job, Progress, run_job
from eegmi.selftest.check import Check

ANALYSIS = "eigenspectrum"
#: |recovered alpha - planted alpha| must stay below this
ALPHA_BAR = 0.1


def planted_spectrum(n: int, m: int, alpha: float, seed: int = 0, rank: int | None = None
                     ) -> np.ndarray:
    """``(n, m)`` Gaussian data with covariance eigenvalues ``k**-alpha`` (k = 1..rank), rotated.

    ``rank`` < ``m`` leaves the data in a random ``rank``-dimensional subspace.
    """
    rng = np.random.default_rng(seed)
    r = m if rank is None else rank
    q, _ = np.linalg.qr(rng.standard_normal((m, r)))
    lam = np.arange(1.0, r + 1) ** -alpha
    return (rng.standard_normal((n, r)) * np.sqrt(lam)) @ q.T


def _untrained_alphas(quick: bool, cancel: CancelToken | None) -> Job[tuple[list[float | None], str]]:
    import torch

    from eegmi.analysis.activations import layer_spectra
    from eegmi.analysis.spectra import untrained
    from eegmi.data.topomap import get_operator
    from eegmi.models import ModelConfig, build_model

    op = get_operator("biosemi32", 40, "cubic")
    n = 300 if quick else 800
    values = np.random.default_rng(0).uniform(0, 1, (n, 32)).astype(np.float32)
    images = torch.from_numpy(np.asarray(op.render(values), dtype=np.float32)[:, None])
    cfg = ModelConfig(filters=(4, 8, 8), latent_dim=6)
    loaded = SimpleNamespace(config=cfg, model=build_model(cfg))
    alphas: list[float | None] = []
    seeds = [1, 2, 3]
    for i, s in enumerate(seeds):
        net = untrained(loaded, s)
        job = layer_spectra(net, list(torch.split(images, 128)), ["enc.act2"], max_dim=1000,
                            max_components=200, cancel=cancel)
        res = run_job(job, cancel=cancel)
        alphas.append(res.spectra["enc.act2"].alpha)
        yield Progress(i + 1, len(seeds), f"untrained seed {s}")
    return alphas, f"enc.act2 of a 4/8/8-filter ConvVAE, {n} topomaps of random mixes"


def checks(quick: bool = False, cancel: CancelToken | None = None) -> Job[list[Check]]:
    """Planted spectra (alpha 1 and 2 recovered within :data:`ALPHA_BAR`), a rank-32 matrix
    (its effective rank found and the seed's 10-50 window flagged), and an untrained
    network's alpha with its spread over 3 seeds (the null every layer is read against)."""
    from eegmi.analysis.eigenspectrum import eigenspectrum

    rows: list[Check] = []
    n, m = (1500, 150) if quick else (4000, 300)
    for i, alpha in enumerate((1.0, 2.0)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        es = eigenspectrum(planted_spectrum(n, m, alpha, seed=i))
        got = float("nan") if es.alpha is None else es.alpha
        rows.append(Check(ANALYSIS, f"planted power law, alpha = {alpha:g}", got,
                          f"|alpha - {alpha:g}| < {ALPHA_BAR:g}",
                          bool(abs(got - alpha) < ALPHA_BAR),
                          f"{n} samples x {m} dims; r2 {es.fit.r2 if es.fit else float('nan'):.3f}"))
        yield Progress(i + 1, 4, rows[-1].case)
    low = eigenspectrum(planted_spectrum(n, m, 1.0, seed=5, rank=32))
    flagged = any("effective rank" in w for w in low.warnings)
    rows.append(Check(ANALYSIS, "rank-32 data in the 10-50 window: rank found, window flagged",
                      float(low.effective_rank), "rank == 32 and a rank warning",
                      bool(low.effective_rank == 32 and flagged),
                      "; ".join(low.warnings) or "no warning"))
    yield Progress(3, 4, rows[-1].case)
    alphas, what = yield from _untrained_alphas(quick, cancel)
    vals = np.array([a for a in alphas if a is not None], dtype=np.float64)
    mean = float(vals.mean()) if vals.size else float("nan")
    sd = float(vals.std(ddof=1)) if vals.size > 1 else float("nan")
    rows.append(Check(ANALYSIS, "untrained network: alpha with its spread (3 seeds)", mean,
                      "3 finite alphas, sd reported",
                      bool(vals.size == 3 and np.isfinite(sd)),
                      f"{what}: {mean:.3f} ± {sd:.3f} (alphas "
                      f"{', '.join('-' if a is None else f'{a:.3f}' for a in alphas)})"))
    yield Progress(4, 4, rows[-1].case)
    return rows
