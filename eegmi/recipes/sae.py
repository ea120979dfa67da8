"""SAE recipes: ``sae_train`` (an SAE on a layer's activations) and ``sae_gallery``
(the feature gallery: statistics, top frames, maps, driving electrodes).

Both the CLI (``eegmi sae train``) and the GUI's SAE panel run these jobs with the
options dataclasses below, whose defaults are the only defaults.  A gallery's
options name where its SAE comes from: a saved folder (``sae``) or the training
options that produced it (``train``, for an SAE trained in the workbench and never
saved), so an exported gallery state re-runs headless (``eegmi rerun``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.analysis.options_json import known_fields
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import CancelToken, Job, Progress, scaled_progress
from eegmi.limits import MAX_SEED, is_int
from eegmi.recipes.base import Recipe, RecipeContext, register

SPARSITIES = ("topk", "l1")


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if not is_int(value) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {str(value)[:40]!r}")


@dataclass
class SaeTrainOptions:
    """How an SAE is trained on a model layer.

    Attributes
    ----------
    layer, mode
        Hook point and ``"spatial"`` (one channel vector per position) or ``"flat"``.
    dict_size
        Number of SAE features.
    sparsity, k, l1
        ``"topk"`` with ``k`` active features, or ``"l1"`` (ReLU + L1 coefficient ``l1``).
    steps, batch_size, lr
        Optimisation.
    max_frames
        Training frames drawn from the train split (a quarter as many held-out frames
        from the test split give the metrics).
    seed
        Split, frame draw and training seed.
    filter
        Activation filter ``METHOD:FRACTION`` (``eegmi.sae.filtering``) or None.
    memory_mb
        Memory for the held activation vectors (float32): every drawn frame is run, and
        when its vectors would exceed this a uniform random sample of them is kept
        (``eegmi.sae.activations.RowReservoir``; the held-out set gets a quarter).  The
        result says so (``capped``, ``vectors_used`` of ``vectors_available``).
    """

    layer: str = "enc.act3"
    mode: str = "spatial"
    dict_size: int = 64
    sparsity: str = "topk"
    k: int = 4
    l1: float = 0.02
    steps: int = 1000
    batch_size: int = 256
    lr: float = 3e-3
    max_frames: int = 2000
    seed: int = 0
    filter: str | None = None
    memory_mb: int = 1024

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def max_rows(self, d: int) -> int:
        """Vectors of width ``d`` that ``memory_mb`` holds (at least one)."""
        return max(1, (int(self.memory_mb) << 20) // (4 * max(1, int(d))))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SaeTrainOptions:
        opts = cls(**known_fields(cls, d, "sae_train"))
        opts.check()
        return opts

    def check(self) -> None:
        """Raise :class:`ConfigError` on a value no training accepts."""
        from eegmi.sae.activations import check_mode
        from eegmi.sae.filtering import parse_filter

        if not isinstance(self.layer, str) or not self.layer:
            raise ConfigError("give the layer (hook point) the SAE reads")
        check_mode(self.mode)
        if self.sparsity not in SPARSITIES:
            raise ConfigError(f"sparsity must be one of {', '.join(SPARSITIES)}, got {self.sparsity!r}")
        _check_int("dict_size", self.dict_size, 1, 1 << 20)
        _check_int("k", self.k, 1, 1 << 20)
        _check_int("steps", self.steps, 1, 10**8)
        _check_int("batch_size", self.batch_size, 1, 1 << 20)
        _check_int("max_frames", self.max_frames, 1, 10**9)
        _check_int("seed", self.seed, 0, MAX_SEED)
        _check_int("memory_mb", self.memory_mb, 1, 1 << 24)
        for name in ("l1", "lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {str(v)[:40]!r}")
        if self.filter is not None:
            parse_filter(self.filter)

    def sae_config(self, d_in: int) -> Any:
        """The :class:`~eegmi.sae.model.SAEConfig` for inputs of width ``d_in``."""
        from eegmi.sae.model import SAEConfig

        return SAEConfig(d_in=int(d_in), n_features=self.dict_size, kind=self.sparsity,
                         k=min(self.k, self.dict_size), l1=self.l1)

    def train_config(self, device: str) -> Any:
        """The :class:`~eegmi.sae.train.TrainConfig` (progress about every 1 % of the steps)."""
        from eegmi.sae.train import TrainConfig

        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                           device=device, report_every=max(1, min(10, self.steps // 100)))


@dataclass
class SaeGalleryOptions:
    """The feature gallery of an SAE over dataset frames.

    Attributes
    ----------
    sae
        SAE folder (``eegmi sae train --out``), or None when ``train`` gives the SAE.
    train
        Options that train the SAE first (used when ``sae`` is None).
    max_frames
        Dataset frames the statistics are computed over (drawn with ``seed``).
    top_k
        Top dataset frames kept per feature.
    seed
        Seed of the frame draw.
    """

    sae: str | None = None
    train: SaeTrainOptions | None = None
    max_frames: int = 2000
    top_k: int = 8
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"] = None if self.train is None else self.train.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SaeGalleryOptions:
        values = known_fields(cls, d, "sae_gallery")
        train = values.get("train")
        if train is not None:
            if not isinstance(train, dict):
                raise ConfigError("sae_gallery options: 'train' must be an object or null")
            values["train"] = SaeTrainOptions.from_json(train)
        opts = cls(**values)
        opts.check()
        return opts

    def check(self) -> None:
        if self.sae is not None and not isinstance(self.sae, str):
            raise ConfigError("sae_gallery options: 'sae' must be a folder path or null")
        _check_int("max_frames", self.max_frames, 1, 10**9)
        _check_int("top_k", self.top_k, 1, 4096)
        _check_int("seed", self.seed, 0, MAX_SEED)


@dataclass
class SaeTrained:
    """Result of ``sae_train``: the SAE (``LoadedSAE``, not yet saved) and its numbers."""

    loaded: Any
    metrics: dict[str, float]
    train_vectors: int
    filter_report: Any = None
    history: list[dict[str, float]] = field(default_factory=list)
    #: frames run, train-split frames, vectors kept and produced, memory budget (MB)
    sampling: dict[str, Any] = field(default_factory=dict)


@dataclass
class SaeGalleryResult:
    """Result of ``sae_gallery``: the cards' data and the SAE they describe."""

    data: Any  # eegmi.sae.gallery_data.GalleryData
    sae: Any  # LoadedSAE


