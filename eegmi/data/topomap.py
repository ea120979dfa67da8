"""Electrode vectors -> topographic images, as one cached linear operator.

Every interpolation method offered here is linear in the electrode values, so
the map from an electrode vector ``(n,)`` to an image ``(H, W)`` is a single
``(H*W, n)`` matrix. It is built once per (montage, size, method), cached, and
applied to whole batches by one matmul (numpy or torch, on any device).

Grid geometry
-------------
Electrodes are projected by :func:`eegmi.data.projection.azimuthal_equidistant`
(radians of arc from the vertex). The vertex (near Cz) is the centre of pixel
``(c0, c0)``, ``c0 = size // 2``; the outermost electrode radius ``r_max`` spans
``N`` pixels, ``N`` the largest even number below ``size - 1 - c0`` (18 at
size 40), and the **head disc** is every pixel centre within ``N + 0.75``
pixels of the vertex. So every electrode pixel lies inside the disc, the
disc's 1-px boundary ring lies inside the image, and only the outermost
row/column on each side (two on the top/left for even sizes) is outside it.
Why not a symmetric ``linspace`` grid: with the vertex on a pixel centre and an
even ``N``, the biosemi32 electrodes on the midline and the T7-C3-Cz-C4-T8 line
(at radii N, N/2 and 0) land on exact pixel centres instead of ambiguous
half pixels, which matters for pick-and-interpolate analyses and the
injection marks.

Orientation: row 0 is the front of the head (nose, +y), column 0 the
subject's left (-x); ``img[row, col]`` displays as is with ``origin="upper"``. (``np.mgrid[x, y]`` would put x on rows, rotating the
head by 90 degrees; the tests pin the orientation down with Fz/Oz and T7/T8.)

Methods
-------
``cubic``
    Clough-Tocher on the Delaunay triangulation, exactly
    ``scipy.interpolate.griddata(method="cubic")``: the operator is built by
    interpolating the identity matrix (CloughTocher2DInterpolator takes vector
    values). This is what the paper's images are made with.
``linear``
    Piecewise-linear on the same triangulation (``griddata(method="linear")``).
``nearest``
    Value of the nearest electrode, within the head disc.
``spline``
    Spherical spline (Perrin et al. 1989; stiffness 4, 50 Legendre terms, as
    MNE's bad-channel interpolation and EEGLAB use), evaluated on the sphere at
    each pixel's inverse projection. Unregularised (EEGLAB's choice), so it
    passes through the electrode values like the other methods: MNE's
    ``alpha=1e-5`` is large next to the spline kernel on a unit sphere and
    would shrink a one-hot electrode to about 0.46 at its own position. Smooth and
    defined over the whole head disc, unlike the hull-bound methods.

Fill
----
Pixels outside the electrodes' convex hull are NaN for griddata cubic/linear;
here they are **0** (``FILL_VALUE``), i.e. ``griddata(..., fill_value=0)``.
After :class:`eegmi.data.preprocess.ClipScaler` 0 is the clipped minimum (the
5th percentile), so the fill is a valid, neutral-low value in the [0, 1] range
rather than a NaN that would poison losses. ``nearest`` and ``spline`` are 0
outside the head disc for the same reason.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.polynomial.legendre import legval

from eegmi.data.montage import Montage, get_montage
from eegmi.data.projection import (
    azimuthal_equidistant,
    fit_head_sphere,
    inverse_azimuthal_equidistant,
)
from eegmi.errors import ConfigError, DataError

if TYPE_CHECKING:  # torch is imported where tensors are made: the GUI shows its scalp map without it
    import torch
    from scipy.spatial import Delaunay

METHODS = ("cubic", "linear", "nearest", "spline")
FILL_VALUE = 0.0
MIN_SIZE = 8
# Head-disc radius beyond the outermost electrode, in pixels: > sqrt(0.5) so a
# rounded electrode pixel is always inside, < 1 so the disc fits the grid.
HEAD_MARGIN_PX = 0.75


class TopomapOperator:
    """The ``(H*W, n)`` electrodes -> image matrix with its masks and geometry.

    Build it with :func:`get_operator` (cached); do not mutate its arrays.

    Attributes
    ----------
    montage : Montage
    size : int
        ``H = W = size``.
    method : str
        One of :data:`METHODS`.
    matrix : np.ndarray
        ``(H*W, n)`` float32; ``image.ravel() = matrix @ values`` (row-major H, W).
    head_mask : np.ndarray
        ``(H, W)`` bool, pixels inside the head disc.
    hull_mask : np.ndarray
        ``(H, W)`` bool, pixels inside the electrodes' convex hull.
    electrode_xy : np.ndarray
        ``(n, 2)`` float64 sub-pixel ``(col, row)`` of each electrode.
    electrode_pixels : np.ndarray
        ``(n, 2)`` int64 ``(row, col)`` pixel of each electrode: the nearest pixel
        centre inside the convex hull (for rim electrodes the rounded position can
        fall just outside the hull, where cubic images hold the fill value).
    projected : np.ndarray
        ``(n, 2)`` float64 projected electrode coordinates ``(x, y)`` in radians.
    grid_x, grid_y : np.ndarray
        ``(H, W)`` float64 projected coordinates of each pixel centre, the
        ``xi`` to give ``griddata`` to reproduce :attr:`matrix`.
    head_radius : float
        Head-disc radius in projected units.
    pixel_size : float
        Pixel pitch in projected units (radians of arc).
    """

    def __init__(self, montage: Montage, size: int = 40, method: str = "cubic") -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown topomap method {method!r}; use one of {', '.join(METHODS)}")
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < MIN_SIZE:
            raise ConfigError(f"topomap size must be an integer >= {MIN_SIZE}, got {size!r}")
        size = int(size)
        n = montage.n_channels
        if n < 3:
            raise DataError(f"montage {montage.name}: need at least 3 electrodes, got {n}")
        self.montage = montage
        self.size = size
        self.method = method

        center, _ = fit_head_sphere(montage.pos)
        self.projected = azimuthal_equidistant(montage.pos, center)
        r_max = float(np.max(np.hypot(self.projected[:, 0], self.projected[:, 1])))
        if r_max <= 0:
            raise DataError(f"montage {montage.name}: electrodes project onto one point")
        c0 = size // 2
        n_px = 2 * ((size - 2 - c0) // 2)
        step = r_max / n_px
        self.pixel_size = step
        self.head_radius = r_max + HEAD_MARGIN_PX * step
        axis = (np.arange(size) - c0) * step
        # Rows run from the nose (+y) down, columns from the left ear (-x) right;
        # meshgrid "xy" indexing keeps x on columns (np.mgrid would put it on rows).
        self.grid_x, self.grid_y = np.meshgrid(axis, -axis, indexing="xy")
        self.electrode_xy = np.c_[self.projected[:, 0] / step + c0, c0 - self.projected[:, 1] / step]
        self.head_mask = np.hypot(self.grid_x, self.grid_y) <= self.head_radius

        # scipy is imported here, not at module level: an operator read from the disk
        # cache (eegmi.data.operator_cache) needs none of it
        from scipy.interpolate import LinearNDInterpolator
        from scipy.spatial import Delaunay, QhullError

        pixels = np.c_[self.grid_x.ravel(), self.grid_y.ravel()]
        try:
            tri = Delaunay(self.projected)
        except QhullError:
            raise DataError(f"montage {montage.name}: electrodes are collinear") from None
        # The interpolators' own simplex search decides what is inside the hull (NaN
        # outside), so the mask agrees exactly with where cubic/linear use the fill.
        # (Delaunay.find_simplex called directly was ~100x slower here.)
        inside = LinearNDInterpolator(tri, np.ones(n), fill_value=np.nan)(pixels)
        self.hull_mask = np.isfinite(inside).reshape(size, size)
        self.electrode_pixels = _electrode_pixels(self.electrode_xy, self.hull_mask)
        matrix = _build_matrix(method, tri, self.projected, pixels, self.head_mask.ravel(),
                               montage.pos - center)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self._freeze()

    #: the arrays that make an operator (besides montage, size, method, pixel_size,
    #: head_radius): what the disk cache stores
    ARRAYS = ("matrix", "head_mask", "hull_mask", "electrode_xy", "electrode_pixels",
              "projected", "grid_x", "grid_y")

    def _freeze(self) -> None:
        for name in self.ARRAYS:
            getattr(self, name).setflags(write=False)
        self._torch: dict[tuple[str, torch.dtype], torch.Tensor] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(cls, montage: Montage, size: int, method: str, pixel_size: float,
                    head_radius: float, arrays: dict[str, np.ndarray]) -> TopomapOperator:
        """An operator from its stored parts (see :mod:`eegmi.data.operator_cache`),
        without recomputing the interpolation."""
        op = cls.__new__(cls)
        op.montage, op.size, op.method = montage, int(size), str(method)
        op.pixel_size, op.head_radius = float(pixel_size), float(head_radius)
        for name in cls.ARRAYS:
            setattr(op, name, np.array(arrays[name]))
        op._freeze()
        return op

    @property
    def n_channels(self) -> int:
        """Number of electrodes ``n``."""
        return self.montage.n_channels

    def __repr__(self) -> str:
        return (f"TopomapOperator(montage={self.montage.name!r}, n={self.n_channels}, "
                f"size={self.size}, method={self.method!r})")

    def render(self, values: Any) -> np.ndarray:
        """Images for electrode vectors.

        Parameters
        ----------
        values
            ``(..., n)`` array-like in montage channel order.

        Returns
        -------
        np.ndarray
            ``(..., H, W)`` float32.
        """
        v = np.asarray(values, dtype=np.float32)
        if v.ndim == 0 or v.shape[-1] != self.n_channels:
            raise DataError(f"expected electrode values of shape (..., {self.n_channels}), "
                            f"got {v.shape}")
        flat = v.reshape(-1, self.n_channels) @ self.matrix.T
        return flat.reshape(*v.shape[:-1], self.size, self.size)

    def torch_matrix(self, device: str | torch.device = "cpu",
                     dtype: torch.dtype | None = None) -> torch.Tensor:
        """The transposed operator as a tensor, cached per device and dtype
        (float32 by default).

        Returns
        -------
        torch.Tensor
            ``(n, H*W)`` so that ``values (B, n) @ it`` gives flat images.
        """
        import torch

        dtype = torch.float32 if dtype is None else dtype
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        key = (str(dev), dtype)
        with self._lock:
            t = self._torch.get(key)
            if t is None:
                t = torch.from_numpy(self.matrix.T.copy()).to(device=dev, dtype=dtype)
                self._torch[key] = t
        return t

    def render_torch(self, values: torch.Tensor) -> torch.Tensor:
        """Images for a batch of electrode vectors, on the batch's device.

        Parameters
        ----------
        values
            ``(B, n)`` tensor (floating point).

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)``, same device and dtype as ``values``.
        """
        if values.ndim != 2 or values.shape[1] != self.n_channels:
            raise DataError(f"expected electrode values of shape (B, {self.n_channels}), "
                            f"got {tuple(values.shape)}")
        if not values.is_floating_point():
            values = values.float()
        m = self.torch_matrix(values.device, values.dtype)
        return (values @ m).view(values.shape[0], 1, self.size, self.size)


def _electrode_pixels(electrode_xy: np.ndarray, hull_mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` (row, col): the nearest pixel centre inside the convex hull.

    Electrodes on the hull rim can round to a pixel just outside the hull, where
    cubic/linear images hold the fill value instead of the electrode's value; the
    nearest in-hull pixel is the one that shows the electrode.
    """
    rc = np.rint(electrode_xy[:, ::-1]).astype(np.int64)
    size = hull_mask.shape[0]
    rc = np.clip(rc, 0, size - 1)
    inside = np.argwhere(hull_mask)
    for i in np.flatnonzero(~hull_mask[rc[:, 0], rc[:, 1]]):
        d = np.hypot(inside[:, 0] - electrode_xy[i, 1], inside[:, 1] - electrode_xy[i, 0])
        rc[i] = inside[np.argmin(d)]
    return rc


