"""The panel registry the main window builds its docks from.

Each entry names a module and a QWidget class taking ``session``; modules that
are not part of this build yet are skipped, so panels written in parallel can
land independently.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from PySide6.QtCore import Qt


@dataclass(frozen=True)
class PanelSpec:
    """Where a panel class lives and where its dock starts."""

    name: str
    title: str
    module: str
    cls: str
    area: Qt.DockWidgetArea = Qt.DockWidgetArea.LeftDockWidgetArea


L = Qt.DockWidgetArea.LeftDockWidgetArea
R = Qt.DockWidgetArea.RightDockWidgetArea
B = Qt.DockWidgetArea.BottomDockWidgetArea

PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("scalp", "Scalp map and input", "app.panels.scalp", "ScalpPanel", L),
    PanelSpec("reconstruction", "Reconstruction", "app.panels.reconstruction",
              "ReconstructionPanel", R),
    PanelSpec("activations", "Activations", "app.panels.activations", "ActivationsPanel", R),
    PanelSpec("latents", "Latents", "app.panels.latents", "LatentsPanel", B),
    PanelSpec("training", "Training", "app.panels.training", "TrainingPanel", B),
    PanelSpec("propagation", "Propagation", "app.panels.propagation", "PropagationPanel", B),
    PanelSpec("spectra", "Eigenspectra", "app.panels.spectra", "SpectraPanel", B),
    PanelSpec("saliency", "Saliency", "app.panels.saliency", "SaliencyPanel", B),
    PanelSpec("sae", "SAE features", "app.panels.sae_gallery", "SaeGalleryPanel", B),
)


def available_panels() -> list[tuple[PanelSpec, type]]:
    """(spec, class) for every registered panel whose module exists in this build."""
    out = []
    for spec in PANELS:
        try:
            module = importlib.import_module(spec.module)
        except ModuleNotFoundError as exc:
            if exc.name == spec.module:
                continue  # not written yet
            raise
        cls = getattr(module, spec.cls, None)
        if cls is not None:
            out.append((spec, cls))
    return out
