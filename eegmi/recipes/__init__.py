"""Analysis recipes shared by the CLI and the GUI; see :mod:`eegmi.recipes.base`."""

from __future__ import annotations

import importlib
from typing import Any

#: the recipe modules; importing one registers its recipes
RECIPE_MODULES: tuple[str, ...] = ("spectra", "saliency", "sae", "propagation", "latents")


def all_recipes() -> dict[str, Any]:
    """Every recipe by name (imports the recipe modules)."""
    from eegmi.recipes.base import REGISTRY

    for module in RECIPE_MODULES:
        importlib.import_module(f"eegmi.recipes.{module}")
    return dict(REGISTRY)
