"""The one input set every analysis uses by default: held-out dataset frames.

Analyses (pick & interpolate, eigenspectra, saliency sanity checks, ...) must state
what they were computed on, and the CLI, the GUI and the across-models tables must
compute it on the same thing.  The default is **held-out frames**: frames of the
model's *validation* split when the data is the model's own training source (so the
network never saw them and the test split stays reserved for ``eegmi evaluate``), or
frames of any other recording (which the model never saw at all).  I.i.d. uniform
random mixes of electrode values in ``[0, 1]`` are an explicit option (``"random"``),
never a silent fallback.

Frames come back in the model's *scaled* electrode space (its own ``ClipScaler``),
which is what :class:`eegmi.models.adapter.ModelAdapter` feeds the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from eegmi.analysis.options_json import known_fields
from eegmi.errors import ConfigError

InputKind = Literal["heldout", "random"]
INPUT_KINDS: tuple[str, ...] = ("heldout", "random")


@dataclass(frozen=True)
class InputSpec:
    """Which inputs an analysis runs on.

    Attributes
    ----------
    kind
        ``"heldout"`` (dataset frames the model was not trained on) or ``"random"``
        (i.i.d. uniform mixes in ``[0, 1]`` of the scaled electrode values).
    count
        How many inputs (fewer when the held-out set is smaller).
    seed
        Seed of the random subset / the random mixes.
    data
        Dataset spec for ``"heldout"`` (``"synthetic"`` or a path); ``None`` uses the
        model's own training source as recorded in its card.
    """

    kind: InputKind = "heldout"
    count: int = 256
    seed: int = 0
    data: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any) -> InputSpec:
        """The spec of ``to_json()`` output; unknown keys or wrong types -> ConfigError."""
        fields = known_fields(cls, d, "inputs")
        spec = cls(**fields)
        if spec.kind not in INPUT_KINDS:
            raise ConfigError(f"inputs: kind must be one of {', '.join(INPUT_KINDS)}, "
                              f"got {spec.kind!r}")
        if not isinstance(spec.count, int) or isinstance(spec.count, bool) or spec.count < 1:
            raise ConfigError(f"inputs: count must be an integer >= 1, got {spec.count!r}")
        if not isinstance(spec.seed, int) or isinstance(spec.seed, bool):
            raise ConfigError(f"inputs: seed must be an integer, got {spec.seed!r}")
        if spec.data is not None and not isinstance(spec.data, str):
            raise ConfigError(f"inputs: data must be a string or null, got {spec.data!r}")
        return spec


def sample_indices(pool: int | np.ndarray, count: int, seed: Any = 0) -> np.ndarray:
    """A sorted random subset (without replacement) of up to ``count`` frame indices.

    Sorted so that memory-mapped recordings are read front to back.

    Parameters
    ----------
    pool
        Number of frames (indices ``0..pool-1``) or an array of candidate indices.
    seed
        Seed (or seed sequence) of the subset.
    """
    cand = np.arange(int(pool)) if np.ndim(pool) == 0 else np.asarray(pool, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(cand, size=min(len(cand), int(count)), replace=False))


def scaled_frames(data: Any, scaler: Any, count: int, seed: Any = 0,
                  spread: str = "random") -> np.ndarray | None:
    """Up to ``count`` dataset frames in a model's scaled electrode space, ``(m, n)`` float32.

    The one frame sampler of the workbench (propagation, linearity, latent statistics, the
    CLI's ``--data`` frames).

    Parameters
    ----------
    data
        An ``EEGData`` (``values (N, n)``, ``n_frames``) or None.
    scaler
        The model's ``ClipScaler`` (``transform``) or None.
    spread
        ``"random"`` (a seeded random subset, :func:`sample_indices`) or ``"even"``
        (evenly spaced over the recording, seed unused).

    Returns
    -------
    ``(m, n)`` scaled frames, ``m = min(count, N)``; None without data, scaler or frames.
    """
    if data is None or scaler is None or int(data.values.shape[0]) == 0 or count < 1:
        return None
    n = int(data.values.shape[0])
    if spread == "even":
        idx = np.unique(np.linspace(0, n - 1, min(int(count), n)).astype(int))
    elif spread == "random":
        idx = sample_indices(n, count, seed)
    else:
        raise ConfigError(f"frame spread must be 'random' or 'even', got {spread!r}")
    raw = np.asarray(data.values[idx], dtype=np.float32)
    return np.asarray(scaler.transform(raw), dtype=np.float32)


@dataclass
class InputSet:
    """Inputs drawn for an analysis, with their provenance.

    Attributes
    ----------
    values
        ``(N, n)`` float32 scaled electrode values, montage channel order.
    spec
        The :class:`InputSpec` they were drawn for.
    description
        One human-readable line (shown in the CLI, JSON and GUI), e.g.
        ``"256 held-out frames (validation split of synthetic)"``.
    split
        ``"val"`` (the model's validation split), ``"all"`` (another recording, all
        frames held out) or ``None`` for random mixes.
    available
        Frames they were drawn from (the pool), None for random mixes.
    """

    values: np.ndarray
    spec: InputSpec
    description: str
    split: str | None
    available: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.to_json(), "n": int(self.values.shape[0]), "split": self.split,
                "description": self.description, "available": self.available}


def model_data_source(loaded: Any) -> str | None:
    """The dataset spec a checkpoint was trained on (``"synthetic"``, a path), or None."""
    meta = _as_dict(getattr(loaded, "meta", None))
    src = _as_dict(_as_dict(meta.get("experiment")).get("data")).get("source")
    if src:
        return str(src)
    path = _as_dict(meta.get("data")).get("path")
    return str(path) if path else None


def _as_dict(value: Any) -> dict[str, Any]:
    """``value`` when a card gives a dict there, else an empty one."""
    return value if isinstance(value, dict) else {}


def random_mixes(n_electrodes: int, count: int, seed: int) -> np.ndarray:
    """``(count, n_electrodes)`` float32 i.i.d. uniform values in ``[0, 1]``."""
    if count < 1:
        raise ConfigError(f"need at least 1 input, got {count}")
    return np.random.default_rng(seed).uniform(0, 1, size=(count, n_electrodes)).astype(np.float32)


def _validation_indices(loaded: Any, data: Any) -> np.ndarray | None:
    """The model's validation-split frame indices in ``data``, or None if not recoverable."""
    exp = (getattr(loaded, "meta", {}) or {}).get("experiment")
    if not exp:
        return None
    from eegmi.data.dataset import split_frames
    from eegmi.training.experiments import ExperimentConfig
    from eegmi.training.prepare import _subsample

    cfg = ExperimentConfig.from_dict(exp, Path(getattr(loaded, "path", "")) / "model.json")
    d = cfg.data
    split = split_frames(data, by=d.split_by, fractions=tuple(d.fractions), seed=d.split_seed)
    split = _subsample(split, d.max_frames, d.split_seed)
    return np.asarray(split.val, dtype=np.int64)


def analysis_inputs(loaded: Any, spec: InputSpec | None = None) -> InputSet:
    """Draw the inputs of an analysis for one loaded model.

    Parameters
    ----------
    loaded
        A :class:`eegmi.training.checkpoint.LoadedModel` (its scaler, operator, card).
    spec
        What to draw; default :class:`InputSpec()` (256 held-out frames, seed 0).

    Returns
    -------
    :class:`InputSet` with ``values`` of shape ``(N, n_electrodes)``.

    Raises
    ------
    ConfigError
        A bad count or kind, or ``"heldout"`` with no dataset to draw from.
    """
    spec = spec or InputSpec()
    if spec.kind not in INPUT_KINDS:
        raise ConfigError(f"inputs must be one of {', '.join(INPUT_KINDS)}, got {spec.kind!r}")
    if spec.count < 1:
        raise ConfigError(f"need at least 1 input, got {spec.count}")
    n_el = int(loaded.operator.montage.n_channels)
    if spec.kind == "random":
        vals = random_mixes(n_el, spec.count, spec.seed)
        return InputSet(vals, spec, f"{len(vals)} i.i.d. random mixes in [0, 1] (seed {spec.seed})",
                        None)
    from eegmi.data.loaders import load_dataset

    source = model_data_source(loaded)
    if not spec.data and source not in (None, "synthetic"):
        # a card never chooses what eegmi reads: its data file must be given explicitly
        raise ConfigError(f"the model card says it was trained on {source[:200]!r}; give that "
                          "data explicitly (--data) or ask for random mixes (--inputs random)",
                          Path(getattr(loaded, "path", "")) / "model.json")
    data_spec = spec.data or source
    if not data_spec:
        raise ConfigError("held-out inputs need a dataset: the model card names none, give one "
                          "(--data) or ask for random mixes (--inputs random)")
    data = load_dataset(data_spec, montage=loaded.operator.montage)
    own = source is not None and str(data_spec) == str(source)
    idx = _validation_indices(loaded, data) if own else None
    if idx is not None and len(idx) > 0:
        pool, split, where = idx, "val", f"validation split of {data_spec}"
    else:
        pool = np.arange(data.values.shape[0])
        split, where = "all", f"{data_spec}, not the model's training data" if not own else \
            f"{data_spec} (no recorded split)"
    take = sample_indices(pool, spec.count, spec.seed)
    raw = np.asarray(data.values[take], dtype=np.float32)
    vals = np.asarray(loaded.scaler.transform(raw), dtype=np.float32)
    if not np.isfinite(vals).all():
        raise ConfigError(f"held-out frames of {data_spec} contain NaN or infinity")
    return InputSet(vals, spec, f"{len(vals)} held-out frames ({where})", split, int(len(pool)))
