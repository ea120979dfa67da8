"""``eegmi analyze eigenspectrum``: per-layer spectra with their null, the input's, and warnings.

Bounded memory over DEAP-sized data: the inputs are held as electrode vectors and made
into images batch by batch on every pass (``analysis.activations.LazyBatches``); each
layer holds at most twice its kept dimensions of rows, then a float64 covariance,
packed into passes of ``--memory-mb``.  The vectors themselves are capped too: at most
``--memory-mb`` of them (``2 x 4 x n`` bytes each, the drawn rows and their scaled
copy), a uniform random draw, so ``--max-inputs`` beyond that is cut and the output says
so (a note on stderr; ``frames_used``, ``frames_available``, ``capped`` in the JSON).
An ``--activations`` matrix is read as a memory map, a batch at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.analysis.powerlaw import SEED_FIT_RANGE, FitPolicy
from eegmi.analysis.spectra_options import CONVENTION, SpectraOptions
from eegmi.cli.analyze_common import _device, _load_models, _nested, model_options
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import run_with_bar

DEFAULTS = SpectraOptions()

EPILOG = (f"Sign convention: {CONVENTION}.  Every layer is reported next to the same layer of "
          f"--null-seeds untrained networks of the same architecture on the same inputs (mean ± "
          f"sd) and next to the input's own alpha; each layer lists warnings when the fit window "
          f"reaches past the layer's effective rank, fits fewer than "
          f"{DEFAULTS.fit.warn_points} points or has r2 < {DEFAULTS.fit.warn_r2:g}.")


def register_eigenspectrum(sub: Any) -> None:
    """Add the ``eigenspectrum`` sub-command."""
    p = sub.add_parser(
        "eigenspectrum", help="PCA eigenspectrum and power-law exponent per layer, with controls",
        description="Eigenspectrum of activation covariance per layer (dimensions sub-sampled "
                    "to at most --max-dim, at most --max-components components) and the "
                    "decay exponent alpha (eigenvalue ∝ k^-alpha, alpha > 0) of a Huber fit "
                    "over components --fit-range (seed 001).", epilog=EPILOG)
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="bundled model name (E1..E5) or checkpoint folder; several compare")
    p.add_argument("--activations", metavar="X.npy", default=None,
                   help="analyse this (samples, features) matrix instead of a model")
    p.add_argument("--inputs", choices=("heldout", "random"), default=DEFAULTS.inputs,
                   help="held-out dataset frames (default) or i.i.d. random mixes")
    p.add_argument("--data", default=DEFAULTS.data,
                   help="dataset of the held-out frames (default: the model's own training "
                        "source, its validation split)")
    p.add_argument("--max-inputs", type=int, default=DEFAULTS.count,
                   help=f"inputs analysed (default {DEFAULTS.count})")
    p.add_argument("--max-dim", type=int, default=DEFAULTS.max_dim,
                   help=f"dimension cap (default {DEFAULTS.max_dim})")
    p.add_argument("--max-components", type=int, default=DEFAULTS.max_components,
                   help=f"default {DEFAULTS.max_components}")
    p.add_argument("--fit-range", nargs="+", default=None, metavar="RANGE",
                   help=f"FIRST LAST: 1-based component ranks of the fit, inclusive (default "
                        f"{SEED_FIT_RANGE[0]} {SEED_FIT_RANGE[1]}, the seed's), or 'auto': "
                        f"the seed's window ended below each layer's effective rank")
    p.add_argument("--null-seeds", type=int, default=DEFAULTS.null_seeds,
                   help=f"untrained networks of the same architecture in the null "
                        f"(default {DEFAULTS.null_seeds}; 0: none)")
    p.add_argument("--memory-mb", type=int, default=DEFAULTS.memory_mb,
                   help=f"memory for held activations per data pass (default {DEFAULTS.memory_mb})")
    model_options(p)
    for action in p._actions:
        if action.dest == "layers":
            action.help = ("hook names to analyse, or 'all' (default: activations, latent mean "
                           "and output)")
    p.set_defaults(func=run_eigenspectrum, seed=DEFAULTS.seed, batch_size=DEFAULTS.batch_size)


def parse_fit_range(values: list[str] | None) -> tuple[int, int] | str:
    """``None`` -> the seed's window; ``["auto"]``; ``["10", "50"]`` -> ``(10, 50)``."""
    if values is None:
        return SEED_FIT_RANGE
    if values == ["auto"]:
        return "auto"
    if len(values) != 2:
        raise ConfigError(f"--fit-range takes FIRST LAST or 'auto', got {' '.join(values)}")
    try:
        return int(values[0]), int(values[1])
    except ValueError:
        raise ConfigError(f"--fit-range takes FIRST LAST or 'auto', got {' '.join(values)}") \
            from None


def options_from_args(args: argparse.Namespace) -> SpectraOptions:
    layers: tuple[str, ...] | str | None = None
    if args.layers == ["all"]:
        layers = "all"
    elif args.layers:
        layers = tuple(args.layers)
    # the panel's projection trajectories are not printed here (``eegmi analyze
    # projections`` computes them with its own options): 0 projections
    return SpectraOptions(
        inputs=args.inputs, count=args.max_inputs, seed=args.seed, data=args.data,
        layers=layers, max_dim=args.max_dim, max_components=args.max_components,
        fit=FitPolicy(fit_range=parse_fit_range(args.fit_range)), null_seeds=args.null_seeds,
        batch_size=args.batch_size, memory_mb=args.memory_mb, projections=0)


