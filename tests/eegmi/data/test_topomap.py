"""The topomap operator: griddata equivalence, linearity, orientation, masks, caching."""

import numpy as np
import pytest
import torch
from scipy.interpolate import griddata

from eegmi.data.montage import get_montage
from eegmi.data.topomap import FILL_VALUE, METHODS, get_operator
from eegmi.errors import ConfigError


def test_cubic_matches_griddata_loop() -> None:
    op = get_operator("biosemi32", 40, "cubic")
    rng = np.random.default_rng(0)
    values = rng.random((20, 32))
    images = op.render(values)
    assert images.shape == (20, 40, 40) and images.dtype == np.float32
    for v, img in zip(values, images, strict=True):
        ref = griddata(op.projected, v, (op.grid_x, op.grid_y), method="cubic",
                       fill_value=FILL_VALUE)
        assert np.max(np.abs(img - ref)) <= 1e-5


def test_linear_matches_griddata() -> None:
    op = get_operator(method="linear")
    v = np.random.default_rng(1).normal(size=32)
    ref = griddata(op.projected, v, (op.grid_x, op.grid_y), method="linear", fill_value=FILL_VALUE)
    np.testing.assert_allclose(op.render(v), ref, atol=1e-5)
    near = get_operator(method="nearest")
    ref = griddata(near.projected, v, (near.grid_x, near.grid_y), method="nearest")
    np.testing.assert_allclose(near.render(v)[near.head_mask], ref[near.head_mask], atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_operator_is_linear_and_reproduces_constants(method: str) -> None:
    op = get_operator(method=method)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=32), rng.normal(size=32)
    np.testing.assert_allclose(op.render(2.0 * a - 3.0 * b),
                               2.0 * op.render(a) - 3.0 * op.render(b), atol=1e-4)
    # A constant field is reproduced wherever the method is defined.
    region = op.hull_mask if method in ("cubic", "linear") else op.head_mask
    const = op.render(np.full(32, 0.7))
    np.testing.assert_allclose(const[region], 0.7, atol=1e-4)
    np.testing.assert_array_equal(const[~op.head_mask & ~op.hull_mask], FILL_VALUE)


@pytest.mark.parametrize("method", METHODS)
def test_orientation_nose_up_left_on_left(method: str) -> None:
    op = get_operator(method=method)
    m = op.montage
    rows = {c: op.electrode_pixels[m.index(c), 0] for c in m.ch_names}
    cols = {c: op.electrode_pixels[m.index(c), 1] for c in m.ch_names}
    assert rows["Fp1"] < rows["Fz"] < rows["Cz"] < rows["Pz"] < rows["Oz"]
    assert cols["T7"] < cols["C3"] < cols["Cz"] < cols["C4"] < cols["T8"]
    assert cols["F7"] < cols["F8"] and cols["O1"] < cols["O2"]
    # The image itself agrees: a one-hot at Fz lights the top half, at T7 the left.
    for name, where in (("Fz", "top"), ("T7", "left"), ("Oz", "bottom"), ("T8", "right")):
        img = op.render(np.eye(32)[m.index(name)])
        r, c = np.unravel_index(np.argmax(img), img.shape)
        assert img[r, c] > 0.5
        assert {"top": r < 15, "bottom": r > 25, "left": c < 15, "right": c > 25}[where]


def test_electrode_pixels_carry_their_value() -> None:
    op = get_operator()
    eye_images = op.render(np.eye(32))
    rr, cc = op.electrode_pixels.T
    own = eye_images[np.arange(32), rr, cc]
    # Electrodes land exactly on pixel centres on the midline/T-line; elsewhere
    # the electrode still dominates its own pixel.
    exact = np.all(np.isclose(op.electrode_xy, np.rint(op.electrode_xy), atol=1e-9), axis=1)
    names = {op.montage.ch_names[i] for i in np.flatnonzero(exact)}
    assert names == {"Fz", "Cz", "Pz", "Oz", "T7", "C3", "C4", "T8"}
    np.testing.assert_allclose(own[exact], 1.0, atol=1e-5)
    assert np.all(own > 0.4)
    assert len({tuple(p) for p in op.electrode_pixels}) == 32


def test_masks() -> None:
    op = get_operator()
    assert op.head_mask.shape == op.hull_mask.shape == (40, 40)
    assert np.all(op.hull_mask <= op.head_mask)  # the hull lies inside the head disc
    assert op.head_mask[tuple(op.electrode_pixels.T)].all()
    # The disc fits in the image with a border outside it all round.
    assert not op.head_mask[0].any() and not op.head_mask[-1].any()
    assert not op.head_mask[:, 0].any() and not op.head_mask[:, -1].any()
    cubic = op.render(np.random.default_rng(3).random(32) + 1.0)
    assert np.all(cubic[~op.hull_mask] == FILL_VALUE) and np.all(cubic[op.hull_mask] > 0)
    spline = get_operator(method="spline").render(np.full(32, 2.0))
    np.testing.assert_allclose(spline[op.head_mask], 2.0, atol=1e-4)


def test_spline_fills_head_disc_smoothly() -> None:
    op = get_operator(method="spline")
    v = np.random.default_rng(4).normal(size=32)
    img = op.render(v)
    # Passes through the electrode values at exact pixels.
    exact = np.all(np.isclose(op.electrode_xy, np.rint(op.electrode_xy), atol=1e-9), axis=1)
    rr, cc = op.electrode_pixels[exact].T
    np.testing.assert_allclose(img[rr, cc], v[exact], atol=1e-4)
    assert np.all(img[op.head_mask & ~op.hull_mask] != 0)


def test_cache_and_torch() -> None:
    op = get_operator("biosemi32", 40, "cubic")
    assert get_operator(get_montage("biosemi32"), 40, "cubic") is op
    assert get_operator("biosemi32", 32, "cubic") is not op
    t = op.torch_matrix("cpu")
    assert t.shape == (32, 1600) and op.torch_matrix("cpu") is t
    values = torch.rand(5, 32)
    imgs = op.render_torch(values)
    assert imgs.shape == (5, 1, 40, 40)
    np.testing.assert_allclose(imgs[:, 0].numpy(), op.render(values.numpy()), atol=1e-6)
    imgs64 = op.render_torch(values.double())
    assert imgs64.dtype == torch.float64


def test_other_sizes_and_montages() -> None:
    op = get_operator("biosemi64", 24, "linear")
    assert op.matrix.shape == (24 * 24, 64)
    assert op.head_mask[tuple(op.electrode_pixels.T)].all()
    # A picked subset keeps its geometry: same channel order as asked, same orientation.
    sub = get_operator(get_montage("biosemi32", ["Oz", "T8", "Fz", "T7", "Cz"]), 40, "cubic")
    rows, cols = sub.electrode_pixels.T
    assert rows[2] < rows[4] < rows[0] and cols[3] < cols[4] < cols[1]


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="cubic"):
        get_operator(method="bicubic")
    with pytest.raises(ConfigError, match="size"):
        get_operator(size=4)
