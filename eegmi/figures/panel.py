"""The contract between a workbench panel and its publication figure.

A panel figure is two pure functions, found by the panel's name:

``compute(state, device) -> Job[dict]``
    Recomputes the figure's data headless from the state alone (load the model and
    data the state names, replay the input, re-run the analysis).  ``eegmi figures
    --from STATE.json`` uses it; the GUI does not (it hands over the data it shows).
``render(data, state) -> Figure``
    Draws the figure from that data and the state (titles, units, colour bars,
    electrode labels, caption) in the style of :mod:`eegmi.figures.style`.  It
    never sees a widget, so what is scrolled out of view or hovered does not matter.

The state is a JSON document (``FIGURE_VERSION``)::

    {"figure_version": 1,
     "panel": "activations",                  # the name a figure module registers
     "title": "Activations",
     "workbench": {"model": ..., "data": ..., "input": {...}, "values": [...],
                   "channels": [...]},        # Workbench.state() / Session.state()
     "analysis": {...} | None,                # eegmi.recipes.base.state_of(...) if any
     "view": {...},                           # panel settings that change the figure
     "render": {"width_in": 7.0, "height_in": 4.5, "dpi": 300}}

Each figure module ``eegmi.figures.panels.<name>`` defines ``FIGURE: PanelFigure``.
Modules are looked up by name on use (:func:`panel_figure`); :data:`PANELS` lists them
all, and a test imports every one, so none can be missing silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eegmi.errors import ConfigError
from eegmi.jobs import Job

FIGURE_VERSION = 1

#: every panel that exports a figure, by the name used in states and in
#: ``eegmi.figures.panels.<name>``
PANELS = ("scalp", "reconstruction", "activations", "latents", "propagation", "spectra",
          "saliency", "sae", "training", "compare")

Compute = Callable[[Mapping[str, Any], str], Job[dict[str, Any]]]
Render = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


@dataclass(frozen=True)
class PanelFigure:
    """How one panel's figure is recomputed (``compute``) and drawn (``render``)."""

    name: str
    compute: Compute
    render: Render


def panel_figure(name: str) -> PanelFigure:
    """The :class:`PanelFigure` registered for panel ``name``.

    Raises
    ------
    ConfigError
        For a name that is not in :data:`PANELS`.
    """
    if name not in PANELS:
        raise ConfigError(f"no figure for panel {name!r}; known panels: {', '.join(PANELS)}")
    module = importlib.import_module(f"eegmi.figures.panels.{name}")
    figure = getattr(module, "FIGURE", None)
    if not isinstance(figure, PanelFigure) or figure.name != name:
        raise ConfigError(f"eegmi.figures.panels.{name} defines no FIGURE for {name!r}")
    return figure


def figure_state(panel: str, title: str, workbench: Mapping[str, Any],
                 analysis: Mapping[str, Any] | None = None,
                 view: Mapping[str, Any] | None = None,
                 render: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a state document (see the module docstring) from its parts."""
    from eegmi.figures.style import DEFAULT_DPI, DEFAULT_SIZE_IN

    size = {"width_in": DEFAULT_SIZE_IN[0], "height_in": DEFAULT_SIZE_IN[1], "dpi": DEFAULT_DPI}
    size.update(dict(render or {}))
    return {"figure_version": FIGURE_VERSION, "panel": panel, "title": title,
            "workbench": dict(workbench),
            "analysis": None if analysis is None else dict(analysis),
            "view": dict(view or {}), "render": size}


def check_state(state: Mapping[str, Any], source: str = "") -> None:
    """Refuse a state document this version cannot render, with one clear line."""
    if not isinstance(state, Mapping):
        raise ConfigError("a figure state must be a JSON object", path=source or None)
    version = state.get("figure_version")
    if version != FIGURE_VERSION:
        raise ConfigError(f"figure_version {version!r} is not {FIGURE_VERSION}; "
                          "export the figure again from this version", path=source or None)
    for key in ("panel", "workbench", "render"):
        if key not in state:
            raise ConfigError(f"figure state has no {key!r}", path=source or None)
