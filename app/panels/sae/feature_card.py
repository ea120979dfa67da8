"""SAE feature cards: a list model over gallery features and a delegate that paints them.

A :class:`QListView` in icon mode with uniform item sizes asks the delegate to paint
only the cards in view, so a dictionary of thousands of features scrolls smoothly;
thumbnails are turned into ``QImage`` on first paint and cached per feature.

Each card shows, for feature ``i``: its frequency, mean activation and selectivity;
the top dataset topomaps with their activations; the histogram of its nonzero
activations with the fraction of inputs on which it fires; the feature as a map
(decoder direction or top activation map, see :class:`eegmi.sae.gallery_data.GalleryData`);
its optimised input once computed; the electrodes whose one-hot signal drives it;
and a colour key per scale (the input-like thumbnails on [0, 1], the feature map
on its own levels) with the values of its ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from eegmi.sae.regions import SORT_KEYS, card_order

FEATURE_ROLE = Qt.ItemDataRole.UserRole + 1
N_THUMBS = 5
THUMB = 54
CARD_W, CARD_H = 6 + N_THUMBS * (THUMB + 6), 216
#: levels of the thumbnails shaped like inputs (top frames, optimised input)
INPUT_LEVELS = (0.0, 1.0)
#: width of a colour key's gradient, pixels
KEY_W = 46

_LUTS: dict[str, np.ndarray] = {}

Index = QModelIndex | QPersistentModelIndex


def _lut(name: str) -> np.ndarray:
    if name not in _LUTS:
        _LUTS[name] = np.asarray(pg.colormap.get(name).getLookupTable(nPts=256, alpha=True), np.uint8)
    return _LUTS[name]


def to_qimage(arr: np.ndarray, levels: tuple[float, float], cmap: str = "viridis",
              mask: np.ndarray | None = None) -> QImage:
    """Colour-map ``arr (H, W)`` between ``levels`` into an ARGB image (transparent
    where ``mask`` is False); the QImage owns a copy of its pixels."""
    lo, hi = levels
    span = hi - lo if hi > lo else 1.0
    a = np.nan_to_num(np.asarray(arr, dtype=np.float64), nan=lo)
    idx = np.clip((a - lo) / span * 255.0, 0, 255).astype(np.uint8)
    rgba = _lut(cmap)[idx]
    if mask is not None and mask.shape == rgba.shape[:2]:
        rgba[~mask, 3] = 0
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def _symmetric(arr: np.ndarray) -> tuple[float, float]:
    m = float(np.nanmax(np.abs(arr))) if arr.size else 0.0
    return (-m, m) if m > 0 else (-1.0, 1.0)


class FeatureCardModel(QAbstractListModel):
    """Rows are the visible features (sorted, filtered) of a gallery.

    Attributes
    ----------
    data_ : GalleryData or None
    order : (m,) int64 feature index of each row
    vis : dict feature -> FeatureVisResult (optimised inputs computed so far)
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.data_: Any = None
        self.order = np.zeros(0, dtype=np.int64)
        self.sort_key = "frequency"
        self.query = ""
        self.vis: dict[int, Any] = {}
        self._images: dict[tuple[str, int, int], QImage] = {}
        self._scales: dict[tuple[str, int], tuple[str, float, float]] = {}

    # -- content -------------------------------------------------------------------
    def set_gallery(self, data: Any) -> None:
        """Show a new :class:`GalleryData` (None clears); drops cached images and visualisations."""
        self.beginResetModel()
        self.data_ = data
        self.vis.clear()
        self._images.clear()
        self._scales.clear()
        self.order = self._compute_order()
        self.endResetModel()

    def set_sort(self, key: str) -> None:
        """Sort rows by ``key`` (one of :data:`SORT_KEYS`), largest first; ``index`` ascending."""
        if key not in SORT_KEYS:
            raise ValueError(f"sort key must be one of {SORT_KEYS}, not {key!r}")
        self.sort_key = key
        self._refresh()

    def set_query(self, query: str) -> None:
        """Keep features whose driving electrodes meet the electrode/region query."""
        self.query = query
        self._refresh()

    def set_vis(self, feature: int, result: Any) -> None:
        """Store a feature's optimised input and repaint its card."""
        self.vis[feature] = result
        self._images.pop(("vis", feature, 0), None)
        rows = np.flatnonzero(self.order == feature)
        if rows.size:
            idx = self.index(int(rows[0]))
            self.dataChanged.emit(idx, idx)

    def _refresh(self) -> None:
        self.beginResetModel()
        self.order = self._compute_order()
        self.endResetModel()

    def _compute_order(self) -> np.ndarray:
        d = self.data_
        if d is None:
            return np.zeros(0, dtype=np.int64)
        return card_order(d.gallery, d.drivers, d.ch_names, self.sort_key, self.query)

    def feature_at(self, row: int) -> int:
        return int(self.order[row])

    def driver_names(self, i: int) -> list[str]:
        return self.data_.driver_names(i) if self.data_ is not None else []

    # -- Qt model API --------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else int(self.order.size)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.data_ is None or index.row() >= self.order.size:
            return None
        i = int(self.order[index.row()])
        g = self.data_.gallery
        if role == FEATURE_ROLE:
            return i
        if role == Qt.ItemDataRole.DisplayRole:
            return f"feature {i}"
        if role == Qt.ItemDataRole.ToolTipRole:
            drv = ", ".join(self.driver_names(i)) or "none"
            return (f"feature {i}: active on {100 * g.frequency[i]:.2f}% of inputs, mean "
                    f"{g.mean_activation[i]:.3g}, selectivity {g.selectivity[i]:.2f}; driven by {drv}. "
                    "Click: show its top frame; double-click: optimise its input.")
        return None

    # -- lazily built thumbnails ---------------------------------------------------
    def painted_features(self) -> set[int]:
        """Features whose top-frame thumbnails have been built (i.e. painted) so far."""
        return {i for what, i, _ in self._images if what == "top"}

    def image(self, what: str, i: int, j: int = 0) -> QImage | None:
        """Cached thumbnail: ``("top", i, j)`` j-th top frame, ``("map", i)`` the feature
        map, ``("vis", i)`` the optimised input."""
        key = (what, i, j)
        if key in self._images:
            return self._images[key]
        d = self.data_
        img: QImage | None = None
        if what == "top" and d.gallery.top_frames[i, j] >= 0:
            img = to_qimage(d.top_image(i, j), INPUT_LEVELS, "viridis", d.head_mask)
        elif what == "map":
            scale = self.map_scale(i)
            arr = d.feature_map(i)[0]
            if scale is not None and arr is not None:
                img = to_qimage(arr, scale[1:], scale[0])
        elif what == "vis" and i in self.vis:
            arr = self.vis[i].image
            mask = d.head_mask if arr.shape == d.head_mask.shape else None
            img = to_qimage(arr, INPUT_LEVELS, "viridis", mask)
        if img is not None:
            self._images[key] = img
        return img

    def map_scale(self, i: int) -> tuple[str, float, float] | None:
        """``(colour map, lo, hi)`` of feature ``i``'s map thumbnail (None without a map)."""
        if ("map", i) in self._scales:
            return self._scales[("map", i)]
        arr, caption = self.data_.feature_map(i)
        scale: tuple[str, float, float] | None = None
        if arr is not None and caption == "decoder":  # signed direction: diverging about 0
            scale = ("CET-D1", *_symmetric(arr))
        elif arr is not None:  # activations are >= 0
            scale = ("inferno", 0.0, float(np.nanmax(arr)) or 1.0)
        self._scales[("map", i)] = scale
        return scale

    def colour_keys(self, i: int) -> list[tuple[str, str, float, float]]:
        """What card ``i``'s colour keys show: ``[(label, colour map, lo, hi), ...]``."""
        keys = [("inputs", "viridis", *INPUT_LEVELS)]
        scale = self.map_scale(i)
        if scale is not None:
            keys.append(("map", *scale))
        return keys