def run_eigenspectrum(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.analysis.eigenspectrum import eigenspectrum

    if bool(args.models) == bool(args.activations):
        raise ConfigError("give either MODEL(s) or --activations X.npy")
    if args.max_inputs < 2:
        raise ConfigError(f"--max-inputs must be at least 2, got {args.max_inputs}")
    opts = options_from_args(args)
    cap = max_inputs_for(opts.memory_mb)
    capped = not args.activations and opts.count > cap
    if capped:
        from dataclasses import replace

        opts = replace(opts, count=cap)
    as_json = bool(getattr(args, "json", False))
    if args.activations:
        path = Path(args.activations)
        x = _load_matrix(path)
        es = eigenspectrum(x, max_dim=opts.max_dim, max_components=opts.max_components,
                           fit_range=opts.fit, seed=opts.seed, path=path)
        _warn({path.stem: es.warnings})
        spectra: dict[str, Any] = {path.stem: {path.stem: es}}
        result: dict[str, Any] = {"activations": str(path), "alpha": es.alpha,
                                  "r2": es.fit.r2 if es.fit else None,
                                  "effective_rank": es.effective_rank, "warnings": es.warnings,
                                  "convention": CONVENTION,
                                  "layers": {path.stem: es.to_json()}}
        if args.out:
            from eegmi.cli.spectra_figures import write_spectra

            result["out"] = str(write_spectra(Path(args.out), spectra, result))
        return result
    reports = _model_reports(args, opts, warn=as_json)
    sampling = {lab: _sampling(r.inputs, args.max_inputs, capped, opts.memory_mb)
                for lab, r in reports.items()}
    for lab, info in sampling.items():
        if info["capped"]:
            sys.stderr.write(f"eegmi: note: {lab}: {info['frames_used']} of "
                             f"{info['frames_requested']} requested inputs used (--memory-mb "
                             f"{opts.memory_mb} holds {cap}; a uniform random draw)\n")

    result = _nested({lab: {**r.to_json(), **sampling[lab]} for lab, r in reports.items()})
    if args.out:
        from eegmi.cli.spectra_figures import write_reports

        result["out"] = str(write_reports(Path(args.out), reports, result))
    if as_json:
        return result
    for lab, r in reports.items():
        sys.stdout.write("\n".join(_table(r)) + "\n")
        info = sampling[lab]
        sys.stdout.write(f"inputs: {info['frames_used']} used of {info['frames_available']} "
                         f"available{' (capped by --memory-mb)' if info['capped'] else ''}\n")
    return {"out": result["out"]} if "out" in result else {}


def max_inputs_for(memory_mb: int, n_electrodes: int = 32) -> int:
    """Inputs whose electrode vectors fit ``memory_mb`` (drawn rows + scaled copy)."""
    return max(2, (int(memory_mb) << 20) // (2 * 4 * n_electrodes))


def _sampling(inputs: dict[str, Any], requested: int, capped: bool, memory_mb: int
              ) -> dict[str, Any]:
    used = int(inputs.get("n", 0))
    available = inputs.get("available")
    return {"frames_requested": int(requested), "frames_used": used,
            "frames_available": int(available) if available is not None else None,
            "capped": bool(capped and used < int(requested)), "memory_mb": int(memory_mb)}


def _table(report: Any) -> list[str]:
    from eegmi.analysis.spectra import report_table

    return report_table(report)


def _warn(warnings: dict[str, list[str]]) -> None:
    for where, ws in warnings.items():
        for w in ws:
            sys.stderr.write(f"eegmi: warning: {where}: {w}\n")


def _model_reports(args: argparse.Namespace, opts: SpectraOptions, warn: bool
                   ) -> dict[str, Any]:
    """Each model's report; ``warn``: also each fit warning on stderr (the JSON mode, whose
    stdout holds only JSON; the text table lists them itself)."""
    from eegmi.recipes.base import RecipeContext
    from eegmi.recipes.spectra import SPECTRA

    device = _device(args.device)
    reports: dict[str, Any] = {}
    for label, loaded in _load_models(args.models, device).items():
        # the panel's recipe, one model at a time: each model gets its own null
        context = RecipeContext(model=label, loaded=loaded, data=opts.data, device=device,
                                extra={"label": label})
        rep = run_with_bar(SPECTRA.run(opts, context, None),
                           f"eigenspectrum {label}").report
        if warn:
            _warn({f"{label} {n}": es.warnings for n, es in rep.spectra.items()})
            _warn({f"{label} input": rep.input.warnings})
        reports[label] = rep
    return reports


def _load_matrix(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"not a readable .npy array ({exc})", path) from None
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise DataError(f"expected a 2-D (samples, features) array, got shape "
                        f"{getattr(x, 'shape', None)}", path)
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"expected a numeric array, got dtype {x.dtype}", path)
    return x
