"""Experiment presets (E1..E5, stagewise, pick_init) and their validation.

A preset is a TOML file with four tables: ``[model]`` (see :class:`ModelConfig`),
``[data]``, ``[injection]`` and ``[training]``, plus optional top-level ``name`` and
``description``.  Users copy a preset from ``resources/experiments/`` and change any
field; unknown keys and impossible values raise :class:`ConfigError` naming the file
and the key.

Loss: ``masked MSE + beta * KL``.  The MSE is the mean over pixels (inside the head
disc when ``loss_mask = "head"``), the KL is summed over latent dimensions and averaged
over the batch.  Because a pixel-mean MSE of a good reconstruction is ~1e-4, ``beta``
defaults to 1e-6: the VAE then behaves as the near-deterministic autoencoder the paper
describes (posterior sigma ~1e-7), while the KL still keeps ``logvar`` bounded.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError
from eegmi.limits import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_FRAMES,
    MAX_PRESET_BYTES,
    MAX_SEED,
    as_float,
    check_float,
    check_int,
    is_number,
    one_line,
)
from eegmi.models.config import ModelConfig
from eegmi.paths import resources_dir

PRESETS = ("E1", "E2", "E3", "E4", "E5", "stagewise", "pick_init")
#: What an experiment name may be: it names the default run folder ``runs/<name>``.
_NAME = re.compile(r"[^/\\:\x00-\x1f\x7f.\s][^/\\:\x00-\x1f\x7f]{0,99}")


@dataclass
class DataSettings:
    """Where frames come from and how they are split and scaled."""

    source: str = "synthetic"
    montage: str = "biosemi32"
    method: str = "cubic"
    split_by: str = "trial"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    max_frames: int = 0  # 0 = every frame
    clip_low: float = 5.0
    clip_high: float = 95.0


@dataclass
class InjectionSettings:
    """The injection layer (seed 000, section 3.2)."""

    marks: bool = False
    occlusion: bool = False
    mark_value: float = 1.0


@dataclass
class TrainingSettings:
    """Optimiser, schedule, loss and initialisation."""

    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta: float = 1e-6
    loss_mask: str = "none"  # "none" | "head" (ignore pixels outside the head disc)
    patience: int = 30
    factor: float = 0.3
    seed: int = 0
    amp: bool = False  # mixed precision, used on CUDA only
    init: str = "random"  # "random" | "pick"
    decoder_from: str = ""  # bundled name or checkpoint dir whose decoder is copied
    freeze_decoder: bool = False


_SECTIONS = {"data": DataSettings, "injection": InjectionSettings, "training": TrainingSettings}


@dataclass
class ExperimentConfig:
    """A full experiment: model, data, injection and training settings."""

    name: str = "custom"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataSettings = field(default_factory=DataSettings)
    injection: InjectionSettings = field(default_factory=InjectionSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    path: str | None = None  # the TOML it came from (not part of the settings)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (TOML/JSON-ready) of all settings."""
        data = asdict(self.data)
        data["fractions"] = list(self.data.fractions)
        return {"name": self.name, "description": self.description,
                "model": self.model.to_dict(), "data": data,
                "injection": asdict(self.injection), "training": asdict(self.training)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | Path | None = None) -> ExperimentConfig:
        """Validate and build; unknown keys or impossible values raise :class:`ConfigError`."""
        if not isinstance(d, dict):
            raise ConfigError("experiment: expected a table of settings", path)
        known = {"name", "description", "model", *_SECTIONS}
        for key in d:
            if key not in known:
                raise ConfigError(f"{key}: unknown key (known: {', '.join(sorted(known))})", path)
        for key in ("name", "description"):
            if key in d and not isinstance(d[key], str):
                raise ConfigError(f"{key}: {d[key]!r} is not a string", path)
        sections = {name: _section(klass, name, d.get(name, {}), path)
                    for name, klass in _SECTIONS.items()}
        exp = cls(name=d.get("name", "custom"), description=d.get("description", ""),
                  model=ModelConfig.from_dict(d.get("model", {}), path),
                  path=None if path is None else str(path), **sections)
        exp.validate()
        return exp

    def validate(self) -> None:
        """Range and cross-field checks; raise :class:`ConfigError` naming the key.

        Every number must be finite and within :mod:`eegmi.limits` (so a preset can
        neither ask for an absurd allocation nor train to NaN), and ``name`` must be
        a plain folder name (it becomes ``runs/<name>``).
        """
        p = self.path
        d, t, m, i = self.data, self.training, self.model, self.injection
        _check(isinstance(self.name, str) and bool(_NAME.fullmatch(self.name)), "name",
               f"{_short(self.name)} must be a plain folder name (no / \\ : or control "
               "characters, not starting with a dot or space, at most 100 characters)", p)
        _check(isinstance(d.montage, str) and bool(d.montage.strip()), "data.montage",
               f"{d.montage!r} must be a montage name or an electrode file", p)
        _check(isinstance(d.source, str) and bool(d.source.strip()), "data.source",
               f"{d.source!r} must be 'synthetic' or a data path", p)
        check_int(d.split_seed, "data.split_seed", 0, MAX_SEED, p)
        check_int(d.max_frames, "data.max_frames", 0, MAX_FRAMES, p)
        for key in ("clip_low", "clip_high"):
            check_float(getattr(d, key), f"data.{key}", 0.0, 100.0, p)
        check_float(i.mark_value, "injection.mark_value", -1e3, 1e3, p)
        check_int(t.epochs, "training.epochs", 1, MAX_EPOCHS, p)
        check_int(t.batch_size, "training.batch_size", 1, MAX_BATCH, p)
        check_float(t.lr, "training.lr", 0.0, 10.0, p, lo_open=True)
        check_float(t.weight_decay, "training.weight_decay", 0.0, 1e3, p)
        check_float(t.beta, "training.beta", 0.0, 1e6, p)
        check_int(t.patience, "training.patience", 0, MAX_EPOCHS, p)
        check_float(t.factor, "training.factor", 0.0, 1.0, p, lo_open=True, hi_open=True)
        check_int(t.seed, "training.seed", 0, MAX_SEED, p)
        _check(all(is_number(f) and math.isfinite(f) for f in d.fractions), "data.fractions",
               f"{list(d.fractions)} must be finite numbers", p)
        _check(d.split_by in ("subject", "trial", "time"), "data.split_by",
               f"{d.split_by!r} is not one of subject, trial, time", p)
        _check(d.method in ("cubic", "linear", "nearest", "spline"), "data.method",
               f"{d.method!r} is not one of cubic, linear, nearest, spline", p)
        _check(len(d.fractions) == 3 and all(f >= 0 for f in d.fractions)
               and abs(sum(d.fractions) - 1.0) < 1e-6 and min(d.fractions) > 0,
               "data.fractions", f"{list(d.fractions)} must be three positive numbers summing to 1", p)
        _check(d.max_frames >= 0, "data.max_frames", f"{d.max_frames} must be >= 0", p)
        _check(0 <= d.clip_low < d.clip_high <= 100, "data.clip_low",
               f"clip_low {d.clip_low} / clip_high {d.clip_high} must satisfy 0 <= low < high <= 100", p)
        _check(t.epochs >= 1, "training.epochs", f"{t.epochs} must be >= 1", p)
        _check(t.batch_size >= 1, "training.batch_size", f"{t.batch_size} must be >= 1", p)
        _check(t.lr > 0, "training.lr", f"{t.lr} must be > 0", p)
        _check(t.weight_decay >= 0, "training.weight_decay", f"{t.weight_decay} must be >= 0", p)
        _check(t.beta >= 0, "training.beta", f"{t.beta} must be >= 0", p)
        _check(t.loss_mask in ("none", "head"), "training.loss_mask",
               f"{t.loss_mask!r} is not one of none, head", p)
        _check(t.patience >= 0, "training.patience", f"{t.patience} must be >= 0", p)
        _check(0 < t.factor < 1, "training.factor", f"{t.factor} must be in (0, 1)", p)
        _check(t.init in ("random", "pick"), "training.init",
               f"{t.init!r} is not one of random, pick", p)
        if t.init == "pick":
            _check(m.kind == "vae", "training.init", "pick initialisation needs a vae model", p)
            _check(m.activation in ("leaky_relu", "relu"), "training.init",
                   "pick initialisation needs a (leaky) ReLU activation", p)
            _check(m.latent_dim == m.n_electrodes, "training.init",
                   "pick initialisation needs latent_dim == n_electrodes", p)
            _check(m.filters[0] >= 4 and m.filters[1] >= 16 and m.filters[2] >= 64,
                   "training.init", "pick initialisation needs filters >= (4, 16, 64)", p)
        if t.decoder_from or t.freeze_decoder:
            _check(m.kind == "vae", "training.decoder_from",
                   "a decoder can only be copied into a vae model", p)
            _check(bool(t.decoder_from), "training.freeze_decoder",
                   "freezing the decoder needs training.decoder_from", p)