def _build_matrix(method: str, tri: Delaunay, points: np.ndarray, pixels: np.ndarray,
                  in_head: np.ndarray, centred_pos: np.ndarray) -> np.ndarray:
    """``(H*W, n)`` float64 interpolation weights for one method."""
    n = len(points)
    eye = np.eye(n)
    if method == "cubic":
        # Same interpolator and defaults as griddata(method="cubic"); each identity
        # column is one electrode's influence image.
        from scipy.interpolate import CloughTocher2DInterpolator

        return CloughTocher2DInterpolator(tri, eye, fill_value=FILL_VALUE)(pixels)
    if method == "linear":
        from scipy.interpolate import LinearNDInterpolator

        return LinearNDInterpolator(tri, eye, fill_value=FILL_VALUE)(pixels)
    matrix = np.zeros((len(pixels), n))
    rows = np.flatnonzero(in_head)
    if method == "nearest":
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(points).query(pixels[rows])
        matrix[rows, nearest] = 1.0
        return matrix
    matrix[rows] = _spherical_spline(centred_pos, inverse_azimuthal_equidistant(pixels[rows]))
    return matrix


def _legendre_g(cosang: np.ndarray, stiffness: int = 4, n_terms: int = 50) -> np.ndarray:
    factors = [(2 * k + 1) / (k**stiffness * (k + 1) ** stiffness * 4 * np.pi)
               for k in range(1, n_terms + 1)]
    return legval(cosang, [0.0, *factors])


