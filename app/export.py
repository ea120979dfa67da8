"""Export any panel: its publication figure (PDF/SVG/PNG), its numbers (.npz) and state (.json).

``export_panel(panel, "out/fig", ["png", "svg", "pdf", "npz", "json"])`` writes
``out/fig.png`` etc.  A panel with a figure (``figure_data`` / ``figure_state``, see
:mod:`app.panels.base`) is drawn by :func:`eegmi.figures.export.write_panel_figure`
from the numbers it shows, never from its widgets: the ``.json`` is the figure state
(``eegmi figures --from out/fig.json --out fig.pdf`` re-renders it headless) plus the
figure's JSON-able data and the names of the arrays in the ``.npz``.

The widget grab of the old export survives as the **screenshot** export
(``screenshot=True``, File › Export panel › "Screenshot of the panel"), and is what a
panel without a figure still gets: PNG/SVG/PDF of the widget as drawn on screen, the
``.npz`` of ``export_items()`` and a ``.json`` with ``{"panel", "state", "items",
"arrays", "array_shapes"}``.  Every file is written through :func:`eegmi.paths.atomic_path`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QMarginsF, QPoint, QRect, QSize, QSizeF
from PySide6.QtGui import QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from eegmi.errors import ConfigError
from eegmi.paths import atomic_path

FORMATS = ("png", "svg", "pdf", "npz", "json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def split_items(items: dict[str, object]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Numeric arrays (for .npz) and everything else (for .json)."""
    arrays, other = {}, {}
    for k, v in items.items():
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
            arrays[k] = v
        else:
            other[k] = _jsonable(v)
    return arrays, other


def render_png(widget: QWidget, path: Path, size: tuple[int, int] | None = None,
               dpi: int = 150) -> None:
    """Grab ``widget`` (at ``size`` pixels when given) into a PNG tagged with ``dpi``."""
    if size is None:
        image = widget.grab().toImage()
    else:
        from PySide6.QtGui import QImage

        image = QImage(QSize(*size), QImage.Format.Format_ARGB32)
        image.fill(0xFFFFFFFF)
        painter = QPainter(image)
        src = widget.size()
        painter.scale(size[0] / max(src.width(), 1), size[1] / max(src.height(), 1))
        widget.render(painter, QPoint(0, 0))
        painter.end()
    dpm = int(round(dpi / 0.0254))
    image.setDotsPerMeterX(dpm)
    image.setDotsPerMeterY(dpm)
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise ConfigError("could not write PNG", path=path)


def render_svg(widget: QWidget, path: Path, title: str = "") -> None:
    """Render ``widget`` as SVG with QSvgGenerator."""
    with atomic_path(path) as tmp:
        gen = QSvgGenerator()
        gen.setFileName(str(tmp))
        gen.setSize(widget.size())
        gen.setViewBox(QRect(0, 0, widget.width(), widget.height()))
        gen.setTitle(title or widget.windowTitle() or "eegmi panel")
        painter = QPainter(gen)
        widget.render(painter, QPoint(0, 0))
        painter.end()


def render_pdf(widget: QWidget, path: Path, dpi: int = 150) -> None:
    """Render ``widget`` on one PDF page of its own size."""
    with atomic_path(path) as tmp:
        writer = QPdfWriter(str(tmp))
        writer.setResolution(dpi)
        size_pt = QSizeF(widget.width() * 72.0 / 96.0, widget.height() * 72.0 / 96.0)
        writer.setPageSize(QPageSize(size_pt, QPageSize.Unit.Point, "panel"))
        writer.setPageMargins(QMarginsF(0, 0, 0, 0))
        painter = QPainter(writer)
        scale = writer.width() / max(widget.width(), 1)
        painter.scale(scale, scale)
        widget.render(painter, QPoint(0, 0))
        painter.end()


def has_figure(panel: Any) -> bool:
    """True when ``panel`` exports a publication figure (``figure_state`` of its own)."""
    check = getattr(panel, "has_figure", None)
    if callable(check):
        return bool(check())
    return callable(getattr(panel, "figure_state", None)) and callable(
        getattr(panel, "figure_data", None))


