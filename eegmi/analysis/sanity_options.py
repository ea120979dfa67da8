"""The options of the saliency sanity check, defined once for the CLI and the GUI.

``eegmi analyze sanity`` builds its argument defaults from :class:`SanityOptions()` and
the GUI's saliency panel starts from the same object, and both run
:func:`sanity_check`: the same model and options give the same verdicts.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from eegmi.analysis.inputs import InputSpec, analysis_inputs
from eegmi.analysis.options_json import as_tuple, known_fields
from eegmi.analysis.saliency_methods import METHODS, AttributionOptions, method_name
from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job

if TYPE_CHECKING:  # the CLI builds its parser from this module without importing torch
    from eegmi.analysis.saliency import Target
    from eegmi.analysis.sanity import SanityResult
    from eegmi.analysis.sanity_rule import SanityRule


@dataclass(frozen=True)
class SanityOptions:
    """Everything a sanity check depends on besides the model.

    Attributes
    ----------
    methods
        Canonical method names (default all six).
    target
        ``latent:K``, ``pixel:R,C`` or ``region:R0,C0,R1,C1``.
    inputs, count, data
        The input set (:class:`eegmi.analysis.inputs.InputSpec`): ``"heldout"`` frames
        (default) of ``data`` (``None``: the model's own training source) or
        ``"random"`` mixes; ``count`` of them.
    seed
        Seeds the input subset, the re-initialisation and SmoothGrad's noise.
    margin, floor, confidence, draws
        The :class:`eegmi.analysis.sanity_rule.SanityRule`.
    nt_samples, noise, ig_steps, layer
        Method settings (:class:`eegmi.analysis.saliency.AttributionOptions`).
    """

    methods: tuple[str, ...] = METHODS
    target: str = "latent:0"
    inputs: str = "heldout"
    count: int = 32
    data: str | None = None
    seed: int = 0
    margin: float = 0.1
    floor: float = 0.2
    confidence: float = 0.95
    draws: int = 3
    nt_samples: int = 16
    noise: float = 0.15
    ig_steps: int = 32
    layer: str = AttributionOptions.layer

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            object.__setattr__(self, "methods", (self.methods,))
        object.__setattr__(self, "methods", tuple(dict.fromkeys(method_name(m) for m in self.methods)))
        if self.inputs not in ("heldout", "random"):
            raise ConfigError(f"inputs must be 'heldout' or 'random', got {self.inputs!r}")
        if not self.methods:
            raise ConfigError("sanity check needs at least one method")
        if self.count < 2:
            raise ConfigError(f"sanity check needs at least 2 inputs, got {self.count}")
        if self.draws < 1:
            raise ConfigError(f"need at least 1 re-initialisation, got {self.draws}")
        if not (0 <= self.margin < 1 and 0 <= self.floor < 1 and 0.5 <= self.confidence < 1):
            raise ConfigError("margin and floor must be in [0, 1), confidence in [0.5, 1)")
        if self.nt_samples < 1 or self.ig_steps < 2 or self.noise < 0:
            raise ConfigError("nt-samples >= 1, ig-steps >= 2 and noise >= 0 are required")

    def input_spec(self) -> InputSpec:
        return InputSpec(kind=self.inputs, count=self.count, seed=self.seed,  # type: ignore[arg-type]
                         data=self.data)

    def rule(self) -> SanityRule:
        from eegmi.analysis.sanity_rule import SanityRule

        return SanityRule(margin=self.margin, floor=self.floor, confidence=self.confidence,
                          draws=self.draws)

    def attribution(self) -> AttributionOptions:
        return AttributionOptions(nt_samples=self.nt_samples, noise=self.noise,
                                  ig_steps=self.ig_steps, layer=self.layer, seed=self.seed)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SanityOptions:
        """The options of :meth:`to_json` output; unknown keys raise ConfigError."""
        kw = known_fields(cls, d, "sanity")
        if "methods" in kw:
            kw["methods"] = as_tuple(kw["methods"], "sanity options 'methods'")
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"sanity options: {exc}") from None

    def cli(self, model: str) -> str:
        """The ``eegmi analyze sanity`` command line computing the same thing."""
        parts = ["eegmi", "analyze", "sanity", model, "--methods", *self.methods]
        default = SanityOptions()
        flags = {"target": "--target", "inputs": "--inputs", "count": "--count", "data": "--data",
                 "seed": "--seed", "margin": "--margin", "floor": "--floor",
                 "confidence": "--confidence", "draws": "--draws",
                 "nt_samples": "--nt-samples", "noise": "--noise", "ig_steps": "--ig-steps",
                 "layer": "--layer"}
        for key, flag in flags.items():
            value = getattr(self, key)
            if value != getattr(default, key) and value is not None:
                parts += [flag, str(value)]
        return shlex.join(parts)


def parse_target(loaded: Any, spec: str) -> Target:
    """The :class:`Target` of ``spec`` for a loaded model, bounds checked (the latent
    hook and its width come from the model's :class:`~eegmi.models.adapter.ModelAdapter`:
    ``latent.mu`` of a VAE, ``latent.z`` of a decoder-only model)."""
    from eegmi.analysis.saliency import Target
    from eegmi.models.adapter import adapt

    adapter = adapt(loaded)
    target = Target.parse(spec, size=int(adapter.operator.size), latent_name=adapter.latent_hook)
    if target.kind == "latent":
        k = int(spec.split(":")[1])
        if k >= int(loaded.config.latent_dim):
            raise ConfigError(f"target {spec!r}: the model has {loaded.config.latent_dim} latents")
    return target


def sanity_check(loaded: Any, options: SanityOptions | None = None,
                 cancel: CancelToken | None = None) -> Job[SanityResult]:
    """Draw the inputs and run the cascading randomisation check (a job generator).

    Parameters
    ----------
    loaded
        A :class:`eegmi.training.checkpoint.LoadedModel`.
    options
        Default :class:`SanityOptions()` (32 held-out frames, all six methods, latent:0).

    Returns (as the job's result)
    -----------------------------
    :class:`eegmi.analysis.sanity.SanityResult`
    """
    from eegmi.analysis.sanity import cascading_randomization
    from eegmi.models.adapter import adapt

    opts = options or SanityOptions()
    pipe = adapt(loaded)
    if pipe.takes_values:
        raise ConfigError("sanity checks compare image maps; this is a decoder-only model")
    target = parse_target(loaded, opts.target)
    drawn = analysis_inputs(loaded, opts.input_spec())
    if drawn.values.shape[0] < 2:
        raise ConfigError(f"sanity check needs at least 2 inputs; {drawn.description}")
    result = yield from cascading_randomization(
        loaded.model, pipe, drawn.values, target, opts.methods, opts.attribution(),
        rule=opts.rule(), seed=opts.seed, cancel=cancel, inputs=drawn.to_json())
    return result
