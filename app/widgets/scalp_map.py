"""A clickable scalp: head outline with nose and ears, electrodes with labels.

Electrodes are drawn where the topomap operator puts them (``electrode_xy``,
sub-pixel image coordinates), so a click on a marker addresses exactly the
pixel the model sees.  The widget knows nothing about models: it reports
clicks and wheel turns as signals and paints the values it is given, coloured
between the levels it is given, with a colour bar of those levels on its right.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QStaticText,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.widgets.colour_bar import nice_ticks, tick_labels

_LUT = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256)


#: marker fill for colour index 0..255 (the image colour map, viridis between the
#: levels, so markers match the model input image), built once: a click recolours 32 markers
_COLOURS = [QColor(int(r), int(g), int(b)) for r, g, b in _LUT[:, :3]]
#: the colour bar's gradient, high values on top
_GRADIENT = np.ascontiguousarray(
    pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=True)[::-1].reshape(256, 1, 4))
#: colour bar: gradient width, tick length, gap before a label (pixels)
BAR_PX, BAR_TICK_PX, BAR_GAP_PX = 10, 3, 2


def head_geometry(operator: Any) -> tuple[np.ndarray, float]:
    """Centre (col, row) and radius in pixels of the operator's head disc."""
    if hasattr(operator, "head_radius") and hasattr(operator, "pixel_size"):
        c0 = operator.size // 2  # the operator's projection centre pixel
        return np.array([c0, c0], dtype=float), float(operator.head_radius / operator.pixel_size)
    rows, cols = np.nonzero(np.asarray(operator.head_mask, dtype=bool))
    center = np.array([cols.mean(), rows.mean()])
    return center, float(np.sqrt(len(rows) / np.pi))