# -- what the jobs run on -----------------------------------------------------------
def adapter_of(context: RecipeContext) -> Any:
    """The context's ModelAdapter (the caller's, else built from the loaded model)."""
    if context.extra.get("adapter") is not None:
        return context.extra["adapter"]
    if context.loaded is None:
        raise ConfigError("this analysis needs a model")
    from eegmi.models.adapter import adapt

    return adapt(context.loaded)


def dataset_of(context: RecipeContext) -> tuple[Any, Any]:
    """``(EEGData, scaler)``: the caller's (``extra["eeg"]``, ``extra["scaler"]``), else
    ``context.data`` (or the model card's own source) loaded on the model's montage,
    scaled by the model's training scaler (the data's own percentiles when it has none)."""
    loaded = context.loaded
    eeg = context.extra.get("eeg")
    if eeg is None:
        from eegmi.data.loaders import load_dataset
        from eegmi.training.cards import card_data_source

        card = Path(getattr(loaded, "path", "") or ".") / "model.json"
        source = card_data_source(getattr(loaded, "meta", {}) or {}, context.data, card)
        eeg = load_dataset(source, montage=loaded.operator.montage)
    if eeg.n_frames == 0:
        raise DataError("dataset has no frames")
    scaler = context.extra.get("scaler")
    if scaler is None:
        scaler = getattr(loaded, "scaler", None)
    if scaler is None:
        from eegmi.data.preprocess import ClipScaler

        scaler = ClipScaler.fit(np.asarray(eeg.values))
    return eeg, scaler


def train_eval_split(eeg: Any, seed: int) -> Any:
    """Train/test frames without leakage: by trial, else by time blocks, else (a single
    short recording) a plain random 80/10/10 split of frames."""
    from eegmi.data.dataset import Split, split_frames
    from eegmi.errors import EegmiError

    for by in ("trial", "time"):
        try:
            return split_frames(eeg, by=by, seed=seed)
        except EegmiError:
            continue
    n = eeg.values.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(0.8 * n), int(0.9 * n)
    return Split(np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:]))


