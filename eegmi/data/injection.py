"""The injection layer (paper section 3.2): reference marks, occlusion, loss mask.

The paper counters a CNN's bias away from locating objects by injecting helpful
artifacts into the input image:

- **Edge electrodes** carry no mark: the paper says they "are at the edge of
  head, so can be located by the local curvature". Here an electrode is an edge
  electrode when it lies on the rim: its projected radius is within one pixel of
  the outermost electrode's (so within about 1.75 px of the head-disc boundary).
  Every other electrode is **inner** and gets a mark.
- Why not the paper's count of 12 edge / 20 inner: for ``biosemi32`` exactly 11
  electrodes lie on the rim (Fp1, F7, T7, P7, O1, Oz, O2, P8, T8, F8, Fp2, all at
  the same radius, 18 px from the vertex at 40x40), and the next four (AF3, AF4,
  PO3, PO4) tie at 14.5 px, more than 4 px inside the rim, as far in as
  FC5/FC6. No choice of one of the four is left/right symmetric (an earlier
  version took AF3 by montage order, marking AF4 but not AF3), and none of them
  can be found from the head's curvature, so all four are inner: **11 edge / 21
  inner** electrodes, symmetric left/right and front/back. Seed 000 states the
  counts only (its figures do not show which electrodes were marked). Other
  montages follow the same rim rule.
- **Reference marks**: a constant 2x2-pixel mark directly below each inner
  electrode (rows ``r+1, r+2`` for the electrode pixel ``(r, c)``; the electrode
  pixel itself is never covered), **centred** on the electrode's exact horizontal
  position: the two columns whose centre is nearest the electrode's sub-pixel
  column. Electrodes whose position falls exactly on a pixel centre (C3/C4 at
  40x40) tie between the two spans; the tie goes *outward*, away from the vertex
  column, so mirror-image electrodes get mirror-image marks. A 2-px mark cannot
  straddle a pixel-centred *midline* electrode (Fz, Cz, Pz) symmetrically; those
  marks sit half a pixel to the subject's right (columns ``c, c+1``).
- **Occlusion** keeps only the electrode pixels, their marks when marks are on,
  and the head edge (the 1-px ring of head-disc pixels that touch a pixel
  outside the disc); every other pixel becomes 0.
- The **loss mask** is the head disc: the paper's loss ignores pixels outside it.

Layouts: the rule above is ``layout = "rim"``. Models trained before it used
``layout = "ranked12"``: the 12 outermost electrodes by radius, ties broken by
montage order (AF3 edge, AF4/PO3/PO4 inner), and each mark's top-left pixel directly
below the electrode pixel (columns ``c, c+1``). A checkpoint card without a layout
is such a model, and gets that layout back, so it sees the inputs it was trained on.

Collisions: a mark may not cover an electrode pixel or another mark, and must
lie in the head disc. If the centred place collides, the next free of the other
span on the same rows, then the centred and the other span one row lower, is
used; if none is free the mark keeps only the free pixels of its centred place.
At 40x40 with biosemi32 every mark sits at its centred place (a test checks it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from eegmi.data.montage import DEAP_CHANNELS, Montage, get_montage
from eegmi.data.topomap import TopomapOperator
from eegmi.errors import ConfigError, DataError

#: An electrode within this many pixels of the outermost radius is on the rim (edge).
RIM_TOLERANCE_PX = 1.0
#: ``rim``: the current rule; ``ranked12``: the rule of models trained before it.
LAYOUTS = ("rim", "ranked12")
#: The layout of a checkpoint whose card records none (trained before layouts existed).
LEGACY_LAYOUT = "ranked12"


@dataclass
class InjectionConfig:
    """Which artifacts the injection layer adds.

    Attributes
    ----------
    marks
        Add the 2x2 reference marks below the inner electrodes.
    occlusion
        Zero everything but electrode pixels, marks (if on) and the head edge.
    mark_value
        Constant written into the mark pixels (1.0 = the scaled maximum).
    layout
        Which electrodes are edge and where marks go: ``"rim"`` (current) or
        ``"ranked12"`` (models trained before it); see the module notes.
    """

    marks: bool = False
    occlusion: bool = False
    mark_value: float = 1.0
    layout: str = "rim"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"injection layout {self.layout!r} is not one of "
                              f"{', '.join(LAYOUTS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in checkpoints and experiment presets."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> InjectionConfig:
        """Rebuild from a mapping; unknown keys or bad types raise ``ConfigError``."""
        if d is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown injection setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        for key in ("marks", "occlusion"):
            if key in d and not isinstance(d[key], bool):
                raise ConfigError(f"injection setting {key} must be true or false, got {d[key]!r}")
        value = d.get("mark_value", 1.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ConfigError(f"injection mark_value must be a finite number, got {value!r}")
        return cls(marks=d.get("marks", False), occlusion=d.get("occlusion", False),
                   mark_value=float(value), layout=str(d.get("layout", "rim")))


class Injection:
    """Masks and the apply step of the injection layer for one topomap operator.

    Parameters
    ----------
    operator
        Gives the grid, head disc and electrode pixels.
    config
        Which artifacts to add; defaults to none.

    Attributes
    ----------
    inner_electrodes, edge_electrodes : tuple[str, ...]
        Names, in montage order (21 and 11 for biosemi32: see the module notes).
    mark_mask : np.ndarray
        ``(H, W)`` bool, the marks of all inner electrodes.
    mark_origins : np.ndarray
        ``(n_inner, 2)`` int (row, col) top-left pixel of each inner electrode's mark.
    edge_ring : np.ndarray
        ``(H, W)`` bool, the 1-px head edge.
    keep_mask : np.ndarray
        ``(H, W)`` bool, what occlusion keeps: electrode pixels, the head edge and,
        when ``config.marks``, the marks.
    loss_mask : np.ndarray
        ``(H, W)`` float32, 1 inside the head disc, 0 outside.
    """

    def __init__(self, operator: TopomapOperator, config: InjectionConfig | None = None) -> None:
        self.operator = operator
        self.config = config if config is not None else InjectionConfig()
        names = operator.montage.ch_names
        n = len(names)
        radius = np.hypot(operator.projected[:, 0], operator.projected[:, 1])
        legacy = self.config.layout == "ranked12"
        if legacy:
            is_edge = _ranked_edge(radius)
        else:
            # the rim: every electrode within RIM_TOLERANCE_PX of the outermost radius, a
            # rule that treats mirror-image electrodes alike (no tie broken by montage order)
            is_edge = radius >= radius.max() - RIM_TOLERANCE_PX * operator.pixel_size - 1e-9
        self.edge_electrodes = tuple(names[i] for i in range(n) if is_edge[i])
        self.inner_electrodes = tuple(names[i] for i in range(n) if not is_edge[i])

        size = operator.size
        head = operator.head_mask
        electrode_mask = np.zeros((size, size), dtype=bool)
        rr, cc = operator.electrode_pixels.T
        electrode_mask[rr, cc] = True
        self.electrode_mask = electrode_mask
        self.mark_mask, self.mark_origins = _place_marks(
            operator.electrode_pixels[~is_edge], operator.electrode_xy[~is_edge, 0],
            electrode_mask, head, centred=not legacy)
        padded = np.pad(head, 1, constant_values=False)
        all_neighbours_in = (padded[:-2, 1:-1] & padded[2:, 1:-1]
                             & padded[1:-1, :-2] & padded[1:-1, 2:])
        self.edge_ring = head & ~all_neighbours_in
        keep = electrode_mask | self.edge_ring
        if self.config.marks:
            keep = keep | self.mark_mask
        self.keep_mask = keep
        self.loss_mask = head.astype(np.float32)
        for arr in (self.mark_mask, self.mark_origins, self.edge_ring, self.keep_mask,
                    self.loss_mask, self.electrode_mask):
            arr.setflags(write=False)
        self._torch: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Injection({self.operator!r}, {self.config!r})"

    @property
    def active(self) -> bool:
        """Whether apply changes anything."""
        return self.config.marks or self.config.occlusion

    def _masks(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        import torch  # here, not at module level: rendering and mixing never need it

        key = str(device)
        with self._lock:
            masks = self._torch.get(key)
            if masks is None:
                masks = (torch.from_numpy(self.keep_mask.copy()).to(device),
                         torch.from_numpy(self.mark_mask.copy()).to(device))
                self._torch[key] = masks
        return masks

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """Inject into a batch of images on any device.

        Parameters
        ----------
        images
            ``(B, 1, H, W)`` (any leading shape ending in ``H, W`` works).

        Returns
        -------
        torch.Tensor
            Same shape, dtype and device; a new tensor (the input is not modified)
            unless no artifact is configured, in which case ``images`` itself.
        """
        self._check_shape(tuple(images.shape))
        if not self.active:
            return images
        import torch

        keep, mark = self._masks(images.device)
        out = images
        if self.config.occlusion:
            out = out * keep.to(out.dtype)
        if self.config.marks:
            out = torch.where(mark, torch.as_tensor(self.config.mark_value, dtype=out.dtype,
                                                    device=out.device), out)
        return out

    def apply_np(self, images: Any) -> np.ndarray:
        """Inject into numpy images.

        Parameters
        ----------
        images
            ``(..., H, W)`` array-like.

        Returns
        -------
        np.ndarray
            ``(..., H, W)`` float32 copy.
        """
        out = np.array(images, dtype=np.float32)
        self._check_shape(out.shape)
        if self.config.occlusion:
            out *= self.keep_mask
        if self.config.marks:
            out[..., self.mark_mask] = self.config.mark_value
        return out

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        size = self.operator.size
        if len(shape) < 2 or shape[-2:] != (size, size):
            raise DataError(f"expected images of shape (..., {size}, {size}), got {shape}")


def _ranked_edge(radius: np.ndarray) -> np.ndarray:
    """Layout ``ranked12``: the ``round(12 n / 32)`` outermost, ties by montage order."""
    n = len(radius)
    order = np.lexsort((np.arange(n), -np.round(radius, 9)))
    is_edge = np.zeros(n, dtype=bool)
    is_edge[order[:min(n, round(12 * n / 32))]] = True
    return is_edge


def _centred_column(c: int, x: float, centre: int) -> tuple[int, int]:
    """Left columns of the centred 2-px span under pixel column ``c`` and of the other one.

    ``x`` is the electrode's sub-pixel column; the span ``(c0, c0 + 1)`` whose centre
    ``c0 + 0.5`` is nearest ``x`` is centred. Ties (``x`` on a pixel centre) go away
    from the vertex column ``centre``; on the midline, to the subject's right.
    """
    if x < c - 1e-6 or (abs(x - c) <= 1e-6 and c < centre):
        return c - 1, c
    return c, c - 1


def _place_marks(pixels: np.ndarray, xs: np.ndarray, electrode_mask: np.ndarray,
                 head: np.ndarray, centred: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """2x2 marks below each electrode pixel, centred on its column, avoiding collisions.

    Parameters
    ----------
    pixels
        ``(m, 2)`` int (row, col) electrode pixels.
    xs
        ``(m,)`` the electrodes' sub-pixel columns.
    centred
        False: layout ``ranked12``, the mark's left column is the electrode's column.

    Returns the ``(H, W)`` bool mask and the ``(m, 2)`` top-left corners.
    """
    size = head.shape[0]
    centre = size // 2
    taken = electrode_mask.copy()
    mask = np.zeros_like(head)
    origins = np.zeros((len(pixels), 2), dtype=np.int64)
    for k, ((r, c), x) in enumerate(zip(pixels, xs, strict=True)):
        centred_c, other = (_centred_column(int(c), float(x), centre) if centred
                            else (int(c), int(c) - 1))
        r0, c0 = r + 1, centred_c
        for rr, cc in ((r + 1, centred_c), (r + 1, other), (r + 2, centred_c), (r + 2, other)):
            if rr < 0 or cc < 0 or rr + 2 > size or cc + 2 > size:
                continue
            block = (slice(rr, rr + 2), slice(cc, cc + 2))
            if not taken[block].any() and head[block].all():
                r0, c0 = rr, cc
                break
        # Without a free place this is the centred one, keeping only its free pixels.
        r0, c0 = max(r0, 0), max(c0, 0)
        block = (slice(r0, min(r0 + 2, size)), slice(c0, min(c0 + 2, size)))
        free = ~taken[block] & head[block]
        mask[block] |= free
        taken[block] |= free
        origins[k] = (r0, c0)
    return mask, origins


def _resolve_montage(montage_or_n: int | str | Path | Montage | TopomapOperator
                     ) -> tuple[int, tuple[str, ...] | None]:
    if isinstance(montage_or_n, TopomapOperator):
        montage_or_n = montage_or_n.montage
    if isinstance(montage_or_n, Montage):
        return montage_or_n.n_channels, montage_or_n.ch_names
    if isinstance(montage_or_n, bool):
        raise ConfigError(f"montage must be a montage or a number of electrodes, "
                          f"not {montage_or_n}")
    if isinstance(montage_or_n, int | np.integer):
        n = int(montage_or_n)
        if n < 1:
            raise DataError(f"number of electrodes must be positive, got {n}")
        # 32 electrodes without a montage means the default DEAP/biosemi32 cap.
        return n, DEAP_CHANNELS if n == len(DEAP_CHANNELS) else None
    m = get_montage(montage_or_n)
    return m.n_channels, m.ch_names


def _channel_index(names: tuple[str, ...] | None, n: int, index_or_name: int | str) -> int:
    if isinstance(index_or_name, str):
        if names is None:
            raise DataError(f"channel name {index_or_name!r} needs a montage, not just n={n}")
        key = index_or_name.strip().lower()
        for i, ch in enumerate(names):
            if ch.lower() == key:
                return i
        raise DataError(f"no channel {index_or_name!r}; channels are {', '.join(names)}")
    i = int(index_or_name)
    if not 0 <= i < n:
        raise DataError(f"electrode index {i} out of range for {n} electrodes")
    return i


def one_hot(montage_or_n: int | str | Path | Montage | TopomapOperator,
            index_or_name: int | str, amplitude: float = 1.0) -> np.ndarray:
    """A one-hot electrode vector: one electrode at ``amplitude``, the rest 0.

    Parameters
    ----------
    montage_or_n
        A montage (object, name or file), an operator, or the number of
        electrodes (32 means the biosemi32/DEAP order for names).
    index_or_name
        Electrode index, or channel name (case-insensitive).
    amplitude
        Value of the chosen electrode (1.0 = the scaled maximum).

    Returns
    -------
    np.ndarray
        ``(n,)`` float32.
    """
    n, names = _resolve_montage(montage_or_n)
    v = np.zeros(n, dtype=np.float32)
    v[_channel_index(names, n, index_or_name)] = amplitude
    return v


def mix(weights: Mapping[str, float],
        montage: int | str | Path | Montage | TopomapOperator = "biosemi32") -> np.ndarray:
    """A mixture of one-hot signals: ``sum(w * one_hot(name))``.

    Parameters
    ----------
    weights
        Channel name (case-insensitive) -> amplitude.
    montage
        As ``montage_or_n`` in :func:`one_hot`.

    Returns
    -------
    np.ndarray
        ``(n,)`` float32.
    """
    n, names = _resolve_montage(montage)
    v = np.zeros(n, dtype=np.float32)
    for name, w in weights.items():
        v[_channel_index(names, n, name)] += w
    return v
