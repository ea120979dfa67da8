"""The SAE panel's pieces: the gallery panel, its settings column and the feature cards."""

from app.panels.sae.panel import SaeGalleryPanel

__all__ = ["SaeGalleryPanel"]
