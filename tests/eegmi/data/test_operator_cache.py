"""The topomap operator of a built-in montage is read back from disk exactly, and a
bad cache file is never used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from eegmi.data import operator_cache, topomap
from eegmi.data.montage import get_montage
from eegmi.data.topomap import TopomapOperator


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EEGMI_CACHE", str(tmp_path))
    monkeypatch.setattr(topomap, "_NAMED", {})
    monkeypatch.setattr(topomap, "_CACHE", {})
    return tmp_path


def test_stored_operator_equals_the_built_one(cache) -> None:
    built = TopomapOperator(get_montage("biosemi32"), 24, "cubic")
    first = topomap.get_operator("biosemi32", 24, "cubic")
    path = operator_cache.cache_file("biosemi32", 24, "cubic")
    assert path is not None and path.is_file()
    loaded = operator_cache.load("BioSemi32", 24, "cubic")
    assert loaded is not None and loaded is not first
    for op in (first, loaded):
        for name in TopomapOperator.ARRAYS:
            np.testing.assert_array_equal(getattr(op, name), getattr(built, name))
        assert op.montage == built.montage
        assert (op.pixel_size, op.head_radius) == (built.pixel_size, built.head_radius)
    values = np.random.default_rng(0).random((3, 32)).astype(np.float32)
    np.testing.assert_array_equal(loaded.render(values), built.render(values))
    assert not loaded.matrix.flags.writeable


def test_a_bad_cache_file_is_ignored_and_the_operator_built(cache) -> None:
    path = operator_cache.cache_file("biosemi32", 24, "linear")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 not a zip")
    assert operator_cache.load("biosemi32", 24, "linear") is None
    good = TopomapOperator(get_montage("biosemi32"), 24, "linear")
    np.savez(path, meta_name=np.array("biosemi32"), meta_method=np.array("linear"),
             meta_size=np.array(24), ch_names=np.array(good.montage.ch_names),
             pos=good.montage.pos, scalars=np.array([good.pixel_size, good.head_radius]),
             **{k: getattr(good, k) for k in TopomapOperator.ARRAYS[1:]},
             matrix=np.full((24 * 24, 32), np.nan, np.float32))  # poisoned
    assert operator_cache.load("biosemi32", 24, "linear") is None
    op = topomap.get_operator("biosemi32", 24, "linear")
    assert np.all(np.isfinite(op.matrix))


def test_files_and_odd_names_are_never_cached(cache, tmp_path) -> None:
    assert operator_cache.cache_file("../x", 40, "cubic") is None
    custom = tmp_path / "three.sfp"
    custom.write_text("A 0.08 0 0\nB 0 0.08 0\nC -0.08 0 0\nD 0 -0.08 0\nE 0 0 0.09\n")
    op = topomap.get_operator(get_montage(custom), 16, "linear")
    assert operator_cache.store(op, str(custom)) is None
    assert not list(cache.glob("topomap_*"))


def test_a_cached_operator_needs_neither_mne_nor_scipy(cache) -> None:
    topomap.get_operator("biosemi32", 40, "cubic")  # stored
    code = textwrap.dedent("""
        import sys
        from eegmi.data.topomap import get_operator
        op = get_operator("biosemi32", 40, "cubic")
        print(op.matrix.shape, "mne" in sys.modules, "scipy.interpolate" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "EEGMI_CACHE": str(cache)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(1600,", "32)", "False", "False"]
