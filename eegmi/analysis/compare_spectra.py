"""The eigenspectrum analysis of two models on the same inputs (a job, Qt-free).

Both models see exactly the same scaled electrode vectors (drawn once, for model
A, by :func:`eegmi.analysis.inputs.analysis_inputs`), so a difference of α at a
matched layer is a difference of the networks, not of their inputs. The job
also collects both latent codes of those inputs and their canonical
correlations (:func:`eegmi.analysis.compare.canonical_correlations`): a
comparison of the latents that does not depend on either model's latent basis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from eegmi.analysis.compare import (
    COMPARE_SPECTRA,
    LayerMatching,
    canonical_correlations,
    match_layers,
)
from eegmi.analysis.spectra_options import SpectraOptions
from eegmi.errors import DataError
from eegmi.jobs import CancelToken, Job, Progress, scaled_progress


@dataclass
class SpectraComparison:
    """α per layer of two models on the same inputs, and their latents' canonical correlations.

    Attributes
    ----------
    label_a, label_b
        The models' labels.
    report_a, report_b
        Their :class:`eegmi.analysis.spectra.SpectraReport`.
    matching
        Pairing of their depth layers (:func:`match_layers`).
    cca : (k,)
        Canonical correlations of the two latent codes over the inputs, descending.
    inputs
        Description of the input set; ``n_inputs`` its size.
    options
        The spectra options both models ran with.
    """

    label_a: str
    label_b: str
    report_a: Any
    report_b: Any
    matching: LayerMatching
    cca: np.ndarray
    inputs: str
    n_inputs: int
    options: SpectraOptions

    def alpha_rows(self) -> list[tuple[str | None, str | None, float | None, float | None]]:
        """``(layer A, layer B, α_A, α_B)`` per matched pair (None: no layer or no fit)."""
        al_a, al_b = self.report_a.alphas(), self.report_b.alphas()
        return [(na, nb, None if na is None else _num(al_a.get(na)),
                 None if nb is None else _num(al_b.get(nb))) for na, nb in self.matching.pairs]

    def to_json(self) -> dict[str, Any]:
        return {"a": self.label_a, "b": self.label_b, "inputs": self.inputs,
                "n_inputs": self.n_inputs, "rule": self.matching.rule,
                "alpha": [{"a": na, "b": nb, "alpha_a": x, "alpha_b": y,
                           "difference": None if x is None or y is None else x - y}
                          for na, nb, x, y in self.alpha_rows()],
                "cca": [float(v) for v in self.cca]}


def _num(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def latent_codes(loaded: Any, values: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The latent hook's value ``(N, d)`` for scaled electrode vectors ``values (N, n)``."""
    from eegmi.analysis.spectra import model_batches
    from eegmi.models.adapter import adapt

    adapter = adapt(loaded)
    hook = adapter.latent_hook
    out = []
    with torch.no_grad():
        for batch in model_batches(loaded, values, batch_size):
            with adapter.capture([hook]) as cache:
                loaded.model(batch)
            out.append(cache[hook].float().cpu().numpy().reshape(batch.shape[0], -1))
    return np.concatenate(out, axis=0)


def compare_spectra(loaded_a: Any, loaded_b: Any, options: SpectraOptions = COMPARE_SPECTRA,
                    label_a: str = "A", label_b: str = "B",
                    cancel: CancelToken | None = None) -> Job[SpectraComparison]:
    """Spectra of both models' depth layers on the same inputs, and their latents' CCA.

    Parameters
    ----------
    loaded_a, loaded_b
        ``LoadedModel`` objects with the same electrodes; A's inputs are used for both.
    options
        Spectra options (the null, if any, is computed for A only).

    Raises
    ------
    DataError
        The models have different electrodes (no input is the same for both).
    """
    from eegmi.analysis.inputs import analysis_inputs
    from eegmi.analysis.spectra import model_spectra
    from eegmi.models.adapter import adapt

    names_a = tuple(loaded_a.operator.montage.ch_names)
    names_b = tuple(loaded_b.operator.montage.ch_names)
    if names_a != names_b:
        raise DataError(f"{label_b} has other electrodes ({len(names_b)}) than {label_a} "
                        f"({len(names_a)}): no input is the same for both")
    yield Progress(0, 1, "drawing the inputs")
    inputs = analysis_inputs(loaded_a, options.input_spec())
    rep_a = yield from scaled_progress(
        model_spectra(loaded_a, options, input_set=inputs, label=label_a, cancel=cancel),
        0.0, 0.45, label_a)
    rep_b = yield from scaled_progress(
        model_spectra(loaded_b, replace(options, null_seeds=0), input_set=inputs, label=label_b,
                      cancel=cancel), 0.45, 0.9, label_b)
    yield Progress(0.9, 1, "latent codes")
    if cancel is not None:
        cancel.raise_if_cancelled()
    za = latent_codes(loaded_a, inputs.values, options.batch_size)
    zb = latent_codes(loaded_b, inputs.values, options.batch_size)
    cca = canonical_correlations(za, zb)
    lat_a, lat_b = adapt(loaded_a).latent_hook, adapt(loaded_b).latent_hook
    matching = match_layers(list(rep_a.spectra), list(rep_b.spectra), lat_a, lat_b)
    yield Progress(1, 1, "done")
    return SpectraComparison(label_a, label_b, rep_a, rep_b, matching, cca,
                             inputs.description, int(inputs.values.shape[0]), options)


__all__ = ["COMPARE_SPECTRA", "SpectraComparison", "compare_spectra", "latent_codes"]
