"""Recipes ``propagation`` and ``pick_compare``: signal propagation with its pick &
interpolate report, and pick & interpolate across models (Qt-free).

``propagation`` is what the Propagation panel's Run button and ``eegmi analyze
propagation`` run: the one-hot sweep (:func:`eegmi.analysis.propagation.propagation`),
optionally the linearity fit on dataset frames and the pick & interpolate test of the
model with its controls.  ``pick_compare`` is the across-models table (the panel's
"Run across E1–E5", ``eegmi analyze pick-interpolate MODEL...``).

Both score a model's pick & interpolate through :func:`model_pick`, with the inputs
chosen by one rule (:func:`resolve_pick`), so a model gets the same numbers in the
single-model report and in the table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from eegmi.analysis.inputs import model_data_source, scaled_frames
from eegmi.analysis.options_json import known_fields
from eegmi.analysis.pick_options import PickInterpolateOptions
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.recipes.base import Recipe, RecipeContext, register

#: the pick & interpolate figures of a summary (keys of ``NetworkScore.row()``)
PICK_KEYS = ("pick_r2", "interpolate", "alignment", "axis_alignment", "reconstruction_r2")
UNITS = ("channel", "neuron")


def _number(v: Any) -> float | int | None:
    """A JSON-able number: non-finite floats become None."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    f = float(v)
    return f if math.isfinite(f) else None


def _int_at_least(name: str, v: Any, low: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise ConfigError(f"propagation options: {name} must be an integer >= {low}, got {v!r}")


@dataclass(frozen=True)
class PropagationOptions:
    """Everything that decides a propagation result (panel, CLI and rerun share it).

    Attributes
    ----------
    amplitudes
        One-hot amplitudes swept (scaled units; 1.0 is the paper's one-hot).
    threshold
        A unit responds to an electrode above this fraction of its peak.
    unit
        ``"channel"`` (conv channels are the units) or ``"neuron"``.
    batch_size
        One-hot rows per forward pass.
    linearity_inputs
        Inputs of the per-layer linearity fit; 0 skips it.  Dataset frames (a seeded
        random subset) when the data has at least ``2 (n + 1)`` and this many frames,
        else uniform random mixes.
    seed
        Seed of the frame subset and of the random mixes.
    pick
        The pick & interpolate test (None skips it).
    """

    amplitudes: tuple[float, ...] = (1.0,)
    threshold: float = 0.5
    unit: str = "channel"
    batch_size: int = 512
    linearity_inputs: int = 256
    seed: int = 0
    pick: PickInterpolateOptions | None = field(default_factory=PickInterpolateOptions)

    def __post_init__(self) -> None:
        if not self.amplitudes:
            raise ConfigError("propagation options: at least one amplitude")
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)
                   for a in self.amplitudes):
            raise ConfigError(f"propagation options: amplitudes must be finite numbers, "
                              f"got {list(self.amplitudes)!r}")
        if not isinstance(self.threshold, (int, float)) or not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"propagation options: threshold must be in (0, 1], "
                              f"got {self.threshold!r}")
        if self.unit not in UNITS:
            raise ConfigError(f"propagation options: unit must be one of {', '.join(UNITS)}, "
                              f"got {self.unit!r}")
        _int_at_least("batch_size", self.batch_size, 1)
        _int_at_least("linearity_inputs", self.linearity_inputs, 0)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"propagation options: seed must be an integer, got {self.seed!r}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["amplitudes"] = [float(a) for a in self.amplitudes]
        d["pick"] = None if self.pick is None else self.pick.to_json()
        return d

    @classmethod
    def from_json(cls, d: Any) -> PropagationOptions:
        """The options of ``to_json()`` output; unknown keys or bad values -> ConfigError."""
        fields = known_fields(cls, d, "propagation")
        if "amplitudes" in fields:
            amps = fields["amplitudes"]
            if not isinstance(amps, list):
                raise ConfigError(f"propagation options: amplitudes must be a list, got {amps!r}")
            fields["amplitudes"] = tuple(amps)
        if fields.get("pick") is not None:
            fields["pick"] = PickInterpolateOptions.from_json(fields["pick"])
        return cls(**fields)


