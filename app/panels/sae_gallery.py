"""Old import path of the SAE panel (``app.panels.sae``), kept until the panel list names the package."""

from app.panels.sae import SaeGalleryPanel

__all__ = ["SaeGalleryPanel"]
