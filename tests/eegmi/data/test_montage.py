"""Montages from MNE, channel matching by name, and the head projection."""

from pathlib import Path

import numpy as np
import pytest

from eegmi.data.montage import DEAP_CHANNELS, Montage, get_montage, match_channels
from eegmi.data.projection import azimuthal_equidistant, fit_head_sphere
from eegmi.errors import ConfigError, DataError


def test_biosemi32_is_the_deap_cap() -> None:
    m = get_montage()
    assert m.name == "biosemi32"
    assert m.ch_names == DEAP_CHANNELS
    assert m.pos.shape == (32, 3) and m.n_channels == 32
    # Head frame: Fp1 in front (+y) and left (-x), Cz on top.
    fp1, cz = m.pos[m.index("fp1")], m.pos[m.index("CZ")]
    assert fp1[1] > 0.05 and fp1[0] < 0
    assert cz[2] == m.pos[:, 2].max()


def test_pick_subset_by_name_any_case() -> None:
    m = get_montage("biosemi32", ["cz", "FZ", "oz"])
    assert m.ch_names == ("Cz", "Fz", "Oz")
    full = get_montage("biosemi32")
    np.testing.assert_array_equal(m.pos[1], full.pos[full.index("Fz")])


def test_unknown_montage_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="biosemi32"):
        get_montage("no_such_cap")


def test_missing_file_and_missing_pick() -> None:
    with pytest.raises(DataError, match="not found"):
        get_montage("/nonexistent/cap.elc")
    with pytest.raises(DataError, match="XYZ"):
        get_montage("biosemi32", ["Cz", "XYZ"])
    with pytest.raises(DataError, match="twice"):
        get_montage("biosemi32", ["Cz", "cz"])


def test_custom_electrode_file(tmp_path: Path) -> None:
    # An EEGLAB .loc file: index, theta (deg, 0 = nose, +90 = right), radius, label.
    f = tmp_path / "cap.loc"
    f.write_text("1\t0\t0.25\tFront\n2\t90\t0.25\tRight\n3\t180\t0.25\tBack\n"
                 "4\t-90\t0.25\tLeft\n5\t0\t0\tTop\n")
    m = get_montage(f)
    assert m.ch_names == ("Front", "Right", "Back", "Left", "Top")
    xy = azimuthal_equidistant(m.pos)
    assert xy[0, 1] > 0 and xy[2, 1] < 0 and xy[1, 0] > 0 and xy[3, 0] < 0
    with pytest.raises(DataError, match="cap.bad"):
        bad = tmp_path / "cap.bad"
        bad.write_text("garbage")
        get_montage(bad)


def test_match_channels_by_name_not_position() -> None:
    m = get_montage("biosemi32", ["Fz", "Cz", "Pz"])
    names = ["EOG", "pz", "CZ", "fz", "Status"]
    idx = match_channels(names, m)
    assert [names[i].lower() for i in idx] == ["fz", "cz", "pz"]
    values = np.array([[9.0, 3.0, 2.0, 1.0, 8.0]])
    np.testing.assert_array_equal(values[:, idx], [[1.0, 2.0, 3.0]])


def test_match_channels_names_missing_and_duplicates() -> None:
    m = get_montage("biosemi32", ["Fz", "Cz", "Pz"])
    with pytest.raises(DataError, match=r"data\.dat: missing channel\(s\) Pz"):
        match_channels(["Fz", "Cz"], m, path="data.dat")
    with pytest.raises(DataError, match=r"duplicate channel\(s\) Cz"):
        match_channels(["Fz", "Cz", "cz", "Pz"], m)


def test_montage_equality_and_hash_follow_geometry() -> None:
    a, b = get_montage(), get_montage()
    assert a == b and hash(a) == hash(b)
    moved = Montage(a.name, a.ch_names, a.pos + 0.001)
    assert moved != a


def test_sphere_fit_recovers_known_sphere() -> None:
    rng = np.random.default_rng(1)
    d = rng.normal(size=(40, 3))
    d[:, 2] = np.abs(d[:, 2])  # upper cap only, like a real electrode layout
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    center, radius = fit_head_sphere(0.09 * d + [0.001, -0.002, 0.04])
    np.testing.assert_allclose(center, [0.001, -0.002, 0.04], atol=1e-9)
    assert radius == pytest.approx(0.09)
    with pytest.raises(DataError):
        fit_head_sphere(np.c_[rng.normal(size=(10, 2)), np.zeros(10)])


def test_projection_is_azimuthal_equidistant() -> None:
    # Points at known arcs from the vertex of a unit sphere centred at 0.
    theta = np.array([0.0, 0.5, 1.0, np.pi / 2, 1.9])
    az = np.array([0.0, 0.0, np.pi / 2, np.pi, -np.pi / 2])
    pos = np.c_[np.sin(theta) * np.cos(az), np.sin(theta) * np.sin(az), np.cos(theta)]
    xy = azimuthal_equidistant(pos, center=np.zeros(3))
    np.testing.assert_allclose(np.hypot(xy[:, 0], xy[:, 1]), theta, atol=1e-12)
    np.testing.assert_allclose(xy[2], [0.0, 1.0], atol=1e-12)  # +y stays towards the nose
    np.testing.assert_allclose(xy[3], [-np.pi / 2, 0.0], atol=1e-12)
