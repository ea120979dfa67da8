"""Atomic writes: all or nothing, with ordinary file permissions."""

import pytest


def test_atomic_path_gives_files_the_usual_mode(tmp_path) -> None:
    import os

    from eegmi.paths import atomic_path

    target = tmp_path / "out.json"
    with atomic_path(target) as tmp:
        tmp.write_text("{}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert target.read_text() == "{}"
    assert os.stat(target).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_path_leaves_nothing_on_error(tmp_path) -> None:
    from eegmi.paths import atomic_path

    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
