"""Export: PNG (size, DPI), SVG, PDF, .npz numbers and .json state of real panels."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from gui_fixtures import write_tiny_data, write_tiny_model
from PySide6.QtGui import QImage

from app.export import FORMATS, export_panel
from app.main_window import MainWindow
from eegmi.errors import ConfigError


@pytest.fixture
def loaded_window(qtbot, isolated_settings, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    s = w.session
    with qtbot.waitSignal(s.data_changed, timeout=20000):
        w.open_data(write_tiny_data(tmp_path / "d.npz"))
    with qtbot.waitSignal(s.model_changed, timeout=20000):
        w.open_model(write_tiny_model(tmp_path / "tiny"))
    qtbot.waitUntil(lambda: w.panels["reconstruction"].result is not None
                    and w.panels["reconstruction"].result.recon is not None, timeout=10000)
    yield w
    w.close()


def test_export_reconstruction_panel_all_formats(loaded_window, tmp_path) -> None:
    panel = loaded_window.panels["reconstruction"]
    files = export_panel(panel, tmp_path / "out" / "recon", FORMATS, size=(420, 200), dpi=300)
    assert [f.suffix for f in files] == [".png", ".svg", ".pdf", ".npz", ".json"]
    img = QImage(str(files[0]))
    assert (img.width(), img.height()) == (420, 200)
    assert round(img.dotsPerMeterX() * 0.0254) == 300
    assert "<svg" in files[1].read_text(errors="replace")
    assert files[2].read_bytes()[:4] == b"%PDF"
    with np.load(files[3]) as npz:
        r = panel.result
        np.testing.assert_allclose(npz["input"], r.image)
        np.testing.assert_allclose(npz["output"], r.recon)
        inside = loaded_window.session.operator.head_mask
        np.testing.assert_allclose(npz["difference"][inside], (r.recon - r.image)[inside],
                                   atol=1e-6)
        assert np.all(npz["difference"][~inside] == 0)
    doc = json.loads(files[4].read_text())
    # the figure state (what re-renders it) with the figure's numbers
    assert doc["panel"] == "reconstruction" and doc["figure_version"] == 1
    assert doc["data"]["mse"] == pytest.approx(r.mse)
    assert doc["workbench"]["model"].endswith("tiny")
    assert doc["workbench"]["values"] == pytest.approx(r.values.tolist())
    assert doc["render"] == {"width_in": 1.4, "height_in": pytest.approx(200 / 300), "dpi": 300}
    assert sorted(doc["arrays"]) == ["difference", "head", "input", "output"]
    # no temporary leftovers beside the outputs
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.name for f in files)


def test_export_scalp_panel_keeps_clicked_state(qtbot, loaded_window, tmp_path) -> None:
    scalp = loaded_window.panels["scalp"]
    s = loaded_window.session
    i = s.operator.montage.index("Cz")
    with qtbot.waitSignal(s.forward_ready, timeout=10000):
        scalp.click_electrode(i)
    files = export_panel(scalp, tmp_path / "scalp.png", ["png", "npz", "json"])
    # the figure's default size (7 in wide) at the default 150 dpi, not the widget's size
    assert files[0].name == "scalp.png" and QImage(str(files[0])).width() == 7 * 150
    with np.load(files[1]) as npz:
        assert int(np.argmax(npz["values"])) == i
        assert npz["model_input"].shape == (40, 40)
    doc = json.loads(files[2].read_text())
    assert doc["workbench"]["input"]["mix"] == {"Cz": 1.0}
    assert doc["data"]["channels"][i] == "Cz" and doc["data"]["injected"] == {"Cz": 1.0}
    # the File > Export dialog's choices feed the same export path
    from app.export_dialog import ExportDialog

    dlg = ExportDialog(loaded_window.panels, "reconstruction", str(tmp_path / "dlg"))
    assert not dlg.screenshot.isChecked()  # a figure, rendered from the panel's data
    dlg.checks["svg"].setChecked(False)
    dlg.width_box.setValue(300)
    dlg.height_box.setValue(150)
    dlg.dpi.setValue(96)
    assert "3.12 × 1.56 in" in dlg.inches.text()
    opts = dlg.options()
    assert opts["panel"] is loaded_window.panels["reconstruction"]
    written = export_panel(**opts)
    assert sorted(f.suffix for f in written) == [".json", ".npz", ".pdf", ".png"]
    assert QImage(str(tmp_path / "dlg" / "figure.png")).size().toTuple() == (300, 150)
    assert json.loads((tmp_path / "dlg" / "figure.json").read_text())["render"]["dpi"] == 96
    # the screenshot option grabs the widget as drawn
    dlg.screenshot.setChecked(True)
    dlg.width_box.setValue(0)
    dlg.path.setText(str(tmp_path / "shot"))
    shot = export_panel(**dlg.options())
    assert QImage(str(shot[0])).width() == loaded_window.panels["reconstruction"].width()
    assert json.loads((tmp_path / "shot.json").read_text())["screenshot"] is True
    dlg.deleteLater()
    # a panel without a figure offers only the screenshot
    from app.export import has_figure

    plain = [n for n, p in loaded_window.panels.items() if not has_figure(p)]
    if plain:
        dlg2 = ExportDialog(loaded_window.panels, plain[0], str(tmp_path))
        assert dlg2.screenshot.isChecked() and not dlg2.screenshot.isEnabled()
        dlg2.deleteLater()
    # an unknown format is refused before anything is written
    with pytest.raises(ConfigError):
        export_panel(loaded_window.panels["reconstruction"], tmp_path / "x", ["png", "gif"])
    assert list(tmp_path.glob("x.*")) == []


def test_screenshot_cli_writes_a_non_blank_png(tmp_path) -> None:
    data = write_tiny_data(tmp_path / "d.npz")
    model = write_tiny_model(tmp_path / "tiny")
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "eegmi", "gui", "--data", str(data), "--model", str(model),
         "--screenshot", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = QImage(str(out))
    assert img.width() > 400 and img.height() > 300
    pixels = np.array([img.pixel(x, y) for x in range(0, img.width(), 17)
                       for y in range(0, img.height(), 17)])
    assert len(np.unique(pixels)) > 20  # a painted window, not a blank fill


def test_screenshot_run_reports_a_bad_model(qapp, isolated_settings, tmp_path, capsys) -> None:
    from app.main import run

    data = write_tiny_data(tmp_path / "d.npz")
    code = run(model=str(tmp_path / "nope"), data=str(data), screenshot=str(tmp_path / "s.png"))
    assert code == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err
    assert not (tmp_path / "s.png").exists()
