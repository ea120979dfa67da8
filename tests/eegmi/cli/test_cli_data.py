"""``eegmi data info | synth | render`` through eegmi.cli.main, including the error contract."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from eegmi.cli import main
from eegmi.data.montage import DEAP_CHANNELS
from eegmi.data.topomap import get_operator


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--out", str(out), "--subjects", "2", "--trials", "2",
                 "--seconds", "3", "--seed", "5", "--json"]) == 0
    return out


def test_help(capsys) -> None:
    for argv in (["data", "--help"], ["data", "info", "--help"], ["data", "synth", "--help"],
                 ["data", "render", "--help"]):
        with pytest.raises(SystemExit) as ex:
            main(argv)
        assert ex.value.code == 0
        assert "usage: eegmi data" in capsys.readouterr().out


def test_synth_writes_loadable_set(synth_dir, capsys) -> None:
    names = sorted(p.name for p in synth_dir.iterdir())
    assert names == ["synthetic.npz", "synthetic.truth.json", "synthetic.truth.npz"]
    code, out, err = run(capsys, "data", "info", str(synth_dir / "synthetic.npz"), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["shape"] == [2 * 2 * 3 * 128, 32]
    assert info["subjects"] == [0, 1] and info["n_trials"] == 4
    assert info["sfreq"] == 128.0 and info["duration_s"] == pytest.approx(12.0)
    assert info["missing_channels"] == [] and info["channels"] == list(DEAP_CHANNELS)
    assert info["synthetic"] is True and info["problem"] is None
    truth = json.loads((synth_dir / "synthetic.truth.json").read_text())
    assert truth["seed"] == 5 and truth["n_subjects"] == 2


def test_synth_is_deterministic(synth_dir, tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "data", "synth", "--out", str(tmp_path), "--subjects", "2",
                       "--trials", "2", "--seconds", "3", "--seed", "5", "--json")
    assert code == 0
    assert json.loads(out)["shape"] == [1536, 32]
    with np.load(tmp_path / "synthetic.npz") as a, np.load(synth_dir / "synthetic.npz") as b:
        np.testing.assert_array_equal(a["data"], b["data"])


def test_info_reports_missing_channels(tmp_path, capsys) -> None:
    keep = [c for c in DEAP_CHANNELS if c not in ("Oz", "T7")]
    p = tmp_path / "partial.npz"
    np.savez(p, data=np.random.default_rng(0).normal(size=(64, 30)), ch_names=np.array(keep))
    code, out, err = run(capsys, "data", "info", str(p), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert sorted(info["missing_channels"]) == ["Oz", "T7"]
    assert info["shape"] == [64, 30]
    assert "missing channel" in info["problem"] and "Oz" in info["problem"]
    vals = np.random.default_rng(0).normal(size=(64, 32))
    vals[:, DEAP_CHANNELS.index("Pz")] = 0.0
    np.savez(p, data=vals, ch_names=np.array(DEAP_CHANNELS))
    code, out, err = run(capsys, "data", "info", str(p), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["missing_channels"] == [] and "flat channel" in info["problem"]
    assert "Pz" in info["problem"]


def test_info_synthetic_default(capsys, monkeypatch) -> None:
    from eegmi.data import synthetic

    monkeypatch.setattr(synthetic, "default_dataset",
                        lambda: synthetic.make_synthetic(2, 1, 2.0, seed=0))
    code, out, _ = run(capsys, "data", "info", "synthetic", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["shape"] == [512, 32] and info["synthetic"] is True


def test_info_plain_text(synth_dir, capsys) -> None:
    code, out, _ = run(capsys, "data", "info", str(synth_dir / "synthetic.npz"))
    assert code == 0
    assert "sfreq: 128" in out and "n_trials: 4" in out


def test_render_png_nose_up(synth_dir, tmp_path, capsys) -> None:
    png = tmp_path / "frame.png"
    code, out, err = run(capsys, "data", "render", str(synth_dir / "synthetic.npz"),
                         "--frame", "10", "--out", str(png), "--zoom", "2", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert -0.1 <= res["image_min"] < res["image_max"] <= 1.1  # cubic may overshoot slightly
    img = np.asarray(Image.open(png))
    assert img.shape == (80, 80, 4)
    op = get_operator("biosemi32", 40, "cubic")
    alpha = img[::2, ::2, 3] > 0
    np.testing.assert_array_equal(alpha, op.head_mask)  # transparent outside the head
    # nose up: the frontal electrode Fpz-side (Fp1) is in the top half, Oz in the bottom half
    assert op.electrode_pixels[DEAP_CHANNELS.index("Fp1")][0] < 20
    assert op.electrode_pixels[DEAP_CHANNELS.index("Oz")][0] > 20
    # other sizes and methods
    png2 = tmp_path / "small.png"
    assert main(["data", "render", str(synth_dir / "synthetic.npz"), "--frame", "0",
                 "--out", str(png2), "--size", "24", "--method", "linear", "--zoom", "1"]) == 0
    assert np.asarray(Image.open(png2)).shape == (24, 24, 4)
    png3 = tmp_path / "hull.png"
    assert main(["data", "render", str(synth_dir / "synthetic.npz"), "--frame", "10",
                 "--out", str(png3), "--mask", "hull", "--zoom", "1"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(png3))[..., 3] > 0, op.hull_mask)


def test_render_pixels_follow_the_values(tmp_path, capsys) -> None:
    """A frame positive at frontal and negative at occipital sites is red on top, blue below."""
    vals = np.random.default_rng(0).normal(scale=0.1, size=(100, 32)).astype(np.float32)
    front = [DEAP_CHANNELS.index(c) for c in ("Fp1", "Fp2", "AF3", "AF4", "Fz", "F3", "F4")]
    back = [DEAP_CHANNELS.index(c) for c in ("O1", "O2", "Oz", "PO3", "PO4", "Pz")]
    vals[7, front] = 5.0
    vals[7, back] = -5.0
    src = tmp_path / "x.npz"
    np.savez(src, data=vals, ch_names=np.array(DEAP_CHANNELS))
    png = tmp_path / "x.png"
    assert main(["data", "render", str(src), "--frame", "7", "--out", str(png), "--zoom", "1"]) == 0
    img = np.asarray(Image.open(png)).astype(int)
    op = get_operator("biosemi32", 40, "cubic")
    r, c = op.electrode_pixels[DEAP_CHANNELS.index("Fz")]
    assert img[r, c, 0] > img[r, c, 2]  # red (high) at the front
    r, c = op.electrode_pixels[DEAP_CHANNELS.index("Oz")]
    assert img[r, c, 2] > img[r, c, 0]  # blue (low) at the back


@pytest.mark.parametrize("argv, message", [
    (["data", "render", "{npz}", "--frame", "99999", "--out", "{out}"], "out of range"),
    (["data", "render", "{npz}", "--frame", "0", "--out", "{out}", "--method", "magic"], "magic"),
    (["data", "render", "{bad}", "--frame", "0", "--out", "{out}"], "not a DEAP file"),
    (["data", "render", "{npz}", "--frame", "0", "--out", "{out}", "--cmap", "nope"], "nope"),
])
def test_render_errors_leave_no_file(synth_dir, tmp_path, capsys, argv, message) -> None:
    bad = tmp_path / "s01.dat"
    bad.write_bytes(pickle.dumps({"labels": 1}, protocol=2))
    out = tmp_path / "out.png"
    argv = [a.format(npz=synth_dir / "synthetic.npz", out=out, bad=bad) for a in argv]
    code, stdout, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("eegmi: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s01.dat"]


def test_info_errors(tmp_path, capsys) -> None:
    p = tmp_path / "empty.dat"
    p.write_bytes(b"")
    code, out, err = run(capsys, "data", "info", str(p), "--json")
    assert code == 2 and out == ""
    assert err == f"eegmi: error: {p}: file is empty\n"
    code, _, err = run(capsys, "data", "info", str(tmp_path / "x.weird"))
    assert code == 2 and "no such file" in err
    q = tmp_path / "x.weird"
    q.write_text("1")
    code, _, err = run(capsys, "data", "info", str(q))
    assert code == 2 and "unknown file type" in err


def test_synth_bad_arguments(tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(capsys, "data", "synth", "--out", str(target), "--subjects", "1",
                       "--trials", "1", "--seconds", "1")
    assert code == 2 and "not a folder" in err
    code, _, err = run(capsys, "data", "synth", "--out", str(tmp_path / "o"), "--subjects", "0")
    assert code == 2 and "impossible synthetic size" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("big", [3e38, -3e38])
def test_render_refuses_values_too_large_to_render(tmp_path, capsys, big) -> None:
    """Once a blank PNG and NaN image_min/max in the JSON: now exit 2, no file."""
    vals = np.random.default_rng(0).normal(size=(50, 32)).astype(np.float32)
    vals[::7, DEAP_CHANNELS.index("Cz")] = big
    src = tmp_path / "big.npz"
    np.savez(src, data=vals, ch_names=np.array(DEAP_CHANNELS))
    png = tmp_path / "x.png"
    code, out, err = run(capsys, "data", "render", str(src), "--frame", "0", "--out", str(png),
                         "--json")
    assert code == 2 and out == "" and not png.exists()
    assert err == (f"eegmi: error: {src}: channel Cz has values up to {big:.3g}, beyond ±1e+18: "
                   "too large to scale or render\n")
    code, out, _ = run(capsys, "data", "info", str(src), "--json")
    assert code == 0 and "too large to scale or render" in json.loads(out)["problem"]


def test_info_refuses_complex_data(tmp_path, capsys) -> None:
    vals = np.random.default_rng(0).normal(size=(50, 32)) * (1 + 1j)
    src = tmp_path / "c.npy"
    np.save(src, vals)
    code, out, err = run(capsys, "data", "info", str(src), "--json")
    assert code == 2 and out == ""
    assert err == f"eegmi: error: {src}: npy is complex (complex128): refusing to drop the " \
                  "imaginary part\n"
