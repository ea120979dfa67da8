"""The panels of the workbench window, in the order their docks are built.

Every panel is imported here statically: a panel that fails to import stops the
window with its own error, rather than silently disappearing from the menus.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.panels.activations import ActivationsPanel
from app.panels.compare import ComparePanel
from app.panels.latents import LatentsPanel
from app.panels.propagation import PropagationPanel
from app.panels.reconstruction import ReconstructionPanel
from app.panels.sae import SaeGalleryPanel
from app.panels.saliency import SaliencyPanel
from app.panels.scalp import ScalpPanel
from app.panels.spectra import SpectraPanel
from app.panels.training import TrainingPanel


@dataclass(frozen=True)
class PanelSpec:
    """A panel class and where its dock starts."""

    name: str
    title: str
    cls: type[QWidget]
    area: Qt.DockWidgetArea = Qt.DockWidgetArea.LeftDockWidgetArea


L = Qt.DockWidgetArea.LeftDockWidgetArea
R = Qt.DockWidgetArea.RightDockWidgetArea
B = Qt.DockWidgetArea.BottomDockWidgetArea

PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("scalp", "Scalp map and input", ScalpPanel, L),
    PanelSpec("reconstruction", "Reconstruction", ReconstructionPanel, R),
    PanelSpec("activations", "Activations", ActivationsPanel, R),
    PanelSpec("latents", "Latents", LatentsPanel, B),
    PanelSpec("training", "Training", TrainingPanel, B),
    PanelSpec("propagation", "Propagation", PropagationPanel, B),
    PanelSpec("spectra", "Eigenspectra", SpectraPanel, B),
    PanelSpec("saliency", "Saliency", SaliencyPanel, B),
    PanelSpec("sae", "SAE features", SaeGalleryPanel, B),
    PanelSpec("compare", "Compare models", ComparePanel, B),
)
