"""Injection layer: edge/inner electrodes, marks, occlusion, loss mask, one-hot helpers."""

import numpy as np
import pytest
import torch

from eegmi.data.injection import Injection, InjectionConfig, mix, one_hot
from eegmi.data.montage import get_montage
from eegmi.data.topomap import get_operator
from eegmi.errors import ConfigError, DataError

EDGE_32 = {"Fp1", "F7", "T7", "P7", "O1", "Oz", "O2", "P8", "T8", "F8", "Fp2"}
MIDLINE = {"Fz", "Cz", "Pz"}


@pytest.fixture(scope="module")
def op():
    return get_operator("biosemi32", 40, "cubic")


def test_edge_and_inner_electrodes(op) -> None:
    inj = Injection(op)
    assert set(inj.edge_electrodes) == EDGE_32  # the rim; AF3/AF4/PO3/PO4 are inner
    assert len(inj.inner_electrodes) == 21
    assert set(inj.inner_electrodes) | EDGE_32 == set(op.montage.ch_names)
    # Every edge electrode is at least as far out as every inner one.
    radius = np.hypot(*op.projected.T)
    idx = op.montage.index
    assert min(radius[idx(c)] for c in EDGE_32) >= max(radius[idx(c)] for c in inj.inner_electrodes)


def _mirror(op, name: str) -> str:
    """The electrode at the left/right mirror image of ``name``'s position."""
    x, y = op.projected[op.montage.index(name)]
    d = np.hypot(op.projected[:, 0] + x, op.projected[:, 1] - y)
    assert d.min() < 1e-6
    return op.montage.ch_names[int(np.argmin(d))]


def test_edge_inner_split_is_left_right_symmetric(op) -> None:
    inj = Injection(op)
    for name in op.montage.ch_names:
        assert (name in inj.edge_electrodes) == (_mirror(op, name) in inj.edge_electrodes)
    # the tied four are resolved alike, not by montage order
    assert {"AF3", "AF4", "PO3", "PO4"} <= set(inj.inner_electrodes)


def test_marks_are_centred_below_inner_electrodes_without_collisions(op) -> None:
    inj = Injection(op, InjectionConfig(marks=True))
    assert inj.mark_mask.sum() == 21 * 4  # 21 full 2x2 marks: none overlap or were clipped
    assert not (inj.mark_mask & inj.electrode_mask).any()
    assert np.all(inj.mark_mask <= op.head_mask)
    origin = {}
    for name, (r0, c0) in zip(inj.inner_electrodes, inj.mark_origins, strict=True):
        i = op.montage.index(name)
        r, c = op.electrode_pixels[i]
        x = op.electrode_xy[i, 0]
        assert r0 == r + 1 and c0 <= c <= c0 + 1  # directly below the electrode pixel
        assert abs(c0 + 0.5 - x) <= 0.5 + 1e-9  # centred on the electrode's position
        assert inj.mark_mask[r0:r0 + 2, c0:c0 + 2].all()
        origin[name] = (int(r0), int(c0))
    # mirror-image electrodes get mirror-image marks (column c <-> 2 * centre - c); a
    # 2-px mark cannot be symmetric under a pixel-centred midline electrode
    centre = op.size // 2
    for name, (r0, c0) in origin.items():
        if name not in MIDLINE:
            assert origin[_mirror(op, name)] == (r0, 2 * centre - (c0 + 1))
    # Each mark is a separate 2x2 block: no two marks touch.
    corners = set(origin.values())
    for r0, c0 in corners:
        for r1, c1 in corners - {(r0, c0)}:
            assert abs(r0 - r1) >= 3 or abs(c0 - c1) >= 3


def test_marks_resolve_collisions_at_small_sizes() -> None:
    small = get_operator("biosemi32", 12, "cubic")
    inj = Injection(small, InjectionConfig(marks=True))
    assert not (inj.mark_mask & inj.electrode_mask).any()
    assert inj.mark_mask.sum() > 0 and np.all(inj.mark_mask <= small.head_mask)