@dataclass(frozen=True)
class PickCompareOptions:
    """Pick & interpolate across models, the same options for every one.

    Attributes
    ----------
    models
        Bundled names or checkpoint folders; empty: every bundled model (E1..E5).
    pick
        The test's options (inputs, folds, controls).
    """

    models: tuple[str, ...] = ()
    pick: PickInterpolateOptions = field(default_factory=PickInterpolateOptions)

    def to_json(self) -> dict[str, Any]:
        return {"models": list(self.models), "pick": self.pick.to_json()}

    @classmethod
    def from_json(cls, d: Any) -> PickCompareOptions:
        """The options of ``to_json()`` output; unknown keys or bad values -> ConfigError."""
        fields = known_fields(cls, d, "pick & interpolate comparison")
        models = fields.get("models", [])
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise ConfigError(f"comparison options: models must be a list of names, got {models!r}")
        fields["models"] = tuple(models)
        if "pick" in fields:
            fields["pick"] = PickInterpolateOptions.from_json(fields["pick"])
        return cls(**fields)


@dataclass
class PropagationRun:
    """What the ``propagation`` recipe returns.

    Attributes
    ----------
    propagation
        :class:`eegmi.analysis.propagation.PropagationResult`.
    linearity
        :class:`eegmi.analysis.linearity.LinearityResult` or None when skipped.
    pick
        :class:`eegmi.analysis.pick_interpolate.PickInterpolateResult`, or None when
        skipped or the model has no latent/``out`` hook points.
    pick_note
        Why ``pick`` is None (empty when it is not).
    """

    propagation: Any
    linearity: Any = None
    pick: Any = None
    pick_note: str = ""


# ---------------------------------------------------------------- shared pieces
def resolve_pick(loaded: Any, options: PickInterpolateOptions,
                 data: str | None) -> PickInterpolateOptions:
    """The pick & interpolate options for ``loaded`` when the user works on ``data``.

    One rule for the single-model report and the across-models table: held-out frames
    of a model trained on the embedded set come from that set (its validation split);
    for any other model they come from the user's dataset ``data`` (a card naming a
    file never chooses what is read; when ``data`` is that file, its validation split
    is used).  Options that already name their data, or random mixes, are kept.
    """
    if options.inputs.kind != "heldout" or options.inputs.data or not data:
        return options
    if model_data_source(loaded) == "synthetic":
        return options
    return options.with_data(data)


def model_pick(loaded: Any, options: PickInterpolateOptions, data: str | None,
               label: str | None = None, latent_matrix: Any = None,
               cancel: CancelToken | None = None) -> Job[Any]:
    """The pick & interpolate test of one model on the inputs :func:`resolve_pick` picks.

    ``latent_matrix`` ``(n, d)``: the one-hot latent responses when a propagation has
    them already (the same numbers the test would compute).
    """
    from eegmi.analysis.pick_interpolate import pick_interpolate

    return (yield from pick_interpolate(loaded, resolve_pick(loaded, options, data),
                                        latent_matrix=latent_matrix, label=label, cancel=cancel))


def recipe_frames(context: RecipeContext, count: int, seed: int = 0,
                  spread: str = "random") -> Any:
    """``(m, n)`` scaled frames of the context's dataset, or None without one.

    The dataset is the caller's loaded ``EEGData`` (``context.extra["eegdata"]``, the
    GUI's) or ``context.data`` loaded here (a rerun); frames are scaled by the model's
    scaler, or by one fitted on the data when the model has none (as the GUI does).
    """
    loaded = context.loaded
    data = context.extra.get("eegdata")
    if data is None and context.data:
        from eegmi.data.loaders import load_dataset

        data = load_dataset(context.data, montage=loaded.operator.montage)
    if data is None or int(data.values.shape[0]) == 0:
        return None
    scaler = getattr(loaded, "scaler", None)
    if scaler is None:
        import numpy as np

        from eegmi.data.preprocess import ClipScaler

        scaler = ClipScaler.fit(np.asarray(data.values))
    return scaled_frames(data, scaler, count, seed, spread)


def _label(context: RecipeContext) -> str:
    return str(getattr(context.loaded, "name", "") or context.model or "model")


