"""Options of one saliency run (recipe ``saliency``), defined once for the CLI and the GUI.

``eegmi analyze saliency`` builds its argument defaults from :class:`SaliencyOptions()`;
the saliency panel starts its method box from them and runs the recipe with the
session's current input vector in ``values``.  No torch here (the CLI builds its
parser from this module).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from eegmi.analysis.inputs import InputSpec
from eegmi.analysis.options_json import as_tuple, known_fields
from eegmi.analysis.saliency_methods import AttributionOptions, method_name
from eegmi.errors import ConfigError

_ATTR = AttributionOptions()


@dataclass(frozen=True)
class SaliencyOptions:
    """Everything one saliency run depends on besides the model.

    Attributes
    ----------
    methods
        Canonical method names (aliases accepted); the panel runs one.
    target
        ``latent:K``, ``pixel:R,C`` or ``region:R0,C0,R1,C1`` (end exclusive).
    values
        One scaled electrode vector ``(n,)`` to attribute (the GUI's current input);
        empty: use ``mix`` or the input set.
    mix
        ``(electrode name, amplitude)`` pairs: attribute their mix (the CLI's
        ``--electrodes``); empty: use ``values`` or the input set.
    inputs, count, data
        The input set when neither ``values`` nor ``mix`` is given: held-out frames
        (of ``data``, None: the model's own training source) or random mixes.
    seed
        Seeds the input subset and SmoothGrad's noise.
    nt_samples, noise, ig_steps, layer
        Method settings (:class:`~eegmi.analysis.saliency_methods.AttributionOptions`).
    batch_size
        Inputs per attribution call.
    """

    methods: tuple[str, ...] = ("integrated_gradients",)
    target: str = "latent:0"
    values: tuple[float, ...] = ()
    mix: tuple[tuple[str, float], ...] = ()
    inputs: str = "heldout"
    count: int = 4
    data: str | None = None
    seed: int = 0
    nt_samples: int = _ATTR.nt_samples
    noise: float = _ATTR.noise
    ig_steps: int = _ATTR.ig_steps
    layer: str = _ATTR.layer
    batch_size: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            object.__setattr__(self, "methods", (self.methods,))
        object.__setattr__(self, "methods",
                           tuple(dict.fromkeys(method_name(m) for m in self.methods)))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "mix", tuple((str(n), float(a)) for n, a in self.mix))
        if not self.methods:
            raise ConfigError("saliency needs at least one method")
        if self.values and self.mix:
            raise ConfigError("give either an input vector or an electrode mix, not both")
        if not all(math.isfinite(v) for v in self.values) or \
                not all(math.isfinite(a) for _, a in self.mix):
            raise ConfigError("input values and amplitudes must be finite")
        if self.inputs not in ("heldout", "random"):
            raise ConfigError(f"inputs must be 'heldout' or 'random', got {self.inputs!r}")
        if self.count < 1 or self.batch_size < 1:
            raise ConfigError("count and batch size must be at least 1")
        if self.nt_samples < 1 or self.ig_steps < 2 or self.noise < 0:
            raise ConfigError("nt-samples >= 1, ig-steps >= 2 and noise >= 0 are required")

    def attribution(self) -> AttributionOptions:
        return AttributionOptions(nt_samples=self.nt_samples, noise=self.noise,
                                  ig_steps=self.ig_steps, layer=self.layer, seed=self.seed)

    def input_spec(self) -> InputSpec:
        return InputSpec(kind=self.inputs, count=self.count, seed=self.seed,  # type: ignore[arg-type]
                         data=self.data)

    def mix_values(self, ch_names: tuple[str, ...]) -> np.ndarray:
        """``(1, n)`` float32 vector of :attr:`mix` over electrodes ``ch_names``."""
        lookup = {n.lower(): i for i, n in enumerate(ch_names)}
        v = np.zeros((1, len(ch_names)), np.float32)
        for name, amp in self.mix:
            if name.lower() not in lookup:
                raise ConfigError(f"unknown electrode {name!r} (known: {', '.join(ch_names)})")
            v[0, lookup[name.lower()]] = amp
        return v

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.methods)
        d["values"] = list(self.values)
        d["mix"] = {n: a for n, a in self.mix}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SaliencyOptions:
        """The options of :meth:`to_json` output; unknown keys raise ConfigError."""
        kw = known_fields(cls, d, "saliency")
        if "methods" in kw:
            kw["methods"] = as_tuple(kw["methods"], "saliency options 'methods'")
        if "values" in kw:
            kw["values"] = as_tuple(kw["values"], "saliency options 'values'")
        if "mix" in kw:
            m = kw["mix"]
            if not isinstance(m, dict):
                raise ConfigError("saliency options 'mix' must be an object electrode -> amplitude")
            kw["mix"] = tuple(m.items())
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"saliency options: {exc}") from None
