"""The sweep spec (TOML) and the trials it expands to; torch-free.

A spec names a grid (see ``docs/sweeps.md``): for ``kind = "train"`` the experiments
× seeds × the product of the ``[train.grid]`` lists (dotted experiment keys such as
``"training.weight_decay"``), for ``kind = "sae"`` the models × layers × dictionary
sizes × sparsities × seeds.  Every trial is checked here, before anything runs: an
unknown key or an impossible value is one :class:`ConfigError` naming the spec file.

A trial's id is built from its parameters only (experiment, seed, every grid key and
value, in the spec's order), never from its position in the grid, so a sweep resumed
after an edit that adds values finds the trials it already ran.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError, EegmiError
from eegmi.limits import MAX_PRESET_BYTES, MAX_SEED, is_int, is_number, one_line

KINDS = ("train", "sae")
#: what ``analyses = [...]`` may name (train sweeps): recipe ``spectra`` and pick & interpolate
ANALYSES = ("alpha", "pick_interpolate")
TOP_KEYS = ("name", "kind", "seeds", "analyses", "cpus_per_trial", "train", "sae", "analysis")
TRAIN_KEYS = ("experiments", "data", "set", "grid")
SAE_KEYS = ("models", "layers", "dict_sizes", "k", "l1", "data", "mode", "steps", "batch_size",
            "lr", "max_frames", "filter")
#: most trials one spec may expand to (a typo like ``seeds = range(10**6)`` is refused)
MAX_TRIALS = 10_000
MAX_CPUS = 1024
#: short names of common grid keys in trial ids (others: their last part)
SHORT = {"training.weight_decay": "wd", "training.lr": "lr", "training.batch_size": "bs",
         "training.epochs": "ep", "model.latent_dim": "latent", "model.filters": "filters",
         "model.activation": "", "training.beta": "beta", "model.dropout": "dropout"}
_ID_CHARS = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass
class Trial:
    """One run of the grid.

    Attributes
    ----------
    id
        Stable readable name (the trial's folder under ``trials/``).
    kind
        ``"train"`` or ``"sae"``.
    params
        The parameters that make this trial (shown in the table): ``experiment``,
        ``seed`` and each grid key, or ``model``, ``layer``, ``dict_size``,
        ``sparsity``, ``k``/``l1``, ``seed``.
    experiment
        Train trials: the full experiment settings (``ExperimentConfig.to_dict()``).
    sae
        SAE trials: ``{"model": spec, "data": spec | None, "options": SaeTrainOptions JSON}``.
    """

    id: str
    kind: str
    params: dict[str, Any]
    experiment: dict[str, Any] | None = None
    sae: dict[str, Any] | None = None

    @property
    def epochs(self) -> int | None:
        """Epochs a train trial runs (None for an SAE)."""
        return None if self.experiment is None else int(self.experiment["training"]["epochs"])


@dataclass
class SweepSpec:
    """A parsed spec: its trials and how to run and report them."""

    path: Path
    name: str
    kind: str
    trials: list[Trial]
    analyses: tuple[str, ...] = ()
    analysis_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpus_per_trial: int = 1
    text: str = ""

    def trial(self, trial_id: str) -> Trial:
        for t in self.trials:
            if t.id == trial_id:
                return t
        raise KeyError(trial_id)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec.

    Raises
    ------
    ConfigError
        Unreadable TOML, an unknown key, a bad value or a trial the experiment code
        refuses; one line naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("sweep spec not found (or not a regular file)", path)
    try:
        size = path.stat().st_size
        if size > MAX_PRESET_BYTES:
            raise ConfigError(f"sweep spec is {size} bytes (at most {MAX_PRESET_BYTES})", path)
        text = path.read_text(encoding="utf-8")
        d = tomllib.loads(text)
    except RecursionError:
        raise ConfigError("not a valid TOML file (nested too deeply)", path) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"not a valid TOML file ({one_line(exc)})", path) from None
    return parse_spec(d, path, text)


def parse_spec(d: dict[str, Any], path: Path, text: str = "") -> SweepSpec:
    """A :class:`SweepSpec` from the TOML tables ``d`` (see :func:`load_spec`)."""
    _known(d, TOP_KEYS, "", path)
    name = d.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}", name):
        raise ConfigError(f"name: {name!r} must be a plain name (letters, digits, . _ + -)", path)
    kind = d.get("kind", "train")
    if kind not in KINDS:
        raise ConfigError(f"kind: {kind!r} is not one of {', '.join(KINDS)}", path)
    seeds = _int_list(d.get("seeds", [0]), "seeds", 0, MAX_SEED, path)
    cpus = d.get("cpus_per_trial", 1)
    if not is_int(cpus) or not 1 <= cpus <= MAX_CPUS:
        raise ConfigError(f"cpus_per_trial: {cpus!r} must be an integer in [1, {MAX_CPUS}]", path)
    analyses = _str_list(d.get("analyses", []), "analyses", path)
    for a in analyses:
        if a not in ANALYSES:
            raise ConfigError(f"analyses: {a!r} is not one of {', '.join(ANALYSES)}", path)
    if analyses and kind != "train":
        raise ConfigError("analyses: only a train sweep has models to analyse", path)
    options = _analysis_options(d.get("analysis", {}), path)
    other = "sae" if kind == "train" else "train"
    if other in d:
        raise ConfigError(f"{other}: a table for kind = {other!r}, but this sweep is "
                          f"kind = {kind!r}", path)
    if kind not in d:
        raise ConfigError(f"[{kind}]: missing (it names what the sweep runs)", path)
    table = d[kind]
    if not isinstance(table, dict):
        raise ConfigError(f"{kind}: expected a table", path)
    trials = (_train_trials(table, seeds, path) if kind == "train"
              else _sae_trials(table, seeds, path))
    seen: dict[str, Trial] = {}
    for t in trials:
        if t.id in seen:
            raise ConfigError(f"two trials are both named {t.id!r} ({seen[t.id].params} and "
                              f"{t.params}); give them different experiment names", path)
        seen[t.id] = t
    return SweepSpec(path=path, name=name, kind=kind, trials=trials, analyses=tuple(analyses),
                     analysis_options={a: options.get(a, {}) for a in analyses},
                     cpus_per_trial=int(cpus), text=text)


# ------------------------------------------------------------------ train trials
def _train_trials(t: dict[str, Any], seeds: list[int], path: Path) -> list[Trial]:
    from eegmi.training.experiments import ExperimentConfig, load_experiment

    _known(t, TRAIN_KEYS, "train.", path)
    names = _str_list(t.get("experiments"), "train.experiments", path, required=True)
    data = t.get("data")
    if data is not None and (not isinstance(data, str) or not data.strip()):
        raise ConfigError(f"train.data: {data!r} must be 'synthetic' or a data path", path)
    fixed = _dotted_table(t.get("set", {}), "train.set", path)
    grid = _dotted_table(t.get("grid", {}), "train.grid", path)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"train.grid.{key}: must be a non-empty list of values", path)
        if key == "training.seed":
            raise ConfigError("train.grid.training.seed: give the seeds as seeds = [...]", path)
    _count(len(names) * len(seeds) * math.prod(len(v) for v in grid.values()), path)
    base: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            exp = load_experiment(_relative(name, path, ".toml"))
        except EegmiError as exc:
            raise ConfigError(f"train.experiments: {exc.line()}", path) from None
        base[name] = exp.to_dict()
    trials = []
    for name in names:
        for values in itertools.product(*grid.values()):
            for seed in seeds:
                d = copy.deepcopy(base[name])
                label = d["name"]
                chosen = dict(zip(grid, values, strict=True))
                for key, value in {**fixed, **chosen}.items():
                    _assign(d, key, value, path)
                d["training"]["seed"] = seed
                if data is not None:
                    d["data"]["source"] = _data_path(data, path)
                trial_id = "-".join([label, f"seed{seed}",
                                     *(_id_part(k, v) for k, v in chosen.items())])
                trial_id = _safe_id(trial_id, path)
                d["name"] = trial_id
                d["description"] = (f"sweep trial of {label}: seed {seed}"
                                    + "".join(f", {k} = {v!r}" for k, v in chosen.items()))
                try:
                    exp = ExperimentConfig.from_dict(d, path)
                except ConfigError as exc:
                    raise ConfigError(f"trial {trial_id}: {exc.message}", path) from None
                trials.append(Trial(trial_id, "train",
                                    {"experiment": label, "seed": seed, **chosen},
                                    experiment=exp.to_dict()))
    return trials


def _assign(d: dict[str, Any], key: str, value: Any, path: Path) -> None:
    section, name = key.split(".", 1)
    if section not in ("model", "data", "injection", "training") or not isinstance(
            d.get(section), dict):
        raise ConfigError(f"{key}: unknown section {section!r} (model, data, injection, "
                          "training)", path)
    if name not in d[section]:
        raise ConfigError(f"{key}: unknown key (known in [{section}]: "
                          f"{', '.join(sorted(d[section]))})", path)
    d[section][name] = value


def _dotted_table(v: Any, what: str, path: Path) -> dict[str, Any]:
    """A table of ``"section.key" = value`` entries (TOML may also nest them)."""
    if not isinstance(v, dict):
        raise ConfigError(f"{what}: expected a table of \"section.key\" = value", path)
    flat: dict[str, Any] = {}
    for key, value in v.items():
        if isinstance(value, dict):  # [train.grid.training] weight_decay = [...]
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        elif "." not in key:
            raise ConfigError(f"{what}: {key!r} must be SECTION.KEY, e.g. \"training.{key}\"",
                              path)
        else:
            flat[key] = value
    return flat


# ------------------------------------------------------------------ SAE trials
def _sae_trials(t: dict[str, Any], seeds: list[int], path: Path) -> list[Trial]:
    from eegmi.recipes.sae import SaeTrainOptions
    from eegmi.training.catalog import resolve_model

    _known(t, SAE_KEYS, "sae.", path)
    models = _str_list(t.get("models"), "sae.models", path, required=True)
    layers = _str_list(t.get("layers"), "sae.layers", path, required=True)
    sizes = _int_list(t.get("dict_sizes", [SaeTrainOptions().dict_size]), "sae.dict_sizes",
                      1, 1 << 20, path)
    ks = _int_list(t.get("k", []), "sae.k", 1, 1 << 20, path)
    l1s = t.get("l1", [])
    if not isinstance(l1s, list) or not all(is_number(v) for v in l1s):
        raise ConfigError(f"sae.l1: {l1s!r} must be a list of numbers", path)
    sparsities = [("topk", k) for k in ks] + [("l1", float(v)) for v in l1s]
    if not sparsities:
        sparsities = [("topk", SaeTrainOptions().k)]
    data = t.get("data")
    if data is not None and (not isinstance(data, str) or not data.strip()):
        raise ConfigError(f"sae.data: {data!r} must be 'synthetic' or a data path", path)
    common: dict[str, Any] = {k: t[k] for k in ("mode", "steps", "batch_size", "lr", "max_frames", "filter")
              if k in t}
    _count(len(models) * len(layers) * len(sizes) * len(sparsities) * len(seeds), path)
    trials = []
    for model in models:
        spec = _relative(model, path, "")
        try:
            folder = resolve_model(spec)
        except EegmiError as exc:
            raise ConfigError(f"sae.models: {exc.line()}", path) from None
        label = folder.name
        for layer, size, (sparsity, amount), seed in itertools.product(layers, sizes, sparsities,
                                                                       seeds):
            opts: dict[str, Any] = {**common, "layer": layer, "dict_size": size,
                                    "sparsity": sparsity, "seed": seed,
                                    ("k" if sparsity == "topk" else "l1"): amount}
            try:
                checked = SaeTrainOptions.from_json(opts)
            except ConfigError as exc:
                raise ConfigError(f"sae: {exc.message}", path) from None
            sparse = f"k{amount}" if sparsity == "topk" else f"l1_{_value_text(amount)}"
            trial_id = _safe_id(f"{label}-{layer}-d{size}-{sparse}-seed{seed}", path)
            params = {"model": label, "layer": layer, "dict_size": size, "sparsity": sparsity,
                      ("k" if sparsity == "topk" else "l1"): amount, "seed": seed}
            trials.append(Trial(trial_id, "sae", params, sae={
                "model": model if spec == model and "/" not in model else str(folder.resolve()),
                "data": None if data is None else _data_path(data, path),
                "options": checked.to_json()}))
    return trials


# ------------------------------------------------------------------ analyses
def _analysis_options(d: Any, path: Path) -> dict[str, dict[str, Any]]:
    """``[analysis.alpha]`` (SpectraOptions) and ``[analysis.pick_interpolate]``
    (PickInterpolateOptions) fields, checked by the recipes' own strict readers."""
    from eegmi.analysis.pick_options import PickInterpolateOptions

    if not isinstance(d, dict):
        raise ConfigError("analysis: expected tables [analysis.alpha], "
                          "[analysis.pick_interpolate]", path)
    _known(d, ANALYSES, "analysis.", path)
    out: dict[str, dict[str, Any]] = {}
    for name, opts in d.items():
        if not isinstance(opts, dict):
            raise ConfigError(f"analysis.{name}: expected a table of options", path)
        try:
            if name == "alpha":
                out[name] = spectra_options(opts).to_json()
            else:
                out[name] = PickInterpolateOptions.from_json(opts).to_json()
        except (ConfigError, TypeError, ValueError) as exc:
            why = exc.message if isinstance(exc, ConfigError) else one_line(exc)
            raise ConfigError(f"analysis.{name}: {why}", path) from None
    # the defaults are the recipes' own; recorded so a changed default reruns nothing silently
    out.setdefault("alpha", spectra_options({}).to_json())
    out.setdefault("pick_interpolate", PickInterpolateOptions().to_json())
    return out


def spectra_options(d: dict[str, Any]) -> Any:
    """The spectra recipe's options for a sweep: the recipe's defaults, without the
    panel's projection trajectories (as ``eegmi analyze eigenspectrum`` runs it)."""
    from eegmi.analysis.spectra_options import SpectraOptions

    return SpectraOptions.from_json({"projections": 0, **d})


# ------------------------------------------------------------------ small checks
def _known(d: dict[str, Any], known: tuple[str, ...], prefix: str, path: Path) -> None:
    for key in d:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(known)})", path)


