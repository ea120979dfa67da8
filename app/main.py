"""Entry point of the workbench (``eegmi gui`` / ``eegmi-gui``).

``--screenshot FILE`` loads the data and model, waits until the first forward
pass has been painted, saves the window to FILE and exits (0 on success).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

SCREENSHOT_TIMEOUT_MS = 180_000
SCREENSHOT_SIZE = (1600, 1000)
#: The model the window opens with: E3 (marks, no occlusion) is the rung whose
#: mechanism the paper analyses in most detail.
DEFAULT_MODEL = "E3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``eegmi gui`` and ``eegmi-gui``."""
    parser.add_argument("--model", default=None,
                        help="bundled model name (E1..E5) or checkpoint folder "
                             f"(default: {DEFAULT_MODEL})")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' (embedded default) or an EEG file")
    parser.add_argument("--pin", metavar="MODEL", default=None,
                        help="a second model (bundled name or checkpoint folder) pinned beside "
                             "the first for comparison (Model › Pin model for comparison)")
    parser.add_argument("--screenshot", metavar="FILE", default=None,
                        help="render the window after loading, save it as PNG and exit")


def run(model: str | None = None, data: str = "synthetic", screenshot: str | None = None,
        pin: str | None = None) -> int:
    """Open the window (blocking until it closes); returns the exit code."""
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # a headless screenshot needs no screen: render offscreen rather than abort
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, bundled_models

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("eegmi")
    app.setApplicationName("workbench")
    window = MainWindow()
    if model is None:
        names = bundled_models()
        model = DEFAULT_MODEL if DEFAULT_MODEL in names else (names[0] if names else None)
    state = {"code": 0, "model": model is None, "data": False, "armed": False}
    session = window.session

    def ready(what: str) -> None:
        state[what] = True
        if state["model"] and state["data"] and not state["armed"]:
            # both loaded: the next forward pass is the one to capture
            state["armed"] = True
            session.forward_ready.connect(grab)
            session.request_forward()

    def fail(message: str) -> None:
        if screenshot:
            sys.stderr.write(f"eegmi: error: {message}\n")
            state["code"] = 2
            window.close()
            app.quit()

    def grab(_result: object = None) -> None:
        session.forward_ready.disconnect(grab)
        # let every view process its repaint before grabbing
        QTimer.singleShot(200, save)

    def save() -> None:
        app.processEvents()
        out = Path(screenshot)
        out.parent.mkdir(parents=True, exist_ok=True)
        from eegmi.paths import atomic_path

        with atomic_path(out) as tmp:
            ok = window.grab().save(str(tmp), "PNG")
        if not ok:
            sys.stderr.write(f"eegmi: error: {out}: could not write screenshot\n")
            state["code"] = 2
        window.close()
        app.quit()

    if screenshot:
        # a fixed size, so screenshots do not depend on the (possibly virtual) screen
        window.resize(*SCREENSHOT_SIZE)
        session.model_changed.connect(lambda: ready("model"))
        session.data_changed.connect(lambda: ready("data"))
        session.error.connect(fail)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: fail("timed out waiting for the first frame"))
    window.show()
    window.open_data(data)
    if model is not None:
        window.open_model(model)
    if pin is not None:
        window.pin_model(pin)
    code = app.exec()
    return state["code"] or code


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``eegmi-gui``."""
    parser = argparse.ArgumentParser(prog="eegmi-gui", description="EEG interpretability workbench")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args.model, args.data, args.screenshot, args.pin)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