def test_occlusion_keeps_electrodes_marks_and_edge(op) -> None:
    images = op.render(np.random.default_rng(0).random((3, 32)) + 0.5)
    inj = Injection(op, InjectionConfig(marks=True, occlusion=True, mark_value=0.9))
    out = inj.apply_np(images)
    assert out.shape == images.shape and out.dtype == np.float32
    rr, cc = op.electrode_pixels.T
    np.testing.assert_array_equal(out[:, rr, cc], images[:, rr, cc])
    assert np.all(out[:, inj.mark_mask] == np.float32(0.9))
    np.testing.assert_array_equal(out[:, inj.edge_ring], images[:, inj.edge_ring])
    assert np.all(out[:, ~inj.keep_mask] == 0)
    assert not (inj.mark_mask & inj.edge_ring).any()
    assert inj.keep_mask.sum() == (inj.electrode_mask | inj.edge_ring).sum() + 84
    # The ring is one pixel wide, on the disc boundary.
    assert np.all(inj.edge_ring <= op.head_mask)
    inner = op.head_mask & ~inj.edge_ring
    dist = np.hypot(op.grid_x, op.grid_y)
    assert dist[inj.edge_ring].min() > dist[inner].max() - 1.5 * op.pixel_size
    # Without marks occlusion drops the mark pixels too.
    plain = Injection(op, InjectionConfig(occlusion=True)).apply_np(images)
    assert np.all(plain[:, inj.mark_mask] == 0)


def test_loss_mask_is_head_disc(op) -> None:
    inj = Injection(op)
    assert inj.loss_mask.dtype == np.float32
    np.testing.assert_array_equal(inj.loss_mask, op.head_mask.astype(np.float32))


def test_torch_apply_matches_numpy(op) -> None:
    inj = Injection(op, InjectionConfig(marks=True, occlusion=True))
    values = torch.rand(4, 32)
    images = op.render_torch(values)
    before = images.clone()
    out = inj.apply(images)
    assert out.shape == (4, 1, 40, 40) and out.device == images.device
    torch.testing.assert_close(images, before)  # input untouched
    np.testing.assert_allclose(out.numpy(), inj.apply_np(images.numpy()), atol=0)
    assert Injection(op).apply(images) is images
    if torch.cuda.is_available():
        gpu = inj.apply(images.cuda())
        np.testing.assert_allclose(gpu.cpu().numpy(), out.numpy(), atol=1e-6)
    with pytest.raises(DataError):
        inj.apply(torch.zeros(2, 1, 32, 32))


def test_config_roundtrip_and_validation() -> None:
    cfg = InjectionConfig(marks=True, occlusion=False, mark_value=0.5)
    assert InjectionConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="colour"):
        InjectionConfig.from_dict({"colour": 1})
    with pytest.raises(ConfigError):
        InjectionConfig.from_dict({"marks": "yes"})


def test_one_hot_and_mix() -> None:
    m = get_montage()
    v = one_hot(m, "cz", 2.0)
    assert v.shape == (32,) and v.dtype == np.float32
    assert v[m.index("Cz")] == 2.0 and v.sum() == 2.0
    np.testing.assert_array_equal(one_hot(32, "Fp1"), one_hot("biosemi32", 0))
    np.testing.assert_array_equal(one_hot(5, 3), np.eye(5, dtype=np.float32)[3])
    w = mix({"Fz": 0.5, "oz": 1.0, "FZ": 0.25}, m)
    assert w[m.index("Fz")] == 0.75 and w[m.index("Oz")] == 1.0 and w.sum() == 1.75
    with pytest.raises(DataError):
        one_hot(m, "XX")
    with pytest.raises(DataError):
        one_hot(16, "Cz")
    with pytest.raises(DataError):
        one_hot(4, 4)


def test_ranked12_layout_reproduces_the_models_trained_before_the_rim_rule(op) -> None:
    """Checkpoints whose card records no layout were trained with the 12 outermost
    electrodes (AF3 by montage order) and marks at columns c, c+1; they get it back."""
    inj = Injection(op, InjectionConfig(marks=True, layout="ranked12"))
    assert set(inj.edge_electrodes) == EDGE_32 | {"AF3"}
    assert len(inj.inner_electrodes) == 20 and inj.mark_mask.sum() == 80
    for name, (r0, c0) in zip(inj.inner_electrodes, inj.mark_origins, strict=True):
        r, c = op.electrode_pixels[op.montage.index(name)]
        assert (r0, c0) == (r + 1, c)
    with pytest.raises(ConfigError, match="layout"):
        InjectionConfig(layout="diagonal")
    assert InjectionConfig.from_dict({"marks": True}).layout == "rim"


def test_a_bool_is_neither_a_montage_nor_a_number_of_electrodes() -> None:
    with pytest.raises(ConfigError, match="number of electrodes, not True"):
        one_hot(True, 0)
