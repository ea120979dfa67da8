"""Names and settings of the attribution methods (no torch here: the CLI builds its
argument parsers from them without importing captum)."""

from __future__ import annotations

from dataclasses import dataclass

from eegmi.errors import ConfigError

METHODS = ("saliency", "input_x_gradient", "smoothgrad", "integrated_gradients",
           "guided_backprop", "gradcam")
ALIASES = {"grad": "saliency", "vanilla": "saliency", "gradient": "saliency",
           "ixg": "input_x_gradient", "gxi": "input_x_gradient", "sg": "smoothgrad",
           "ig": "integrated_gradients", "gbp": "guided_backprop", "guided": "guided_backprop",
           "grad-cam": "gradcam", "grad_cam": "gradcam"}


def method_name(name: str) -> str:
    """Canonical method name for ``name`` or one of its short aliases (``ig``, ``sg``...)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise ConfigError(f"unknown saliency method {name!r} (known: {', '.join(METHODS)}; "
                          f"aliases: {', '.join(sorted(ALIASES))})")
    return key


@dataclass
class AttributionOptions:
    """Method settings (defaults follow the methods' papers).

    Attributes
    ----------
    nt_samples, noise
        SmoothGrad samples and noise std as a fraction of the input's range.
    ig_steps
        Integrated Gradients path steps.
    layer
        Hook point Grad-CAM attributes to (an encoder conv/activation output).
    seed
        Seeds SmoothGrad's noise so maps are reproducible.
    """

    nt_samples: int = 16
    noise: float = 0.15
    ig_steps: int = 32
    layer: str = "enc.act3"
    seed: int = 0