class ScalpMap(QWidget):
    """Head view with clickable electrodes.

    Parameters
    ----------
    names : sequence of str, (n,)
    electrode_xy : (n, 2) float
        (col, row) image coordinates of each electrode in a ``size`` x ``size`` image.
    head_center : (2,) float
        (col, row) of the head disc centre in image coordinates.
    head_radius : float
        Head disc radius in image pixels.

    Signals
    -------
    electrodeClicked(int index, int modifiers)
        A left click on an electrode (modifiers as ``Qt.KeyboardModifier`` int).
    electrodeWheel(int index, int steps)
        Wheel steps (+/-) over an electrode.
    electrodeHovered(int index)
        The pointer moved onto electrode ``index`` (-1: off every electrode).
    """

    electrodeClicked = Signal(int, int)
    electrodeWheel = Signal(int, int)
    electrodeHovered = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.names: list[str] = []
        self.xy = np.zeros((0, 2))
        self.center = np.zeros(2)
        self.radius = 1.0
        self.values = np.zeros(0, dtype=np.float32)
        self.selected: dict[int, float] = {}
        #: the values at the bottom and the top of the colour scale
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.dark = False
        self._bar_ticks: list[tuple[float, str]] = []
        self._reserve: tuple[str, int] = ("", 0)
        self._hover = -1
        self._static_key: tuple | None = None
        self._static: tuple | None = None
        # background plus markers as last drawn, and what each marker showed then
        self._canvas: QPixmap | None = None
        self._canvas_of: QPixmap | None = None
        self._drawn: list[tuple[int, int, bool] | None] | None = None

    # -- data -------------------------------------------------------------------
    def set_geometry(self, names: list[str], electrode_xy: np.ndarray,
                     head_center: np.ndarray, head_radius: float) -> None:
        self.names = list(names)
        self.xy = np.asarray(electrode_xy, dtype=float).reshape(-1, 2)
        self.center = np.asarray(head_center, dtype=float)
        self.radius = float(head_radius)
        self.values = np.zeros(len(self.names), dtype=np.float32)
        self.selected = {}
        self.update()

    def set_values(self, values: np.ndarray, selected: dict[int, float] | None = None,
                   levels: tuple[float, float] | None = None) -> None:
        """Colour electrodes by ``values (n,)`` between ``levels = (lo, hi)`` (kept when
        None; values outside take the end colours); ``selected`` maps index -> amplitude."""
        values = np.asarray(values, dtype=np.float32)
        selected = self.selected if selected is None else dict(selected)
        levels = self.levels if levels is None else (float(levels[0]), float(levels[1]))
        if np.array_equal(values, self.values) and selected == self.selected and levels == self.levels:
            return  # shown already (the forward result repeats what a click set)
        if levels != self.levels:
            self.levels = levels
            self.update()  # a new scale: the bar and every marker are drawn again
        self.values, self.selected = values, selected
        self._request_repaint()

    def bar_ticks(self) -> list[tuple[float, str]]:
        """The colour bar's labelled ticks as last drawn, ``[(value, label), ...]`` ascending."""
        self._static_layer()
        return list(self._bar_ticks)

    def bar_rect(self) -> QRectF:
        """The colour bar's gradient in widget coordinates (bottom = ``levels[0]``)."""
        font = self._bar_font()
        half = 0.5 * font_height(font)
        h = self.height()
        top, bottom = 0.12 * h + half, 0.88 * h - half
        return QRectF(self.width() - self._bar_reserve() + 4, top, BAR_PX, max(bottom - top, 1.0))

    def _bar_font(self) -> QFont:
        font = QFont(self.font())
        size = font.pointSizeF()
        font.setPointSizeF(max(7.0, size - 1) if size > 0 else 8.0)
        return font

    def _bar_reserve(self) -> int:
        """Pixels kept free on the right for the colour bar and its labels."""
        key = self.font().key()
        if self._reserve[0] != key:  # measured once per font: every mouse move asks
            label = QFontMetricsF(self._bar_font()).horizontalAdvance("-0.00")
            self._reserve = (key, int(4 + BAR_PX + BAR_TICK_PX + BAR_GAP_PX + label + 4))
        return self._reserve[1]

    def set_dark(self, dark: bool) -> None:
        self.dark = dark
        self.update()

    # -- geometry ---------------------------------------------------------------
    def _transform(self) -> tuple[float, float, float]:
        """Scale and offset mapping image coordinates to widget coordinates."""
        w, h = self.width() - self._bar_reserve(), self.height()
        # leave room for nose and ears outside the disc
        scale = 0.80 * min(w, h) / (2 * self.radius)
        ox = w / 2 - self.center[0] * scale
        oy = h / 2 + 0.03 * min(w, h) - self.center[1] * scale
        return scale, ox, oy

    def electrode_pos(self, i: int) -> QPointF:
        """Widget position of electrode ``i`` (for tests and tooltips)."""
        s, ox, oy = self._transform()
        return QPointF(ox + self.xy[i, 0] * s, oy + self.xy[i, 1] * s)

    def _marker_radius(self) -> float:
        return max(6.0, 0.034 * min(self.width(), self.height()))

    def electrode_at(self, x: float, y: float) -> int:
        """Index of the electrode under widget point (x, y), or -1."""
        if len(self.names) == 0:
            return -1
        s, ox, oy = self._transform()
        pts = np.stack([ox + self.xy[:, 0] * s, oy + self.xy[:, 1] * s], axis=1)
        d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
        i = int(np.argmin(d))
        return i if d[i] <= 1.3 * self._marker_radius() else -1

    # -- events -----------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            i = self.electrode_at(event.position().x(), event.position().y())
            if i >= 0:
                self.electrodeClicked.emit(i, int(event.modifiers().value))
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        i = self.electrode_at(event.position().x(), event.position().y())
        if i != self._hover:
            self._hover = i
            self.setToolTip(self.names[i] if i >= 0 else "")
            self._request_repaint()
            self.electrodeHovered.emit(i)

    def wheelEvent(self, event: QWheelEvent) -> None:
        i = self.electrode_at(event.position().x(), event.position().y())
        steps = event.angleDelta().y() // 120
        if i >= 0 and steps:
            self.electrodeWheel.emit(i, int(steps))
            event.accept()
            return
        event.ignore()

    # -- painting ---------------------------------------------------------------
    def _static_layer(self) -> tuple[QPixmap, np.ndarray, list[QStaticText], float, QFont]:
        """What only changes with size, geometry or theme, built once per change.

        Returns the background pixmap (fill, head, nose, ears), the widget
        positions ``(n, 2)`` of the electrodes, their laid-out labels, the
        marker radius and the label font.  A click then repaints only the coloured markers (a
        Python loop over 32 electrodes drawing text cost most of a frame).
        """
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self.dark, tuple(self.names),
               self.xy.tobytes(), tuple(self.center), self.radius, self.font().key(), self.levels)
        if key == self._static_key and self._static is not None:
            return self._static
        fg = self._fg()
        pix = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        pix.setDevicePixelRatio(ratio)
        pix.fill(QColor(25, 25, 28) if self.dark else QColor(255, 255, 255))
        s, ox, oy = self._transform()
        pts = np.stack([ox + self.xy[:, 0] * s, oy + self.xy[:, 1] * s], axis=1) if len(self.names) \
            else np.zeros((0, 2))
        mr = self._marker_radius()
        font = QFont(self.font())
        font.setPixelSize(max(7, int(mr * 0.75)))
        labels = []
        for name in self.names:
            text = QStaticText(name)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.prepare(QTransform(), font)
            labels.append(text)
        if len(self.names):
            p = QPainter(pix)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            cx, cy = ox + self.center[0] * s, oy + self.center[1] * s
            r = self.radius * s
            p.setPen(QPen(fg, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(cx, cy), r, r)
            nose = QPainterPath(QPointF(cx - 0.12 * r, cy - 0.99 * r))
            nose.lineTo(QPointF(cx, cy - 1.13 * r))
            nose.lineTo(QPointF(cx + 0.12 * r, cy - 0.99 * r))
            p.drawPath(nose)
            for side in (-1, 1):
                p.drawArc(QRectF(cx + side * r - 0.08 * r, cy - 0.2 * r, 0.16 * r, 0.4 * r),
                          (90 if side < 0 else -90) * 16, 180 * 16)
            p.end()
        self._draw_bar(pix, fg)
        self._static_key = key
        self._static = (pix, pts, labels, mr, font)
        return self._static

    def _draw_bar(self, pix: QPixmap, fg: QColor) -> None:
        """The colour bar of :attr:`levels` with a few labelled ticks, onto ``pix``."""
        bar = self.bar_rect()
        font = self._bar_font()
        line = font_height(font)
        lo, hi = self.levels
        fit = max(2, min(6, int(bar.height() // (1.3 * line)) + 1))
        values, step = nice_ticks(lo, hi, fit)
        labels = tick_labels(values, step)
        if len(values) < 2:  # a span too short for nice ticks: its ends
            values, labels = [lo, hi], [f"{lo:.3g}", f"{hi:.3g}"]
        self._bar_ticks = list(zip(values, labels, strict=True))
        p = QPainter(pix)
        gradient = QImage(_GRADIENT.data, 1, 256, 4, QImage.Format.Format_RGBA8888)
        p.drawImage(bar, gradient)
        p.setPen(QPen(fg, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
        p.setFont(font)
        span = hi - lo if hi > lo else 1.0
        for v, text in self._bar_ticks:
            y = bar.bottom() - (v - lo) / span * bar.height()
            p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + BAR_TICK_PX, y))
            p.drawText(QPointF(bar.right() + BAR_TICK_PX + BAR_GAP_PX, y + 0.35 * line), text)
        p.end()

    def _fg(self) -> QColor:
        return QColor(230, 230, 230) if self.dark else QColor(30, 30, 30)

    def _marker_states(self) -> list[tuple[int, int, bool]]:
        """Per electrode what its marker shows: (colour index, outline kind, dark label)."""
        n = len(self.names)
        values = np.zeros(n, np.float32)
        k = min(len(self.values), n)
        lo, hi = self.levels
        values[:k] = (self.values[:k] - lo) / (hi - lo if hi > lo else 1.0)
        colour = np.rint(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255).astype(int).tolist()
        dark_text = (values > 0.55).tolist()
        return [(colour[i], 2 if i in self.selected else (1 if i == self._hover else 0), dark_text[i])
                for i in range(n)]

    def _marker_rect(self, pts: np.ndarray, mr: float, i: int) -> QRect:
        # the outline is up to 3 px wide, centred on the circle
        x, y = pts[i]
        return QRectF(x - mr - 3, y - mr - 3, 2 * mr + 6, 2 * mr + 6).toAlignedRect()

    def _request_repaint(self) -> None:
        """Schedule a repaint of the markers whose look changed (all of them at first)."""
        if self._static is None or self._drawn is None or len(self._drawn) != len(self.names):
            self.update()
            return
        _pix, pts, _labels, mr, _font = self._static
        for i, state in enumerate(self._marker_states()):
            if state != self._drawn[i]:
                self.update(self._marker_rect(pts, mr, i))

    def paintEvent(self, event: object) -> None:
        static, pts, labels, mr, font = self._static_layer()
        if self._canvas is None or self._canvas_of is not static:
            # a new background: every marker is drawn again on a fresh copy
            self._canvas, self._canvas_of = static.copy(), static
            self._drawn = [None] * len(self.names)
        states = self._marker_states()
        changed = [i for i, st in enumerate(states) if st != self._drawn[i]]
        if changed:
            # only changed markers are drawn: a one-hot click changes two of 32
            p = QPainter(self._canvas)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setFont(font)
            fg = self._fg()
            pens = (QPen(fg, 1), QPen(fg, 2), QPen(QColor(255, 170, 0), 3))
            text_pens = (QPen(QColor(255, 255, 255)), QPen(QColor(0, 0, 0)))
            for i in changed:
                colour, outline, dark_text = states[i]
                rect = QRectF(self._marker_rect(pts, mr, i))
                p.drawPixmap(rect, static, QRectF(rect.topLeft() * static.devicePixelRatio(),
                                                  rect.size() * static.devicePixelRatio()))
                x, y = pts[i]
                p.setBrush(_COLOURS[colour])
                p.setPen(pens[outline])
                p.drawEllipse(QPointF(x, y), mr, mr)
                # labels sit inside the markers so neighbours never overlap them
                p.setPen(text_pens[dark_text])
                size = labels[i].size()
                p.drawStaticText(QPointF(x - size.width() / 2, y - size.height() / 2), labels[i])
                self._drawn[i] = states[i]
            p.end()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._canvas)  # clipped by Qt to the region being repainted
        p.end()


def font_height(font: QFont) -> float:
    """Line height of ``font`` in pixels."""
    return QFontMetricsF(font).height()
