"""The SAE gallery panel's publication figure (:mod:`eegmi.figures.panels.sae`): the
cards shown, in the panel's order, with the gallery's recipe state."""

from __future__ import annotations

from typing import Any

from eegmi.errors import ConfigError
from eegmi.figures.panel import figure_state
from eegmi.figures.panels import sae as sae_figure
from eegmi.recipes.base import state_of
from eegmi.recipes.sae import SAE_GALLERY, SaeGalleryResult


class SaeFigureMixin:
    """``figure_view``/``figure_data``/``figure_state`` of :class:`SaeGalleryPanel` (it
    holds ``model``, ``data``, ``loaded``, ``_gallery_run``, ``session`` and ``title``)."""

    model: Any
    data: Any
    loaded: Any
    session: Any
    title: str
    _gallery_run: Any

    def figure_view(self) -> dict[str, Any]:
        """Panel settings that change the figure: the cards' sort and search, how many."""
        return {"sort": self.model.sort_key, "search": self.model.query, "cards": sae_figure.CARDS}

    def figure_data(self) -> dict[str, Any]:
        """The figure's numbers from the gallery shown
        (:func:`eegmi.figures.panels.sae.data_from_result`)."""
        if self.data is None or self.loaded is None:
            raise ConfigError(sae_figure.NOT_RUN)
        return sae_figure.data_from_result(SaeGalleryResult(data=self.data, sae=self.loaded),
                                           self.session.operator, self.figure_view())

    def figure_state(self) -> dict[str, Any]:
        """The figure state: the workbench, the gallery's recipe state, sort and search."""
        if self.data is None or self._gallery_run is None:
            raise ConfigError(sae_figure.NOT_RUN)
        opts, ctx = self._gallery_run
        return figure_state("sae", self.title, self.session.state(),
                            analysis=state_of(SAE_GALLERY, opts, ctx), view=self.figure_view(),
                            render={"height_in": sae_figure.HEIGHT_IN})

