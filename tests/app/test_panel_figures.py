"""Panel figures of the inspect panels: exported from the GUI, re-rendered headless from
their state (``eegmi figures --from``), identical; ``eegmi gui --export-panels``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtCore import Qt

from app.export import export_panel
from app.main_window import MainWindow
from eegmi.cli import main as cli_main
from eegmi.figures.export import read_state, render_figure
from eegmi.figures.panel import panel_figure
from eegmi.jobs import run_job

INSPECT = ("scalp", "reconstruction", "activations", "latents")


def _png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"))


def _figure_texts(fig) -> list[str]:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_title("left")]
    return texts


@pytest.fixture
def clicked_window(qtbot, isolated_settings, tmp_path):
    """The window on a tiny model and recording, Cz clicked (real mouse) at amplitude 2."""
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    s = w.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        w.open_data(write_tiny_data(tmp_path / "d.npz"))
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        w.open_model(write_tiny_model(tmp_path / "tiny", marks=True))
    scalp = w.panels["scalp"]
    scalp.amp.setValue(2.0)  # the amplitude box, as a user types it
    i = s.operator.montage.index("Cz")
    with qtbot.waitSignal(s.forward_ready, timeout=20000):
        qtbot.mouseClick(scalp.scalp, Qt.MouseButton.LeftButton,
                         pos=scalp.scalp.electrode_pos(i).toPoint())
    panels = {n: w.panels[n] for n in INSPECT}
    qtbot.waitUntil(lambda: all(not p.figure_pending() for p in panels.values()), timeout=30000)
    assert s.input.mix == {"Cz": 2.0}
    yield w
    w.close()


def test_inspect_figures_rerender_identically_from_their_state(clicked_window, tmp_path,
                                                               capsys) -> None:
    for name in INSPECT:
        panel = clicked_window.panels[name]
        # the PNG written after the PDF and SVG (a figure saved as PDF first was laid out
        # again with the PDF's text metrics, and its PNG differed from one saved alone)
        files = export_panel(panel, tmp_path / name, ["pdf", "svg", "png", "npz", "json"], dpi=100)
        pdf, svg, png, npz_path, state_path = files
        # vector formats are vector: drawn paths and text, not one grabbed bitmap
        assert pdf.read_bytes()[:5] == b"%PDF-"
        svg_text = svg.read_text()
        assert svg_text.lstrip().startswith("<?xml") and "<path" in svg_text
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # the state alone re-renders it (CLI in-process, a fresh process would do the same)
        out = tmp_path / "again" / f"{name}.png"
        assert cli_main(["figures", "--from", str(state_path), "--out", str(out)]) == 0
        # the same figure, pixel for pixel: the same data drawn by the same code, the
        # model run on the same input on the same device (differences below the colour
        # maps' 1/256 steps and the printed digits would not show either)
        np.testing.assert_array_equal(_png(out), _png(png), err_msg=name)
        state = read_state(state_path)
        recomputed = run_job(panel_figure(name).compute(state, "cpu"))
        with np.load(npz_path) as npz:
            # every array the figure draws is in the .npz (which also keeps the panel's
            # other numbers, e.g. each layer's mosaic), and recomputes to the same values
            figure_keys = sorted(k for k, v in recomputed.items() if isinstance(v, np.ndarray))
            assert set(figure_keys) <= set(npz.files), name
            for key in figure_keys:
                np.testing.assert_allclose(recomputed[key], npz[key], atol=1e-6, rtol=0,
                                           err_msg=f"{name}: {key}")
        fig = render_figure(recomputed, state)
        caption = " ".join(fig.texts[i].get_text() for i in range(len(fig.texts)))
        assert "Model tiny" in caption and "Cz=+2.00" in caption, caption
        if name == "activations":
            layers = json.loads(state_path.read_text())["data"]["layers"]
            assert layers == panel.visible_layers() and len(layers) >= 8
            titles = " ".join(_figure_texts(fig))
            for layer in layers:
                assert f"{layer} " in titles, layer
        if name == "scalp":
            with np.load(npz_path) as npz:
                # the colour range follows the injected amplitude, not fixed at 1
                assert npz["levels"][1] == pytest.approx(2.0)
        if name == "latents":
            with np.load(npz_path) as npz:
                assert "decoded" in npz.files and "sigma" in npz.files
    capsys.readouterr()


def test_bad_state_files_give_one_line(tmp_path, capsys) -> None:
    good = {"figure_version": 1, "panel": "scalp", "title": "t",
            "workbench": {"model": "", "data": "", "values": [0.0] * 32,
                          "input": {"mode": "inject", "mix": {}}},
            "analysis": None, "view": {}, "render": {"width_in": 2, "height_in": 1, "dpi": 50}}
    cases = {
        "missing.json": None,
        "panel.json": {**good, "panel": "nope"},
        "version.json": {**good, "figure_version": 99},
        "notjson.json": "{",
        "values.json": {**good, "workbench": {**good["workbench"], "values": [1.0] * 32}},
    }
    for fname, doc in cases.items():
        path = tmp_path / fname
        if doc is not None:
            path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        code = cli_main(["figures", "--from", str(path), "--out", str(tmp_path / "o.png")])
        err = capsys.readouterr().err.strip()
        assert code != 0 and err.count("\n") == 0, (fname, err)
        assert err.startswith("eegmi: error:") and fname in err and "Traceback" not in err, err
    # a good state without a model renders the input side; a bad output suffix is named
    (tmp_path / "good.json").write_text(json.dumps(good))
    assert cli_main(["figures", "--from", str(tmp_path / "good.json"),
                     "--out", str(tmp_path / "o.svg")]) == 0
    assert (tmp_path / "o.svg").read_text().count("<path") > 10
    code = cli_main(["figures", "--from", str(tmp_path / "good.json"), "--out", str(tmp_path / "o.gif")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "o.gif" in err and err.count("\n") == 0


def test_gui_export_panels_offscreen(tmp_path) -> None:
    data = write_tiny_data(tmp_path / "d.npz")
    model = write_tiny_model(tmp_path / "tiny")
    out = tmp_path / "figs"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "eegmi", "gui", "--data", str(data), "--model", str(model),
         "--inject", "Cz", "--amplitude", "1.5", "--export-panels", str(out), "--no-analyses",
         "--formats", "pdf,png,npz,json", "--dpi", "80"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    index = json.loads((out / "panels.json").read_text())
    assert index["input"]["mix"] == {"Cz": 1.5}
    for name in INSPECT:
        assert index["panels"][name] == [f"{name}.{f}" for f in ("pdf", "png", "npz", "json")]
        for f in index["panels"][name]:
            assert (out / f).stat().st_size > 0
        state = json.loads((out / f"{name}.json").read_text())
        assert state["workbench"]["model"] == str(model.resolve())
    for name, why in index["not_exported"].items():
        assert name not in INSPECT and why
    # a bad electrode is one error line, nothing exported
    proc = subprocess.run(
        [sys.executable, "-m", "eegmi", "gui", "--data", str(data), "--model", str(model),
         "--inject", "Nose", "--export-panels", str(tmp_path / "bad"), "--no-analyses"],
        capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("eegmi")]
    assert proc.returncode != 0 and len(lines) == 1 and "Nose" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "bad" / "panels.json").exists()
