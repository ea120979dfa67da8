"""Publication figures, headless (matplotlib Agg; no Qt).

Two kinds live here:

* the paper-style figure set (:mod:`eegmi.figures.figure_set`): originals beside
  reconstructions for several models, the GUI's File › Figure set;
* panel figures (:mod:`eegmi.figures.panel`, :mod:`eegmi.figures.export`): every
  workbench panel's view rendered from its data and state (never from its widgets),
  in one style (:mod:`eegmi.figures.style`), written as PDF/SVG/PNG beside a ``.json``
  state that re-renders it with ``eegmi figures --from STATE.json``.
"""

from eegmi.figures.figure_set import default_frames, figure_set_job, render_pairs

__all__ = ["default_frames", "figure_set_job", "render_pairs"]