def _spherical_spline(pos_from: np.ndarray, pos_to: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """Perrin spherical-spline weights ``(m, n)`` from electrodes to target points."""
    a = pos_from / np.linalg.norm(pos_from, axis=1, keepdims=True)
    b = pos_to / np.linalg.norm(pos_to, axis=1, keepdims=True)
    n = len(a)
    g_from = _legendre_g(np.clip(a @ a.T, -1, 1))
    if alpha:
        g_from.flat[:: n + 1] += alpha
    # The extra row/column is the constant term c0 with the constraint sum(c) = 0.
    c = np.block([[g_from, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    c_inv = np.linalg.pinv(c)
    g_to = _legendre_g(np.clip(b @ a.T, -1, 1))
    return np.c_[g_to, np.ones(len(b))] @ c_inv[:, :-1]


_CACHE: dict[tuple[Any, int, str], TopomapOperator] = {}
_CACHE_LOCK = threading.Lock()


def get_operator(montage: str | Montage = "biosemi32", size: int = 40,
                 method: str = "cubic") -> TopomapOperator:
    """The cached topomap operator for a montage, grid size and method.

    Parameters
    ----------
    montage
        A :class:`Montage` or anything :func:`eegmi.data.montage.get_montage` takes.
    size
        Image side ``H = W`` in pixels (>= 8).
    method
        One of :data:`METHODS`.

    Returns
    -------
    TopomapOperator
        The same object for equal (montage geometry, size, method).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown topomap method {method!r}; use one of {', '.join(METHODS)}")
    if isinstance(montage, str):
        # a built-in montage built before: read from the disk cache, which needs neither
        # MNE nor scipy (the GUI window shows its scalp map ~3 s sooner)
        from eegmi.data import operator_cache

        with _CACHE_LOCK:
            op = _NAMED.get((montage.strip().lower(), size, method))
        if op is None:
            op = operator_cache.load(montage, size, method)
        if op is not None:
            return _remember(op, montage)
    mont = montage if isinstance(montage, Montage) else get_montage(montage)
    key = (mont.key(), size, method)
    with _CACHE_LOCK:
        op = _CACHE.get(key)
        if op is None:
            op = TopomapOperator(mont, size, method)
            _CACHE[key] = op
    if isinstance(montage, str):
        from eegmi.data import operator_cache

        operator_cache.store(op, montage)
        _remember(op, montage)
    return op


#: operators by the built-in montage name they were asked for (name, size, method)
_NAMED: dict[tuple[str, int, str], TopomapOperator] = {}


def _remember(op: TopomapOperator, name: str) -> TopomapOperator:
    """Keep ``op`` under its name and its geometry, so both routes give one object."""
    with _CACHE_LOCK:
        op = _CACHE.setdefault((op.montage.key(), op.size, op.method), op)
        _NAMED[(name.strip().lower(), op.size, op.method)] = op
    return op
