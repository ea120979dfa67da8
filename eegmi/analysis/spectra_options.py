"""Options of the eigenspectrum analysis shared by the CLI and the GUI (no torch import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eegmi.analysis.inputs import InputSpec
from eegmi.analysis.powerlaw import FitPolicy
from eegmi.errors import ConfigError

#: one line stating the sign convention (CLI, JSON, figures)
CONVENTION = ("eigenvalue_k ∝ k^-alpha (alpha > 0 decays; larger is steeper); seed 001 plots "
              "the slope -alpha, its alpha = -1 line is alpha = 1 here")


@dataclass(frozen=True)
class SpectraOptions:
    """Defaults of the eigenspectrum analysis, shared by the CLI and the GUI.

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

    def __post_init__(self) -> None:
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
        return d


def depth_layers(hook_names: Sequence[str], kind: str = "vae") -> list[str]:
    """The layers along the depth axis: activations (the seed's ReLU units), the latent
    mean (the decoder's input vector for a decoder-only model) and the output;
    pre-activation conv outputs would only repeat them."""
    latent = "latent.z" if kind == "decoder" else "latent.mu"
    keep = [n for n in hook_names if ".act" in n or n in (latent, "out")]
    return keep or list(hook_names)


def layer_names(options: SpectraOptions, hook_names: Sequence[str], kind: str = "vae"
                ) -> list[str]:
    """The layers ``options`` ask for among a model's ``hook_names``."""
    if options.layers == "all":
        return list(hook_names)
    if options.layers:
        return list(options.layers)
    return depth_layers(hook_names, kind)