def _check(ok: bool, key: str, why: str, path: str | None) -> None:
    if not ok:
        raise ConfigError(f"{key}: {why}", path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _section(klass: type, name: str, d: Any, path: str | Path | None) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{name}: expected a table of settings", path)
    defaults = klass()
    known = {f.name: f for f in fields(klass)}
    clean: dict[str, Any] = {}
    for key, value in d.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(known)})", path)
        want = type(getattr(defaults, key))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = as_float(value, f"{name}.{key}", path)
        if want is tuple:
            if not isinstance(value, (list, tuple)) or len(value) > 16 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"{name}.{key}: {_short(value)} must be a list of numbers", path)
            value = tuple(as_float(v, f"{name}.{key}", path) for v in value)
        elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            raise ConfigError(f"{name}.{key}: {_short(value)} is not a {want.__name__}", path)
        clean[key] = value
    return klass(**clean)


def experiments_dir() -> Path:
    """Folder of the bundled presets."""
    return resources_dir() / "experiments"


def load_experiment(name_or_path: str | Path) -> ExperimentConfig:
    """Load a bundled preset by name (``E1``..``E5``, ``stagewise``, ``pick_init``) or a TOML file.

    Raises
    ------
    ConfigError
        Unknown preset, unreadable TOML, unknown keys or impossible values.
    """
    spec = str(name_or_path)
    path = Path(spec)
    if not path.suffix:
        for preset in experiments_dir().glob("*.toml"):
            if preset.stem.lower() == spec.lower():
                path = preset
                break
        else:
            raise ConfigError(f"unknown experiment {spec!r} (presets: {', '.join(PRESETS)}, "
                              "or a .toml file)")
    if not path.is_file():
        raise ConfigError("experiment file not found (or not a regular file)", path)
    try:
        size = path.stat().st_size
        if size > MAX_PRESET_BYTES:
            raise ConfigError(f"experiment file is {size} bytes (at most {MAX_PRESET_BYTES})", path)
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError("not a valid TOML file (nested too deeply)", path) from None
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError included
        raise ConfigError(f"not a valid TOML file ({one_line(exc)})", path) from None
    d.setdefault("name", path.stem)
    return ExperimentConfig.from_dict(d, path)