# ---------------------------------------------------------------- propagation
def run_propagation(options: PropagationOptions, context: RecipeContext,
                    cancel: CancelToken | None = None) -> Job[PropagationRun]:
    """Propagation sweep, linearity and pick & interpolate of ``context.loaded``."""
    from eegmi.analysis.linearity import linearity
    from eegmi.analysis.propagation import propagation
    from eegmi.models.adapter import adapt

    if context.loaded is None:
        raise ConfigError("propagation needs a model")
    adapter = adapt(context.loaded)
    model = adapter.model
    prop = yield from propagation(model, adapter, options.amplitudes, threshold=options.threshold,
                                  batch_size=options.batch_size, unit=options.unit, cancel=cancel)
    run = PropagationRun(prop)
    if options.linearity_inputs > 0:
        k = options.linearity_inputs
        frames = recipe_frames(context, k, options.seed)
        # the fit needs 2(n+1) inputs; small recordings fall back to random mixes
        if frames is not None and frames.shape[0] < max(k, 2 * (adapter.n_electrodes + 1)):
            frames = None
        run.linearity = yield from linearity(model, adapter, frames=frames, n_inputs=k,
                                             seed=options.seed, cancel=cancel)
    hooks = set(adapter.hook_names())
    if options.pick is None:
        run.pick_note = "pick & interpolate: not asked for"
    elif "out" not in hooks or not ({"latent.mu", "latent.z"} & hooks):
        run.pick_note = "pick & interpolate: model has no latent/out hook points"
    else:
        run.pick = yield from model_pick(context.loaded, options.pick, context.data,
                                         label=_label(context), latent_matrix=prop.latent_matrix,
                                         cancel=cancel)
    return run


def layer_rows(run: PropagationRun) -> list[dict[str, Any]]:
    """Per layer: the propagation summary plus the linearity R² (None when not fitted)."""
    rows = run.propagation.layer_summary()
    r2 = {} if run.linearity is None else run.linearity.r2
    for r in rows:
        r["linearity_r2"] = r2.get(r["layer"])
    return rows


def pick_summary(res: Any) -> dict[str, Any]:
    """The numbers a user reads off one pick & interpolate result (model and controls)."""
    row = res.model.row()
    return {
        "model": res.label, "kind": res.row()["kind"], "inputs": res.inputs["description"],
        "n_inputs": int(res.inputs["n"]),
        **{k: _number(row[k]) for k in PICK_KEYS},
        "shared_dims": int(row["shared_dims"]), "headline_passed": bool(res.model.headline_passed),
        "controls": {c.role: {k: _number(c.row()[k]) for k in PICK_KEYS} for c in res.controls},
    }


def propagation_summary(run: PropagationRun) -> dict[str, Any]:
    """Per-layer summary, the latent hook and the pick & interpolate figures."""
    layers = [{k: (_number(v) if not isinstance(v, str) else v) for k, v in r.items()}
              for r in layer_rows(run)]
    prop = run.propagation
    return {"layers": layers, "latent": prop.latent_name,
            "pick": None if run.pick is None else pick_summary(run.pick),
            "pick_note": run.pick_note}


PROPAGATION = register(Recipe("propagation", PropagationOptions, run_propagation,
                              propagation_summary))


# ---------------------------------------------------------------- across models
def run_pick_compare(options: PickCompareOptions, context: RecipeContext,
                     cancel: CancelToken | None = None) -> Job[list[Any]]:
    """Pick & interpolate of every model in ``options.models`` (each loaded here)."""
    from eegmi.training.catalog import bundled_names
    from eegmi.training.checkpoint import load_checkpoint

    names = list(options.models) or bundled_names()
    if not names:
        raise ConfigError("no models to compare (no bundled models found)")
    results = []
    for i, name in enumerate(names):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield Progress(i, len(names), f"loading {name}")
        loaded = load_checkpoint(name, device=context.device)
        res = yield from model_pick(loaded, options.pick, context.data,
                                    label=str(getattr(loaded, "name", "") or name), cancel=cancel)
        results.append(res)
        yield Progress(i + 1, len(names), f"{res.label}: interpolate {res.model.interpolate:.3f}")
    return results


def compare_summary(results: list[Any]) -> dict[str, Any]:
    """One :func:`pick_summary` per model, in order."""
    return {"models": [pick_summary(r) for r in results]}


PICK_COMPARE = register(Recipe("pick_compare", PickCompareOptions, run_pick_compare,
                               compare_summary, needs_model=False))