def _str_list(v: Any, what: str, path: Path, required: bool = False) -> list[str]:
    if v is None and not required:
        return []
    if not isinstance(v, list) or not v and required or not all(
            isinstance(s, str) and s.strip() for s in v):
        raise ConfigError(f"{what}: {_short(v)} must be a non-empty list of names", path)
    return list(v)


def _int_list(v: Any, what: str, lo: int, hi: int, path: Path) -> list[int]:
    if not isinstance(v, list) or not all(is_int(x) and lo <= x <= hi for x in v):
        raise ConfigError(f"{what}: {_short(v)} must be a list of integers in [{lo}, {hi}]",
                          path)
    if len(set(v)) != len(v):
        raise ConfigError(f"{what}: {_short(v)} repeats a value", path)
    return [int(x) for x in v]


def _count(n: int, path: Path) -> None:
    if n == 0:
        raise ConfigError("the grid is empty (an empty list of seeds?)", path)
    if n > MAX_TRIALS:
        raise ConfigError(f"the grid has {n} trials (at most {MAX_TRIALS})", path)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _relative(spec: str, path: Path, suffix: str) -> str:
    """A file named in the spec, relative to the spec's folder; a preset or bundled
    name (no such file) is kept as given."""
    candidate = path.parent / spec
    if Path(spec).is_absolute():
        return spec
    if (suffix and spec.endswith(suffix)) or candidate.exists():
        return str(candidate.resolve())
    return spec


def _data_path(data: str, path: Path) -> str:
    if data == "synthetic" or Path(data).is_absolute():
        return data
    return str((path.parent / data).resolve())


def _value_text(v: Any) -> str:
    """A value as it reads in a trial id: ``1e-4``, ``0.3``, ``32``, ``4x8x8``, ``gelu``."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e5):
            mantissa, exponent = f"{v:.6e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return f"{v:.6g}"
    if isinstance(v, list):
        return "x".join(_value_text(x) for x in v)
    return str(v)


def _id_part(key: str, value: Any) -> str:
    short = SHORT.get(key, key.rsplit(".", 1)[-1])
    return f"{short}{_value_text(value)}"


def _safe_id(text: str, path: Path) -> str:
    trial_id = _ID_CHARS.sub("_", text)
    if len(trial_id) > 100:
        raise ConfigError(f"trial id {trial_id[:40]}... is longer than 100 characters; use "
                          "shorter experiment names or fewer grid keys", path)
    return trial_id
