"""Per-layer eigenspectra of a trained model: eegmi against sklearn randomized PCA in float32.

On the same inputs (the analysis input set: ``--inputs`` held-out frames of the
model's validation split, 3000 by default) and the same trained model (``--model``,
E3 by default), every depth layer's spectrum is computed, dimensions sub-sampled
to at most 8000 (2000 with ``--quick``), two ways, **interleaved** over
``--rounds`` rounds (A B A B ...; min and median reported):

- ``eegmi``: :func:`eegmi.analysis.activations.layer_spectra` (activations streamed
  into per-layer buffers; by shape, the exact float64 Gram/covariance spectrum or
  float32 randomized SVD of the top components);
- ``sklearn``: what a competent user writes: collect each layer's activation
  matrix (float32), ``PCA(n_components=K, svd_solver="randomized")`` on it in
  float32 and a ``HuberRegressor`` over components 10-50; ``K`` is the number of
  components eegmi's randomized route computes (``--baseline-components``).

It also checks the answer: alpha of every layer from the chosen routes against
the exact float64 route (``spectrum_of_rows(route="exact")``) on the same
activations (``max_abs_alpha_diff_vs_exact``), and against the baseline.

Prints the load average, then one JSON object last: both times (min, median),
``ratio_sklearn_over_eegmi`` (median; > 1 means eegmi is faster) and the alpha
differences.  All CPU work runs on ``--threads`` threads (default 1; BLAS via
threadpoolctl and torch), so timings compare like with like on a shared machine.
When ``benchmarks/analysis_propagation.py`` exists its ``run(quick)`` result is
included under ``"propagation"``.

Usage: ``python benchmarks/analysis.py [--quick] [--model E3] [--inputs 3000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

FIT = (10, 50)


def setup(model_name: str, n_inputs: int) -> tuple[Any, list[torch.Tensor], list[str], str]:
    from eegmi.analysis.inputs import InputSpec, analysis_inputs
    from eegmi.analysis.spectra import model_batches
    from eegmi.analysis.spectra_options import depth_layers
    from eegmi.models.adapter import adapt
    from eegmi.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(model_name)
    inputs = analysis_inputs(loaded, InputSpec(count=n_inputs))
    batches = model_batches(loaded, inputs.values)
    adapter = adapt(loaded)
    names = depth_layers(adapter.hook_names(), adapter.latent_hook)
    return loaded.model.eval(), batches, names, inputs.description


def huber_alpha(ev: np.ndarray) -> float | None:
    from sklearn.linear_model import HuberRegressor

    ranks = np.arange(FIT[0], min(FIT[1], ev.size) + 1)
    ranks = ranks[ev[ranks - 1] > ev.max() * 1e-12]
    if ranks.size < 5:
        return None
    h = HuberRegressor(max_iter=1000).fit(np.log(ranks)[:, None], np.log(ev[ranks - 1]))
    return -float(h.coef_[0])  # eigenvalue ∝ k^-alpha


def baseline(model: Any, batches: list[torch.Tensor], names: list[str], max_dim: int,
             components: int) -> dict[str, float | None]:
    """sklearn randomized PCA in float32 per layer + HuberRegressor over ranks 10-50."""
    from sklearn.decomposition import PCA

    from eegmi.analysis.activations import collect_activations
    from eegmi.jobs import run_job

    acts = run_job(collect_activations(model, batches, names, max_dim=max_dim))
    alphas: dict[str, float | None] = {}
    for name in names:
        x = acts.pop(name)  # float32
        k = min(components, x.shape[0] - 1, x.shape[1])
        pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x)
        alphas[name] = huber_alpha(pca.explained_variance_.astype(np.float64))
    return alphas


def ours(model: Any, batches: list[torch.Tensor], names: list[str], max_dim: int) -> Any:
    from eegmi.analysis.activations import layer_spectra
    from eegmi.jobs import run_job

    return run_job(layer_spectra(model, batches, names, max_dim=max_dim))


def exact_alphas(model: Any, batches: list[torch.Tensor], names: list[str], max_dim: int
                 ) -> dict[str, float | None]:
    """alpha from the exact float64 route on the same (sub-sampled) activations."""
    from eegmi.analysis.activations import collect_activations
    from eegmi.analysis.eigenspectrum import spectrum_of_rows
    from eegmi.analysis.powerlaw import fit_power_law
    from eegmi.jobs import run_job

    acts = run_job(collect_activations(model, batches, names, max_dim=max_dim))
    out: dict[str, float | None] = {}
    for name in names:
        ev, _, _ = spectrum_of_rows(acts.pop(name), max_components=1000, route="exact")
        out[name] = fit_power_law(ev, FIT).alpha if np.sum(ev > 0) >= FIT[0] + 4 else None
    return out


def propagation(quick: bool) -> dict[str, Any] | None:
    path = Path(__file__).with_name("analysis_propagation.py")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("analysis_propagation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.run(quick)


def _diff(a: dict[str, float | None], b: dict[str, float | None]) -> float | None:
    d = [abs(x - b[n]) for n, x in a.items() if x is not None and b.get(n) is not None]
    return float(max(d)) if d else None


def run(quick: bool, model_name: str = "E3", n_inputs: int = 3000, rounds: int = 3,
        threads: int = 1, components: int | None = None) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from eegmi.analysis.eigenspectrum import RANDOMIZED_MIN_COMPONENTS

    torch.set_num_threads(threads)
    max_dim = 2000 if quick else 8000
    rounds = 1 if quick else rounds
    k = components or max(2 * FIT[1], RANDOMIZED_MIN_COMPONENTS)
    model, batches, names, described = setup(model_name, n_inputs)
    times: dict[str, list[float]] = {"eegmi": [], "sklearn": []}
    with threadpool_limits(threads):
        for _ in range(rounds):
            t0 = time.perf_counter()
            res = ours(model, batches, names, max_dim)
            times["eegmi"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = baseline(model, batches, names, max_dim, k)
            times["sklearn"].append(time.perf_counter() - t0)
        exact = exact_alphas(model, batches, names, max_dim)
    got = res.alphas()
    med = {k_: statistics.median(v) for k_, v in times.items()}
    result: dict[str, Any] = {
        "benchmark": "analysis.eigenspectrum", "quick": quick, "model": model_name,
        "inputs": described, "layers": names, "threads": threads, "rounds": rounds,
        "max_dim": max_dim, "baseline_components": k, "load_average": list(os.getloadavg()),
        "eegmi_s": {"min": round(min(times["eegmi"]), 3), "median": round(med["eegmi"], 3)},
        "sklearn_s": {"min": round(min(times["sklearn"]), 3),
                      "median": round(med["sklearn"], 3)},
        "ratio_sklearn_over_eegmi": round(med["sklearn"] / med["eegmi"], 3),
        "routes": {n: es.solver for n, es in res.spectra.items()},
        "alpha": got, "alpha_exact_float64": exact, "alpha_sklearn": ref,
        "max_abs_alpha_diff_vs_exact": _diff(got, exact),
        "max_abs_alpha_diff_vs_sklearn": _diff(got, ref),
    }
    prop = propagation(quick)
    if prop is not None:
        result["propagation"] = prop
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one round, at most 2000 dimensions per layer")
    parser.add_argument("--model", default="E3", help="bundled model name or checkpoint")
    parser.add_argument("--inputs", type=int, default=3000, help="held-out inputs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--baseline-components", type=int, default=None,
                        help="components of the sklearn PCA (default: as many as eegmi's "
                             "randomized route computes)")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    print(json.dumps(run(args.quick, args.model, args.inputs, args.rounds, args.threads,
                         args.baseline_components)))


if __name__ == "__main__":
    main()