def draw(indices: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` of ``indices (m,)``, sorted, reproducible (all of them when ``m <= n``)."""
    if n < 1:
        raise ConfigError(f"number of frames must be positive, got {n}")
    if len(indices) <= n:
        return np.asarray(indices)
    return np.sort(np.random.default_rng(seed).choice(indices, size=n, replace=False))


def batches_of(adapter: Any, eeg: Any, scaler: Any, indices: np.ndarray, device: str,
               batch_size: int = 256) -> Any:
    """``TopomapBatches`` of dataset frames ``indices`` through the adapter's input pipeline."""
    from eegmi.data.dataset import TopomapBatches

    return TopomapBatches(eeg.values, np.sort(indices), adapter.operator, scaler, adapter.injection,
                          batch_size=batch_size, device=device)


# -- sae_train ----------------------------------------------------------------------
def run_train(options: SaeTrainOptions, context: RecipeContext,
              cancel: CancelToken | None = None) -> Job[SaeTrained]:
    """Extract ``options.layer`` activations over train-split frames, train the SAE,
    and measure it on held-out frames (metrics and the model with the SAE spliced in)."""
    from eegmi.sae.activations import collect_activations, find_hook, vector_width
    from eegmi.sae.filtering import filter_activations, parse_filter
    from eegmi.sae.io import LoadedSAE
    from eegmi.sae.metrics import sae_metrics, spliced_reconstruction
    from eegmi.sae.train import train_sae

    options.check()
    adapter = adapter_of(context)
    model, device = adapter.model, context.device
    find_hook(model, options.layer)  # unknown layer: one line listing the valid ones
    method_keep = parse_filter(options.filter) if options.filter else None
    yield Progress(0, 0, "reading the dataset")
    eeg, scaler = dataset_of(context)
    split = train_eval_split(eeg, options.seed)
    train_idx = draw(split.train, options.max_frames, options.seed)
    held_from = split.test if len(split.test) else split.val
    eval_idx = draw(held_from, max(1, options.max_frames // 4), options.seed)
    want_cam = method_keep is not None and method_keep[0] == "gradcam"
    shape_of = getattr(model, "hook_shapes", None)
    width = (vector_width(tuple(shape_of()[options.layer]), options.mode) if callable(shape_of)
             else 1)
    cap = options.max_rows(width)
    acts = yield from scaled_progress(
        collect_activations(model, batches_of(adapter, eeg, scaler, train_idx, device), options.layer,
                            options.mode, gradcam=want_cam, cancel=cancel, max_rows=cap,
                            seed=options.seed), 0.0, 0.2, "activations")
    held = yield from scaled_progress(
        collect_activations(model, batches_of(adapter, eeg, scaler, eval_idx, device), options.layer,
                            options.mode, cancel=cancel, max_rows=max(1, cap // 4),
                            seed=options.seed + 1), 0.2, 0.25, "held-out activations")
    sampling = {"frames_used": int(len(train_idx)), "frames_available": int(len(split.train)),
                "vectors_used": int(len(acts.x)), "vectors_available": int(acts.rows_seen),
                "capped": bool(acts.capped or held.capped), "memory_mb": int(options.memory_mb)}
    x_train, report = acts.x, None
    if method_keep is not None:
        spatial = ((int(acts.layer_shape[1]), int(acts.layer_shape[2])) if acts.position is not None
                   else None)
        report = filter_activations(x_train, method_keep[0], method_keep[1], gradcam=acts.gradcam,
                                    position=acts.position, frame=acts.frame, spatial_shape=spatial)
        x_train = x_train[report.mask]
    tcfg = options.train_config(device)
    result = yield from scaled_progress(
        train_sae(x_train, options.sae_config(x_train.shape[1]), tcfg, cancel=cancel), 0.25, 0.95,
        "SAE training")
    sae = result.sae.to(device).eval()
    metrics = sae_metrics(sae, held.x)
    spliced = yield from scaled_progress(
        spliced_reconstruction(model, sae, batches_of(adapter, eeg, scaler, eval_idx, device),
                               options.layer, options.mode, cancel=cancel), 0.95, 1.0, "spliced")
    metrics.update({f"model_{k}": v for k, v in spliced.items()})
    loaded = context.loaded
    meta = {"hook": options.layer, "mode": options.mode, "layer_shape": list(acts.layer_shape),
            "metrics": metrics, "train": tcfg.to_dict(), "resampled": result.resampled,
            "final": result.history[-1] if result.history else {},
            "filter": None if report is None else report.to_json(),
            "provenance": {"model": getattr(loaded, "name", context.model),
                           "model_path": str(getattr(loaded, "path", context.model)),
                           "data": context.data or "synthetic", "train_frames": int(len(train_idx)),
                           "eval_frames": int(len(eval_idx)), "split_seed": options.seed}}
    meta["provenance"]["sampling"] = sampling
    return SaeTrained(loaded=LoadedSAE(sae=sae, meta=meta, path=None), metrics=metrics,
                      train_vectors=int(len(x_train)), filter_report=report, history=result.history,
                      sampling=sampling)


def train_summary(result: SaeTrained) -> dict[str, Any]:
    cfg = result.loaded.sae.config
    return {"d_in": cfg.d_in, "n_features": cfg.n_features, "kind": cfg.kind,
            "hook": result.loaded.hook, "mode": result.loaded.mode,
            "train_vectors": result.train_vectors, **result.sampling,
            "metrics": {k: float(v) for k, v in result.metrics.items()},
            "filter": None if result.filter_report is None else result.filter_report.to_json()}


SAE_TRAIN: Recipe[SaeTrainOptions, SaeTrained] = register(Recipe(
    name="sae_train", options_type=SaeTrainOptions, run=run_train, summary=train_summary))


# -- sae_gallery --------------------------------------------------------------------
def run_gallery(options: SaeGalleryOptions, context: RecipeContext,
                cancel: CancelToken | None = None) -> Job[SaeGalleryResult]:
    """Gallery statistics of an SAE over up to ``options.max_frames`` dataset frames.

    The SAE is ``context.extra["sae"]`` when the caller holds it (the panel), else
    the folder ``options.sae``, else trained with ``options.train``.
    """
    from eegmi.sae.features import feature_gallery
    from eegmi.sae.gallery_data import gallery_data
    from eegmi.sae.io import load_for_model

    options.check()
    adapter = adapter_of(context)
    device = context.device
    loaded = context.extra.get("sae")
    lo = 0.0
    if loaded is None:
        if options.sae:
            yield Progress(0, 0, f"loading SAE {options.sae}")
            loaded = load_for_model(options.sae, adapter.hook_names(), device)
        elif options.train is not None:
            trained = yield from scaled_progress(run_train(options.train, context, cancel), 0.0, 0.7,
                                                 "train")
            loaded, lo = trained.loaded, 0.7
        else:
            raise ConfigError("sae_gallery options name no SAE: give 'sae' (a folder) or 'train'")
    hook = loaded.hook
    if hook is None:
        raise DataError("this SAE was trained on a raw activation matrix, not a model layer")
    eeg, scaler = dataset_of(context)
    sae = loaded.sae.to(device).eval()
    idx = draw(np.arange(eeg.n_frames, dtype=np.int64), options.max_frames, options.seed)
    gallery = yield from scaled_progress(
        feature_gallery(adapter.model, sae, batches_of(adapter, eeg, scaler, idx, device), hook, loaded.mode, max_frames=len(idx), top_k=options.top_k,
                        electrodes=(adapter.n_electrodes, adapter.model_input), cancel=cancel),
        lo, 1.0, "gallery")
    data = gallery_data(gallery, eeg.values, scaler, adapter.operator, hook, loaded.mode)
    return SaeGalleryResult(data=data, sae=loaded)


def gallery_summary(result: SaeGalleryResult) -> dict[str, Any]:
    g = result.data.gallery
    out = g.to_json()
    out.update(hook=result.data.hook, mode=result.data.mode,
               mean_frequency=float(np.mean(g.frequency)),
               mean_selectivity=float(np.mean(g.selectivity)),
               max_activation=float(np.max(g.max_activation)) if g.max_activation.size else 0.0,
               drivers=[len(d) for d in result.data.drivers])
    return out


SAE_GALLERY: Recipe[SaeGalleryOptions, SaeGalleryResult] = register(Recipe(
    name="sae_gallery", options_type=SaeGalleryOptions, run=run_gallery, summary=gallery_summary))
