"""Model configuration: the architecture knobs of the conv VAE and the decoder-only model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError
from eegmi.limits import (
    MAX_ELECTRODES,
    MAX_FILTERS,
    MAX_IMAGE_SIZE,
    MAX_LATENT,
    MAX_MODEL_PARAMS,
    as_float,
    check_float,
    check_int,
    is_int,
)

KINDS = ("vae", "decoder")
ACTIVATIONS = ("leaky_relu", "relu", "gelu", "solu")


def _whole(value: Any) -> Any:
    """A whole number read from a file (``32`` or ``32.0``) as an int; anything else as it
    is, for :meth:`ModelConfig.validate` to refuse."""
    if is_int(value) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


@dataclass
class ModelConfig:
    """Architecture of a :class:`~eegmi.models.vae.ConvVAE` or :class:`~eegmi.models.decoder.DecoderOnly`.

    Attributes
    ----------
    kind
        ``"vae"`` (image -> latent -> image) or ``"decoder"`` (electrode vector -> image, E1).
    image_size
        Side ``H = W`` of the square topomap; must be divisible by 8 (three stride-2 stages).
    n_electrodes
        Electrodes per frame (32 for biosemi32/DEAP).
    latent_dim
        Latent size; for ``kind="decoder"`` it must equal ``n_electrodes`` (the latent *is*
        the electrode vector).
    filters
        Encoder conv filters, stage 1..3; the decoder mirrors them.
    activation
        ``leaky_relu`` | ``relu`` | ``gelu`` | ``solu`` (SoLU over channels followed by LayerNorm).
    leaky_slope
        Negative slope of LeakyReLU; 0.3 is the Keras default the paper's models used.
    dropout
        Dropout rate after every activation (0 disables it).
    """

    kind: str = "vae"
    image_size: int = 40
    n_electrodes: int = 32
    latent_dim: int = 32
    filters: tuple[int, int, int] = (32, 64, 128)
    activation: str = "leaky_relu"
    leaky_slope: float = 0.3
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.filters = tuple(_whole(f) for f in self.filters)
        self.validate()

    def validate(self, path: str | Path | None = None) -> None:
        """Raise :class:`ConfigError` naming the first impossible value."""

        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"model.{key}: {why}", path)

        if self.kind not in KINDS:
            raise bad("kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise bad("activation", f"{self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if (not is_int(self.image_size) or not 8 <= self.image_size <= MAX_IMAGE_SIZE
                or self.image_size % 8):
            raise bad("image_size", f"{self.image_size!r} must be a multiple of 8 in "
                      f"[8, {MAX_IMAGE_SIZE}]")
        check_int(self.n_electrodes, "model.n_electrodes", 1, MAX_ELECTRODES, path)
        check_int(self.latent_dim, "model.latent_dim", 1, MAX_LATENT, path)
        if self.kind == "decoder" and self.latent_dim != self.n_electrodes:
            raise bad("latent_dim", f"{self.latent_dim} must equal n_electrodes "
                      f"({self.n_electrodes}) for a decoder-only model")
        if len(self.filters) != 3 or any(not is_int(f) or not 1 <= f <= MAX_FILTERS
                                         for f in self.filters):
            raise bad("filters", f"{list(self.filters)} must be three integers in "
                      f"[1, {MAX_FILTERS}]")
        check_float(self.dropout, "model.dropout", 0.0, 1.0, path, hi_open=True)
        check_float(self.leaky_slope, "model.leaky_slope", 0.0, 1.0, path)
        n_params = self.parameter_count()
        if n_params > MAX_MODEL_PARAMS:
            raise ConfigError(f"model: {n_params} parameters (at most {MAX_MODEL_PARAMS})", path)

    def parameter_count(self) -> int:
        """Number of parameters the model would have, counted without allocating them."""
        import torch

        from eegmi.models.vae import build_model

        with torch.device("meta"):
            model = build_model(self)
        return int(sum(p.numel() for p in model.parameters()))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-ready dict."""
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | Path | None = None) -> ModelConfig:
        """Build from a dict; unknown keys or impossible values raise :class:`ConfigError`."""
        if not isinstance(d, dict):
            raise ConfigError("model: expected a table of settings", path)
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"model.{key}: unknown key (known: {', '.join(sorted(known))})",
                                  path)
        types = {"image_size": int, "n_electrodes": int, "latent_dim": int,
                 "leaky_slope": float, "dropout": float, "kind": str, "activation": str}
        clean: dict[str, Any] = {}
        for key, value in d.items():
            want = types.get(key)
            if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = as_float(value, f"model.{key}", path)
            elif want is not None and (not isinstance(value, want) or isinstance(value, bool)):
                raise ConfigError(f"model.{key}: {value!r} is not a {want.__name__}", path)
            if key == "filters":
                if (not isinstance(value, (list, tuple))
                        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
                    raise ConfigError(f"model.filters: {value!r} must be three integers", path)
                value = tuple(value)
            clean[key] = value
        try:
            return cls(**clean)
        except ConfigError as exc:
            raise ConfigError(exc.message, path) from None
