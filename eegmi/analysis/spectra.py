"""Per-layer eigenspectra of a loaded model with their controls, as the CLI and GUI show them.

An exponent alone says little: a randomly initialised network of the same shape,
fed the same inputs, already has a steep spectrum, and the inputs themselves (40x40
topomaps, linear in 32 electrode values) have one.  :func:`model_spectra` therefore
reports, for every layer, the trained model's ``alpha`` next to

- the **null**: ``alpha`` of ``null_seeds`` untrained networks of the same
  architecture (``eegmi.models.build_model(config)`` under ``torch.manual_seed``)
  on the same inputs, as mean ± sd (ddof 1);
- the **input**: ``alpha`` of the model inputs themselves (the images it sees,
  injection included; the electrode vectors of a decoder-only model).

Inputs are the one analysis input set (:func:`eegmi.analysis.inputs.analysis_inputs`,
held-out frames by default).  :class:`~eegmi.analysis.spectra_options.SpectraOptions`
holds the defaults the CLI (``eegmi analyze eigenspectrum``) and the GUI panel share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eegmi.analysis.activations import LayerSpectra, LazyBatches, layer_spectra
from eegmi.analysis.eigenspectrum import Eigenspectrum, eigenspectrum
from eegmi.analysis.inputs import InputSet, analysis_inputs
from eegmi.analysis.spectra_options import (
    CONVENTION,
    SpectraOptions,
    depth_layers,
    layer_names,
)
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress, scaled_progress


@dataclass
class NullAlpha:
    """``alpha`` of one layer over the untrained networks (None where a fit failed)."""

    alphas: list[float | None]
    seeds: list[int]

    @property
    def values(self) -> np.ndarray:
        return np.array([a for a in self.alphas if a is not None], dtype=np.float64)

    @property
    def mean(self) -> float | None:
        v = self.values
        return float(v.mean()) if v.size else None

    @property
    def sd(self) -> float | None:
        v = self.values
        return float(v.std(ddof=1)) if v.size > 1 else None

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "alphas": self.alphas, "seeds": self.seeds}


@dataclass
class SpectraReport:
    """Spectra of one model with their null and the input's spectrum.

    Attributes
    ----------
    label
        Model name.
    trained
        The model's per-layer spectra (depth order).
    null
        ``layer -> NullAlpha`` (empty without null networks).
    null_spectra
        The untrained networks' spectra, one per seed.
    input
        Spectrum of the model inputs.
    inputs
        Provenance of the inputs (:class:`~eegmi.analysis.inputs.InputSet` JSON).
    options
        The options used.
    """

    label: str
    trained: LayerSpectra
    null: dict[str, NullAlpha]
    null_spectra: list[LayerSpectra]
    input: Eigenspectrum
    inputs: dict[str, Any]
    options: SpectraOptions

    @property
    def spectra(self) -> dict[str, Eigenspectrum]:
        return self.trained.spectra

    def alphas(self) -> dict[str, float | None]:
        return self.trained.alphas()

    def to_json(self, spectrum: bool = False) -> dict[str, Any]:
        """Trained spectra (as :meth:`LayerSpectra.to_json`) plus ``null``, ``input``,
        ``inputs``, ``options`` and ``convention``."""
        out = self.trained.to_json(spectrum)
        out["null"] = {n: v.to_json() for n, v in self.null.items()}
        for n, layer in out["layers"].items():
            layer["null"] = out["null"].get(n)
        out["input"] = self.input.to_json(spectrum)
        out["inputs"] = self.inputs
        out["options"] = self.options.to_json()
        out["convention"] = CONVENTION
        return out


def model_batches(loaded: Any, values: np.ndarray, batch_size: int = 256) -> LazyBatches:
    """Model inputs of scaled electrode vectors ``(N, n)``, in batches on the model's device.

    Images ``(B, 1, H, W)`` with the model's injection for a VAE, the vectors
    ``(B, n)`` themselves for a decoder-only model; made per batch on each pass
    (:class:`~eegmi.analysis.activations.LazyBatches`), so only the vectors are held.
    """
    from eegmi.devices import model_device
    from eegmi.models.adapter import adapt

    pipe = adapt(loaded)
    device = model_device(loaded.model)
    vals = np.ascontiguousarray(values, np.float32)

    def make(rows: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return pipe.model_input(torch.from_numpy(rows).to(device)).float()

    return LazyBatches(vals, make, batch_size)


def untrained(loaded: Any, seed: int) -> torch.nn.Module:
    """A network of ``loaded``'s architecture initialised under ``torch.manual_seed(seed)``
    (the global random state is restored afterwards), on the model's device, eval mode."""
    from eegmi.devices import model_device
    from eegmi.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(loaded.config)
    return net.to(model_device(loaded.model)).eval()


