"""Per-layer eigenspectra of a paper-size ConvVAE: streamed covariance versus sklearn PCA.

On the same inputs (``--inputs`` topomaps, 10 000 by default; spatially
correlated random electrode vectors rendered through the biosemi32 40x40 cubic
operator) and the same model (paper-size ``ConvVAE(ModelConfig())``; a bundled
model by name with ``--model``, untrained with a fixed seed otherwise), every
hook point's spectrum is computed two ways, each with dimensions sub-sampled to
at most 8000 (1000 with ``--quick``) and at most 1000 components:

- ``ours``: :func:`eegmi.analysis.activations.layer_spectra` (streamed float64
  covariance per layer, memory-budgeted passes, exact or randomized eigensolver);
- ``sklearn``: the obvious baseline and the seed's recipe: collect each layer's
  activation matrix (in passes under the same memory budget), fit
  ``PCA(n_components, svd_solver="randomized")`` in float64 and a
  ``HuberRegressor`` over components 10-50.

Prints one JSON object (last line) with both wall times, the ratio
``sklearn_s / ours_s``, the largest memory each holds at once, and the largest
|alpha difference| between the two.  When ``benchmarks/analysis_propagation.py``
exists its ``run(quick)`` result is included under ``"propagation"``.

All CPU work runs on ``--threads`` threads (default 1; BLAS via threadpoolctl
and torch), so timings compare like with like on a shared machine.

Usage: ``python benchmarks/analysis.py [--quick] [--inputs 10000] [--threads 1]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

FIT = (10, 50)


def make_inputs(n: int, seed: int = 0) -> torch.Tensor:
    """``(n, 1, 40, 40)`` topomaps of spatially smooth random electrode vectors in [0, 1]."""
    from eegmi.data.topomap import get_operator

    op = get_operator("biosemi32", 40, "cubic")
    xy = np.asarray(op.electrode_xy, dtype=np.float64)
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2 * 6.0**2)) + 1e-3 * np.eye(len(xy))
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, len(xy))) @ np.linalg.cholesky(kernel).T
    v = (v - v.min()) / (v.max() - v.min())
    return torch.from_numpy(np.asarray(op.render(v.astype(np.float32)))[:, None])


def build(model_name: str | None) -> tuple[Any, str]:
    if model_name:
        from eegmi.training.checkpoint import load_checkpoint

        loaded = load_checkpoint(model_name)
        return loaded.model, loaded.name
    from eegmi.models import ModelConfig, build_model

    torch.manual_seed(0)
    return build_model(ModelConfig()).eval(), "untrained ConvVAE(ModelConfig())"


def baseline(model: Any, batches: list[torch.Tensor], names: list[str], max_dim: int,
             max_components: int, budget: int) -> tuple[dict[str, float | None], int]:
    """The seed's recipe per layer: sklearn randomized PCA + HuberRegressor on log-log."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import HuberRegressor

    from eegmi.analysis.activations import collect_activations, layer_sizes
    from eegmi.analysis.eigenspectrum import subsample_stride
    from eegmi.jobs import run_job

    n = sum(len(b) for b in batches)
    sizes = layer_sizes(model, batches, names)
    kept = {k: len(range(0, m, subsample_stride(m, max_dim))) for k, m in sizes.items()}
    groups: list[list[str]] = []
    used = budget + 1
    for name in names:
        need = 4 * n * kept[name]
        if used + need > budget:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += need
    alphas: dict[str, float | None] = {}
    peak = 0
    for group in groups:
        acts = run_job(collect_activations(model, batches, group, max_dim=max_dim))
        peak = max(peak, sum(a.nbytes for a in acts.values()))
        for name in group:
            # float64 like ours: float32 PCA cannot resolve components 10-50 of steep spectra
            x = acts.pop(name).astype(np.float64)
            peak = max(peak, sum(a.nbytes for a in acts.values()) + x.nbytes)
            k = min(max_components, x.shape[0] - 1, x.shape[1])
            ev = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x)
            ev = ev.explained_variance_
            ranks = np.arange(FIT[0], min(FIT[1], ev.size) + 1)
            ranks = ranks[ev[ranks - 1] > ev.max() * 1e-12]
            if ranks.size < 5:
                alphas[name] = None
                continue
            h = HuberRegressor(max_iter=1000).fit(np.log(ranks)[:, None], np.log(ev[ranks - 1]))
            alphas[name] = -float(h.coef_[0])  # eigenvalue ∝ k^-alpha
    return alphas, peak


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


def run(quick: bool, inputs: int | None = None, threads: int = 1, model_name: str | None = None,
        budget_mb: int = 1024) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from eegmi.analysis.activations import as_batches, layer_spectra
    from eegmi.analysis.eigenspectrum import CovarianceAccumulator
    from eegmi.jobs import run_job

    torch.set_num_threads(threads)
    n = inputs or (2000 if quick else 10000)
    # --quick also caps layers at 1000 dimensions so it finishes in a minute or so
    max_dim, max_components = (1000 if quick else 8000), 1000
    budget = budget_mb << 20
    model, label = build(model_name)
    batches = as_batches(make_inputs(n), 256)
    names = list(model.hook_names())
    with threadpool_limits(threads):
        t0 = time.perf_counter()
        ours = run_job(layer_spectra(model, batches, names, max_dim=max_dim,
                                     max_components=max_components, memory_budget=budget))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref, ref_peak = baseline(model, batches, names, max_dim, max_components, budget)
        t_ref = time.perf_counter() - t0
    layers = {}
    diffs = []
    for name, es in ours.spectra.items():
        a, b = es.alpha, ref[name]
        if a is not None and b is not None:
            diffs.append(abs(a - b))
        layers[name] = {"dims": es.n_features, "kept": es.n_kept, "solver": es.solver,
                        "eig": es.extra.get("eig"),
                        "alpha": a, "alpha_sklearn": b}
    acc_bytes = max(CovarianceAccumulator.nbytes(es.n_kept) for es in ours.spectra.values())
    result: dict[str, Any] = {
        "benchmark": "analysis.eigenspectrum", "quick": quick, "model": label, "inputs": n,
        "threads": threads, "layers_analysed": len(layers), "memory_budget_mb": budget_mb,
        "max_dim": max_dim, "max_components": max_components,
        "ours_s": round(t_ours, 3), "sklearn_s": round(t_ref, 3),
        "ratio_sklearn_over_ours": round(t_ref / t_ours, 3),
        "ours_largest_accumulator_mb": round(acc_bytes / 2**20, 1),
        "sklearn_peak_activations_mb": round(ref_peak / 2**20, 1),
        "max_abs_alpha_diff": round(max(diffs), 5) if diffs else None,
        "layers": layers,
    }
    prop = propagation(quick)
    if prop is not None:
        result["propagation"] = prop
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2000 inputs and at most 1000 dimensions per layer")
    parser.add_argument("--inputs", type=int, default=None, help="number of input topomaps")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--model", default=None, help="bundled model name or checkpoint")
    parser.add_argument("--memory-mb", type=int, default=1024, help="memory budget per pass")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.inputs, args.threads, args.model, args.memory_mb)))


if __name__ == "__main__":
    main()