class FeatureCardDelegate(QStyledItemDelegate):
    """Paints one feature card (fixed size :data:`CARD_W` x :data:`CARD_H`)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: ARG002
        return QSize(CARD_W, CARD_H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        model = index.model()
        i = index.data(FEATURE_ROLE)
        if i is None or not isinstance(model, FeatureCardModel) or model.data_ is None:
            return
        d, g = model.data_, model.data_.gallery
        pal = option.palette
        r = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(QPen(pal.highlight().color() if selected else pal.mid().color(), 2 if selected else 1))
        painter.setBrush(pal.base())
        painter.drawRoundedRect(r, 5, 5)
        text = pal.text().color()
        small = QFont(option.font)
        small.setPointSizeF(max(6.5, option.font.pointSizeF() * 0.8))
        bold = QFont(option.font)
        bold.setBold(True)
        x0, y = r.left() + 5, r.top() + 3
        painter.setPen(text)
        painter.setFont(bold)
        painter.drawText(QRect(x0, y, 60, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"#{i}")
        painter.setFont(small)
        painter.drawText(QRect(x0 + 48, y, r.width() - 56, 16),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"freq {100 * g.frequency[i]:.2f}%  mean {g.mean_activation[i]:.3g}  "
                         f"sel {g.selectivity[i]:.2f}")
        # top dataset examples with their activations
        y += 18
        k = min(N_THUMBS, g.top_frames.shape[1])
        for j in range(k):
            cell = QRect(x0 + j * (THUMB + 6), y, THUMB, THUMB)
            img = model.image("top", i, j)
            if img is None:
                painter.setPen(pal.mid().color())
                painter.drawRect(cell)
                continue
            painter.drawImage(cell, img)
            painter.setPen(text)
            painter.drawText(QRect(cell.left(), cell.bottom() + 1, THUMB, 12), Qt.AlignmentFlag.AlignHCenter,
                             f"{g.top_values[i, j]:.3g}")
        y += THUMB + 16
        self._histogram(painter, QRect(x0, y, 140, 52), d, i, pal, small)
        # the feature as a map, and its optimised input
        mx = x0 + 156
        for n, (what, caption) in enumerate((("map", d.feature_map(i)[1] or "no map"),
                                             ("vis", self._vis_caption(model, i)))):
            cell = QRect(mx + n * (THUMB + 12), y, THUMB, THUMB)
            img = model.image(what, i)
            if img is not None:
                painter.drawImage(cell, img)
            else:
                painter.setPen(QPen(pal.mid().color(), 1, Qt.PenStyle.DashLine))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(cell)
            painter.setPen(text)
            painter.drawText(QRect(cell.left() - 6, cell.bottom() + 1, THUMB + 12, 12),
                             Qt.AlignmentFlag.AlignHCenter, caption)
        y += THUMB + 16
        drv = ", ".join(model.driver_names(i)) or "none"
        painter.drawText(QRect(x0, y, r.width() - 10, 14), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"driven by: {drv}")
        self._colour_keys(painter, model, i, QRect(x0, y + 16, r.width() - 10, 12), small)
        painter.restore()

    @staticmethod
    def key_layout(model: FeatureCardModel, i: int, box: QRect,
                   font: QFont) -> list[tuple[str, str, float, float, QRect, QRect, QRect, QRect]]:
        """Where card ``i``'s colour keys go in ``box``: per key its label, colour map,
        levels, and the rectangles of its label, low value, gradient and high value."""
        fm = QFontMetrics(font)
        out = []
        x = box.left()
        for label, cmap, lo, hi in model.colour_keys(i):
            texts = (label, f"{lo:.3g}", f"{hi:.3g}")
            wl, wlo, whi = (fm.horizontalAdvance(t) + 1 for t in texts)
            lab = QRect(x, box.top(), wl, box.height())
            low = QRect(lab.right() + 4, box.top(), wlo, box.height())
            grad = QRect(low.right() + 3, box.top() + 2, KEY_W, box.height() - 4)
            high = QRect(grad.right() + 3, box.top(), whi, box.height())
            out.append((label, cmap, lo, hi, lab, low, grad, high))
            x = high.right() + 12
        return out

    def _colour_keys(self, painter: QPainter, model: FeatureCardModel, i: int, box: QRect,
                     font: QFont) -> None:
        painter.setFont(font)
        fg = painter.pen().color()
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        for label, cmap, lo, hi, lab, low, grad, high in self.key_layout(model, i, box, font):
            painter.setPen(fg)
            painter.drawText(lab, align, label)
            painter.drawText(low, align, f"{lo:.3g}")
            painter.drawText(high, align, f"{hi:.3g}")
            ramp = np.linspace(lo, hi, KEY_W, dtype=np.float64)[None, :]
            painter.drawImage(grad, to_qimage(ramp, (lo, hi), cmap))

    @staticmethod
    def _vis_caption(model: FeatureCardModel, i: int) -> str:
        res = model.vis.get(i)
        return "optimise" if res is None else f"opt {res.activation:.3g}"

    @staticmethod
    def _histogram(painter: QPainter, box: QRect, d: Any, i: int, pal: Any, font: QFont) -> None:
        g = d.gallery
        dens = np.asarray(g.hist_density(i), dtype=np.float64)
        painter.setPen(pal.mid().color())
        painter.drawLine(box.bottomLeft(), box.bottomRight())
        top = float(dens.max()) if dens.size else 0.0
        if top > 0:
            w = box.width() / dens.size
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(66, 133, 244))
            for b, v in enumerate(dens):
                h = int(round(v / top * (box.height() - 2)))
                if h > 0:
                    painter.drawRect(int(box.left() + b * w), box.bottom() - h, max(1, int(w)), h)
        painter.setPen(pal.text().color())
        painter.setFont(font)
        painter.drawText(QRect(box.left(), box.bottom() + 1, box.width(), 12),
                         Qt.AlignmentFlag.AlignLeft,
                         f"active {100 * g.frequency[i]:.1f}%  ≤ {g.hist_max[i]:.3g}")


def card_view(model: FeatureCardModel) -> QListView:
    """A wrapping grid of cards: icon mode with uniform item sizes, so Qt lays out and
    paints only the cards in the viewport."""
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setSpacing(3)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setMinimumWidth(CARD_W + 30)
    view.setModel(model)
    view.setItemDelegate(FeatureCardDelegate(view))
    return view
