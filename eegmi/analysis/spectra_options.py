"""Options of the eigenspectrum analysis shared by the CLI and the GUI (no torch import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eegmi.analysis.inputs import InputSpec
from eegmi.analysis.options_json import as_tuple, known_fields
from eegmi.analysis.powerlaw import FitPolicy
from eegmi.errors import ConfigError

#: one line stating the sign convention (CLI, JSON, figures)
CONVENTION = ("eigenvalue_k ∝ k^-alpha (alpha > 0 decays; larger is steeper); seed 001 plots "
              "the slope -alpha, its alpha = -1 line is alpha = 1 here")


@dataclass(frozen=True)
class SpectraOptions:
    """Defaults of the eigenspectrum analysis (recipe ``spectra``), shared by the CLI
    and the GUI: the panel's boxes start from these, the CLI's arguments default to them.

    Attributes
    ----------
    inputs, count, seed, data
        The input set (:class:`~eegmi.analysis.inputs.InputSpec`): held-out frames
        (``"heldout"``) or i.i.d. random mixes (``"random"``), how many (3000 is all
        of a bundled model's validation split), their seed, and the dataset
        (None: the model's own training source).
    layers
        Hook names; None: :func:`depth_layers` (activations, latent mean, output);
        ``"all"``: every hook point.
    max_dim, max_components
        Seed 001: keep every ``s``-th dimension so at most 8000 remain; at most
        1000 components.
    fit
        Fit window and warning thresholds (:class:`~eegmi.analysis.powerlaw.FitPolicy`).
    null_seeds
        Untrained networks in the null (0: none).
    batch_size, memory_mb
        Inputs per forward pass; memory for held activations per pass over the data.
    compare
        Other models (bundled names or checkpoint folders) whose α against depth is
        drawn beside the current one's, without a null of their own.
    projections
        Random 3-D projections of each depth layer's response to a moving dipole
        (the panel's trajectories and average action; 0: none, as
        ``eegmi analyze eigenspectrum`` runs; ``eegmi analyze projections`` has more).
    """

    inputs: str = "heldout"
    count: int = 3000
    seed: int = 0
    data: str | None = None
    layers: tuple[str, ...] | str | None = None
    max_dim: int | None = 8000
    max_components: int = 1000
    fit: FitPolicy = field(default_factory=FitPolicy)
    null_seeds: int = 3
    batch_size: int = 256
    memory_mb: int = 512
    compare: tuple[str, ...] = ()
    projections: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "compare", tuple(str(c) for c in self.compare))
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if self.inputs not in ("heldout", "random"):
            raise ConfigError(f"inputs must be 'heldout' or 'random', got {self.inputs!r}")
        if self.projections < 0:
            raise ConfigError(f"projections must be >= 0, got {self.projections}")
        if self.max_dim is not None and self.max_dim < 1:
            raise ConfigError(f"max dims must be >= 1, got {self.max_dim}")
        if self.count < 2:
            raise ConfigError(f"the spectra need at least 2 inputs, got {self.count}")
        if isinstance(self.layers, str) and self.layers != "all":
            raise ConfigError(f"layers must be hook names or 'all', got {self.layers!r}")
        if self.null_seeds < 0:
            raise ConfigError(f"null seeds must be >= 0, got {self.null_seeds}")

    def input_spec(self) -> InputSpec:
        return InputSpec(kind=self.inputs, count=self.count, seed=self.seed,  # type: ignore[arg-type]
                         data=self.data)

    def null_seed_list(self) -> list[int]:
        """Torch seeds of the untrained networks: ``seed + 1 ... seed + null_seeds``."""
        return [self.seed + 1 + i for i in range(self.null_seeds)]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit"] = self.fit.to_json()
        d["layers"] = self.layers if self.layers is None or isinstance(self.layers, str) \
            else list(self.layers)
        d["compare"] = list(self.compare)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SpectraOptions:
        """The options of :meth:`to_json` output; unknown keys raise ConfigError."""
        kw = known_fields(cls, d, "spectra")
        if "fit" in kw:
            fit = kw["fit"]
            if not isinstance(fit, dict):
                raise ConfigError("spectra options: 'fit' must be a JSON object")
            kw["fit"] = FitPolicy(**known_fields(FitPolicy, fit, "spectra fit"))
        if isinstance(kw.get("layers"), list):
            kw["layers"] = tuple(kw["layers"])
        if "compare" in kw:
            kw["compare"] = as_tuple(kw["compare"], "spectra options 'compare'")
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"spectra options: {exc}") from None


def depth_layers(hook_names: Sequence[str], latent_hook: str = "latent.mu") -> list[str]:
    """The layers along the depth axis: activations (the seed's ReLU units), the latent
    hook (``ModelAdapter.latent_hook``: the mean of a VAE, the input vector of a
    decoder-only model) and the output; pre-activation conv outputs would only repeat them."""
    keep = [n for n in hook_names if ".act" in n or n in (latent_hook, "out")]
    return keep or list(hook_names)


def layer_names(options: SpectraOptions, hook_names: Sequence[str],
                latent_hook: str = "latent.mu") -> list[str]:
    """The layers ``options`` ask for among a model's ``hook_names``."""
    if options.layers == "all":
        return list(hook_names)
    if options.layers:
        return list(options.layers)
    return depth_layers(hook_names, latent_hook)