def figure_render(state: dict[str, Any], size: tuple[int, int] | None, dpi: int) -> dict[str, Any]:
    """``state["render"]`` for ``size`` pixels (None: the panel's default inches) at ``dpi``."""
    render = dict(state.get("render") or {})
    render["dpi"] = int(dpi)
    if size is not None:
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise ConfigError(f"figure size must be positive, got {w} x {h} pixels")
        # the PNG is then exactly w x h pixels (matplotlib rounds figsize * dpi)
        render["width_in"], render["height_in"] = w / float(dpi), h / float(dpi)
    return render


def export_panel(panel: Any, path_base: str | Path, formats: list[str] | tuple[str, ...] = FORMATS,
                 size: tuple[int, int] | None = None, dpi: int = 150,
                 screenshot: bool = False) -> list[Path]:
    """Write ``path_base.<fmt>`` for each format; returns the files written.

    Parameters
    ----------
    panel : QWidget panel (``figure_data()``/``figure_state()``, else ``export_items()``
        and ``state()``)
    path_base : str or Path
        Output path without extension (an extension given is dropped).
    formats : subset of ``FORMATS``
    size : (width, height) in pixels at ``dpi`` (the figure is ``size / dpi`` inches),
        or None for the figure's default size (a screenshot: the on-screen size)
    dpi : int
        Resolution of the figure (PNG pixels per inch; vector output is the same size).
    screenshot : grab the widget as drawn instead of rendering the figure from its data
    """
    base = Path(path_base)
    if base.suffix.lower().lstrip(".") in FORMATS:
        base = base.with_suffix("")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {unknown}; use {list(FORMATS)}", path=base)
    if not screenshot and has_figure(panel):
        from eegmi.figures.export import write_panel_figure

        pending = panel.figure_pending() if hasattr(panel, "figure_pending") else ""
        if pending:
            raise ConfigError(f"the panel is still computing ({pending}); export again when "
                              "it shows its result", path=base)
        state = dict(panel.figure_state())
        state["render"] = figure_render(state, size, dpi)
        # the panel's full settings too (what the figure does not need to re-render, e.g.
        # the SAE gallery's sort and search), so the file still says what produced the view
        if hasattr(panel, "state"):
            state["panel_state"] = panel.state()
        data = dict(panel.figure_data())
        # the .npz also keeps the panel's other numbers (e.g. the SAE gallery's statistics)
        # that the figure does not draw; the figure's own keys win, so it re-renders as is
        extra, _ = split_items(panel.export_items() if hasattr(panel, "export_items") else {})
        data.update({k: v for k, v in extra.items() if k not in data})
        return write_panel_figure(base, data, state, list(formats))
    return export_screenshot(panel, base, formats, size, dpi)


def export_screenshot(panel: Any, base: Path, formats: list[str] | tuple[str, ...] = FORMATS,
                      size: tuple[int, int] | None = None, dpi: int = 150) -> list[Path]:
    """The widget grab: ``base.<fmt>`` of the panel as drawn, its items and state."""
    written: list[Path] = []
    items = panel.export_items() if hasattr(panel, "export_items") else {}
    arrays, other = split_items(items)
    for fmt in formats:
        out = base.with_suffix(f".{fmt}")
        if fmt == "png":
            render_png(panel, out, size, dpi)
        elif fmt == "svg":
            render_svg(panel, out, getattr(panel, "title", ""))
        elif fmt == "pdf":
            render_pdf(panel, out, dpi)
        elif fmt == "npz":
            with atomic_path(out) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        elif fmt == "json":
            doc = {"panel": getattr(panel, "title", type(panel).__name__),
                   "screenshot": True,
                   "state": _jsonable(panel.state() if hasattr(panel, "state") else {}),
                   "items": other, "arrays": sorted(arrays),
                   "array_shapes": {k: list(v.shape) for k, v in arrays.items()}}
            with atomic_path(out) as tmp:
                tmp.write_text(json.dumps(doc, indent=2, allow_nan=True))
        written.append(out)
    return written
