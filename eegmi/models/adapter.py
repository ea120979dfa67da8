"""One loaded model and everything needed to feed it and read it (Qt-free).

:class:`ModelAdapter` is the single place that knows, for a model,

- its **input pipeline**: scaled electrode vectors ``(B, n)`` -> clean topomaps
  ``(B, 1, H, W)`` (the operator) -> the injection layer (marks / occlusion) ->
  the model input, which is the vector itself for the decoder-only E1;
- its **input kind** (``"values"`` or ``"image"``) and **latent hook**
  (``"latent.z"`` for E1, ``"latent.mu"`` for a VAE);
- how to **decode** a latent vector and how to **capture** hook points
  (:meth:`capture`, one context manager for every analysis).

Analyses, the CLI and the GUI worker all build it with :func:`adapt` instead of
branching on ``config.kind`` themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eegmi.errors import ConfigError

#: model kinds whose input is the electrode vector itself (no image)
VALUE_INPUT_KINDS = frozenset({"decoder"})


def injection_for(operator: Any, config: Any) -> Any:
    """The :class:`~eegmi.data.injection.Injection` of ``config``, or None when the
    model uses neither marks nor occlusion (its input is the clean image)."""
    if config is None or not (getattr(config, "marks", False) or getattr(config, "occlusion", False)):
        return None
    from eegmi.data.injection import Injection

    return Injection(operator, config)


@dataclass
class ModelAdapter:
    """A model with its input pipeline.

    Attributes
    ----------
    kind
        ``"vae"`` (image input) or ``"decoder"`` (the vector itself is the input, E1).
    operator
        The topomap operator (``render_torch``, ``matrix``, ``head_mask``...).
    injection
        The model's injection layer, or None when it uses neither marks nor occlusion.
    model
        The :class:`~eegmi.models.hooks.HookedModel`, or None for an input pipeline
        without a model (controls that only need the images).
    """

    kind: str
    operator: Any
    injection: Any = None
    model: Any = None

    # -- what the model takes and gives ------------------------------------------
    @property
    def input_kind(self) -> str:
        """``"values"`` (electrode vectors ``(B, n)``) or ``"image"`` (``(B, 1, H, W)``)."""
        return "values" if self.kind in VALUE_INPUT_KINDS else "image"

    @property
    def takes_values(self) -> bool:
        """True when the model input is the electrode vector itself (E1)."""
        return self.input_kind == "values"

    @property
    def latent_hook(self) -> str:
        """The hook point holding the latent code: ``latent.z`` (E1) or ``latent.mu``."""
        return "latent.z" if self.takes_values else "latent.mu"

    @property
    def has_variance(self) -> bool:
        """True when the model has ``latent.mu`` and ``latent.logvar`` (a VAE)."""
        return not self.takes_values

    @property
    def ch_names(self) -> tuple[str, ...]:
        return tuple(self.operator.montage.ch_names)

    @property
    def n_electrodes(self) -> int:
        return len(self.ch_names)

    # -- the input pipeline ----------------------------------------------------------
    def images(self, values: torch.Tensor) -> torch.Tensor:
        """Clean rendered images ``(B, 1, H, W)`` of ``values (B, n)`` (differentiable)."""
        return self.operator.render_torch(values)

    def inject(self, images: torch.Tensor) -> torch.Tensor:
        """Apply the injection layer (identity when the model has none)."""
        return images if self.injection is None else self.injection.apply(images)

    def model_input(self, values: torch.Tensor) -> torch.Tensor:
        """The model input for ``values (B, n)``: ``(B, n)`` for E1, else ``(B, 1, H, W)``."""
        if self.takes_values:
            return values
        return self.inject(self.images(values))

    def shown_input(self, values: np.ndarray) -> np.ndarray:
        """The image the model sees for ``values (..., n)``, as ``(..., H, W)`` float32.

        For E1 (vector input) this is the clean topomap of the vector; for image
        models it is the topomap after the injection layer.
        """
        image = np.asarray(self.operator.render(np.asarray(values, np.float32)), np.float32)
        if self.injection is None:
            return image
        return np.asarray(self.injection.apply_np(image), dtype=np.float32)

    # -- running the model -----------------------------------------------------------
    def _need_model(self) -> Any:
        if self.model is None:
            raise ConfigError("this input pipeline has no model")
        return self.model

    def hook_names(self) -> list[str]:
        """Every hook point of the model, in forward order."""
        return list(self._need_model().hook_names())

    def encoder_hooks(self) -> list[str]:
        """Hook points up to and including the latent hook, in forward order."""
        names = self.hook_names()
        if self.latent_hook not in names:
            return names
        return names[: names.index(self.latent_hook) + 1]

    def decoder_hooks(self) -> list[str]:
        """Hook points the decoder computes from a latent vector (``dec.*`` and ``out``)."""
        return [n for n in self.hook_names() if n.startswith("dec.") or n == "out"]

    @contextmanager
    def capture(self, names: Iterable[str] | None = None,
                detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Record hook points while the block runs the model (any entry point).

        Parameters
        ----------
        names
            Hook points to record (``None``: all of them).
        detach
            Detach recorded tensors (set False for gradient-based analyses).

        Yields
        ------
        dict name -> Tensor ``(B, ...)``, filled as the block's forward passes run
        (a later pass overwrites an earlier one's entries).
        """
        with self._need_model().capture(names, detach=detach) as cache:
            yield cache

    def forward(self, values: torch.Tensor) -> Any:
        """Run the model on electrode vectors ``(B, n)`` through the input pipeline."""
        return self._need_model()(self.model_input(values))

    def decode(self, z: torch.Tensor) -> Any:
        """Run the decoder on latent vectors ``z (B, d)`` (E1's whole model is its decoder)."""
        model = self._need_model()
        return model(z) if self.takes_values else model.decode(z)


def recon_of(output: Any) -> torch.Tensor:
    """The reconstruction tensor of a model output (a VAE returns a named tuple)."""
    return output if isinstance(output, torch.Tensor) else output.recon


def adapt(loaded: Any, operator: Any = None) -> ModelAdapter:
    """The :class:`ModelAdapter` of a ``LoadedModel`` (see ``load_checkpoint``).

    Parameters
    ----------
    loaded
        Has ``model``, ``config`` (``kind``), ``operator`` and ``injection_config``.
    operator
        Overrides ``loaded.operator`` (same montage and size).
    """
    op = operator if operator is not None else loaded.operator
    return ModelAdapter(kind=str(getattr(loaded.config, "kind", "vae")), operator=op,
                        injection=injection_for(op, getattr(loaded, "injection_config", None)),
                        model=getattr(loaded, "model", None))
