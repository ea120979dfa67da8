"""Settings of the pick & interpolate test and its bars, shared by the CLI and the GUI.

Kept free of torch and of the analysis so the GUI thread can build options and
read the bars without importing the model code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from eegmi.analysis.inputs import InputSpec
from eegmi.analysis.options_json import known_fields
from eegmi.errors import ConfigError

#: a network that is the mechanism must reach this on pick and interpolate
HEADLINE_BAR = 0.99
#: canonical correlations at or above this count as a shared dimension
SHARED_RHO = 0.9


@dataclass(frozen=True)
class PickInterpolateOptions:
    """Everything that decides a pick & interpolate result (CLI and GUI share it).

    Attributes
    ----------
    inputs
        Which inputs (default: 1024 held-out frames of the model's validation split).
    folds
        Cross-validation folds of the read-out and the CCA.
    controls
        Score the four control networks too.
    pca_frames
        Training frames the PCA baseline is fitted on.
    batch_size
        Inputs per forward pass.
    """

    inputs: InputSpec = InputSpec(count=1024)
    folds: int = 5
    controls: bool = True
    pca_frames: int = 2048
    batch_size: int = 256

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any) -> PickInterpolateOptions:
        """The options of ``to_json()`` output; unknown keys or bad values -> ConfigError."""
        fields = known_fields(cls, d, "pick & interpolate")
        if "inputs" in fields:
            fields["inputs"] = InputSpec.from_json(fields["inputs"])
        opts = cls(**fields)
        for name in ("folds", "pca_frames", "batch_size"):
            v = getattr(opts, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"pick & interpolate options: {name} must be an integer >= 1, "
                                  f"got {v!r}")
        if opts.folds < 2:
            raise ConfigError(f"pick & interpolate options: folds must be >= 2, got {opts.folds}")
        if not isinstance(opts.controls, bool):
            raise ConfigError(f"pick & interpolate options: controls must be true or false, "
                              f"got {opts.controls!r}")
        return opts

    def with_data(self, data: str | None) -> PickInterpolateOptions:
        """The same options drawing held-out frames from ``data``."""
        s = self.inputs
        return replace(self, inputs=InputSpec(kind=s.kind, count=s.count, seed=s.seed, data=data))

    def cli_args(self) -> str:
        """The ``eegmi analyze pick-interpolate`` options that reproduce these settings."""
        s = self.inputs
        args = [f"--inputs {s.kind}", f"--count {s.count}", f"--seed {s.seed}"]
        if s.data:
            args.append(f"--data {s.data}")
        if self.folds != 5:
            args.append(f"--folds {self.folds}")
        if not self.controls:
            args.append("--no-controls")
        return " ".join(args)
