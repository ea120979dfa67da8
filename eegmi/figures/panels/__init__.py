"""One module per panel figure (``FIGURE: PanelFigure``); see :mod:`eegmi.figures.panel`."""
