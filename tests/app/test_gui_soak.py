"""A short soak: a few hundred seeded random user actions on the real window (issue 11).

The full run is ``benchmarks/gui_soak.py`` (3000 actions, RSS figures); here only what
must hold on every run: no exception escapes, and widgets do not pile up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from app.main import SCREENSHOT_SIZE
from app.main_window import MainWindow

SOAK_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gui_soak.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("gui_soak", SOAK_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def soak_window(qtbot, isolated_settings):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(*SCREENSHOT_SIZE)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_short_soak_no_exception_bounded_widgets(qtbot, soak_window, tmp_path) -> None:
    from app.sources import bundled_models

    if "E3" not in bundled_models():
        pytest.skip("needs the bundled models")
    soak = _soak_module()
    soak.wait_loaded(soak_window, "E3")
    out = soak.Soak(soak_window, tmp_path, seed=11).run(200, warmup=60, sample_every=1000,
                                                         tour=False)
    assert out["uncaught_exceptions"] == 0, out["exceptions"]
    assert out["top_level_widget_growth"] <= 5, out["top_level_growth_by_class"]
    done = out["actions_done"]
    # the run did what a user does, not only clicks
    for action in ("click_electrode", "switch_model", "start_job", "cancel_job", "drag_latent"):
        assert done.get(action, 0) > 0, action
    assert out["exports"] > 0 and out["dialogs_answered"] > 0