def model_spectra(
    loaded: Any,
    options: SpectraOptions | None = None,
    *,
    input_set: InputSet | None = None,
    label: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[SpectraReport]:
    """Spectra of a loaded model's layers, of ``null_seeds`` untrained twins, and of its inputs.

    Parameters
    ----------
    loaded
        A :class:`eegmi.training.checkpoint.LoadedModel`.
    options
        Default :class:`SpectraOptions()`.
    input_set
        Inputs already drawn (else ``analysis_inputs(loaded, options.input_spec())``).
    label, cancel
        Model label (default its name); cancellation token.

    Returns
    -------
    Job[SpectraReport]
    """
    opts = options or SpectraOptions()
    label = label or getattr(loaded, "name", "") or "model"
    inputs = input_set if input_set is not None else analysis_inputs(loaded, opts.input_spec())
    if inputs.values.shape[0] < 2:
        raise ConfigError(f"the spectra need at least 2 inputs, got {inputs.values.shape[0]}")
    model = loaded.model
    from eegmi.models.adapter import adapt

    adapter = adapt(loaded)
    names = layer_names(opts, adapter.hook_names(), adapter.latent_hook)
    batches = model_batches(loaded, inputs.values, opts.batch_size)
    kwargs: dict[str, Any] = dict(max_dim=opts.max_dim, max_components=opts.max_components,
                                  fit_range=opts.fit, memory_budget=opts.memory_mb << 20,
                                  seed=opts.seed, cancel=cancel)
    seeds = opts.null_seed_list()
    steps = 1 + len(seeds)
    trained = yield from scaled_progress(layer_spectra(model, batches, names, label=label, **kwargs),
                                 0.0, 1 / steps, label)
    null_spectra: list[LayerSpectra] = []
    for i, s in enumerate(seeds):
        net = untrained(loaded, s)
        null_spectra.append((yield from scaled_progress(
            layer_spectra(net, batches, names, label=f"untrained seed {s}", **kwargs),
            (i + 1) / steps, (i + 2) / steps, f"untrained seed {s}")))
        del net
    null = {n: NullAlpha([ls.spectra[n].alpha for ls in null_spectra], seeds)
            for n in names} if seeds else {}
    if cancel is not None:
        cancel.raise_if_cancelled()
    yield Progress(1.0, 1.0, "input spectrum")
    # streamed: a sample of at most twice the kept dimensions is held, larger ones fold
    # into the float64 covariance batch by batch (as the layers' accumulators do)
    inp = eigenspectrum((b.reshape(len(b), -1).cpu().numpy() for b in batches),
                        max_dim=opts.max_dim, max_components=opts.max_components,
                        fit_range=opts.fit, seed=opts.seed, strict=False)
    return SpectraReport(label, trained, null, null_spectra, inp, inputs.to_json(), opts)


def fmt_alpha(a: float | None, sd: float | None = None) -> str:
    """``1.23`` / ``1.23 ± 0.04`` / ``-``."""
    if a is None or not math.isfinite(a):
        return "-"
    return f"{a:.2f}" if sd is None else f"{a:.2f} ± {sd:.2f}"


def report_table(report: SpectraReport) -> list[str]:
    """Readable lines: one per layer (alpha, null, input, rank, window, r2) and its warnings."""
    head = (f"{'layer':<12} {'alpha':>6} {'untrained (mean ± sd)':>22} {'rank':>6} "
            f"{'window':>8} {'r2':>5}")
    lines = [f"{report.label}: {report.inputs.get('description', '')}",
             f"input alpha {fmt_alpha(report.input.alpha)} (rank "
             f"{report.input.effective_rank}{'+' if report.input.rank_lower_bound else ''})",
             head]
    for n, es in report.spectra.items():
        nl = report.null.get(n)
        win = "-" if es.fit is None else f"{es.fit.fit_range[0]}-{es.fit.fit_range[1]}"
        rank = f"{es.effective_rank}{'+' if es.rank_lower_bound else ''}"
        lines.append(f"{n:<12} {fmt_alpha(es.alpha):>6} "
                     f"{fmt_alpha(nl.mean if nl else None, nl.sd if nl else None):>22} "
                     f"{rank:>6} {win:>8} {'-' if es.fit is None else f'{es.fit.r2:.2f}':>5}")
        lines.extend(f"    warning: {w}" for w in es.warnings)
    for w in report.input.warnings:
        lines.append(f"    input warning: {w}")
    lines.append(f"convention: {CONVENTION}")
    return lines


__all__ = ["CONVENTION", "NullAlpha", "SpectraOptions", "SpectraReport", "depth_layers",
           "model_spectra", "report_table"]
