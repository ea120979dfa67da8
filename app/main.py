"""Entry point of the workbench (``eegmi gui`` / ``eegmi-gui``).

``--screenshot FILE`` loads the data and model, waits until the first forward
pass has been painted, saves the window to FILE and exits (0 on success).
``--export-panels DIR`` (with ``--inject``/``--amplitude`` or ``--frame``) writes
every panel's figure, data and state for that input and exits
(:mod:`app.export_panels`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    # headless export of every panel (app.export_panels)
    parser.add_argument("--export-panels", metavar="DIR", default=None,
                        help="write every panel's figure (PDF/SVG/PNG), data (.npz) and state "
                             "(.json) for the input given by --inject or --frame, plus "
                             "DIR/panels.json, and exit")
    parser.add_argument("--inject", metavar="ELECTRODES", default=None,
                        help="with --export-panels: electrodes to inject, e.g. Cz or "
                             "Cz,Pz or Cz=1.5,Pz=-1")
    parser.add_argument("--amplitude", type=float, default=1.0,
                        help="with --inject: amplitude of electrodes given without one "
                             "(default 1; limited to ±2)")
    parser.add_argument("--frame", type=int, default=None,
                        help="with --export-panels: show this frame of the data instead")
    parser.add_argument("--formats", default=None,
                        help="with --export-panels: comma-separated formats "
                             "(default pdf,svg,png,npz,json)")
    parser.add_argument("--dpi", type=int, default=300,
                        help="with --export-panels: figure resolution (default 300)")
    parser.add_argument("--no-analyses", action="store_true",
                        help="with --export-panels: do not run the analysis panels' default "
                             "analyses first")


def run(model: str | None = None, data: str = "synthetic", screenshot: str | None = None,
        export: Any = None, pin: str | None = None) -> int:
    """Open the window (blocking until it closes); returns the exit code.

    ``export`` (an :class:`app.export_panels.ExportRequest`) exports every panel and
    returns instead of waiting for the window to close.
    """
    if (screenshot or export is not None) and not (os.environ.get("DISPLAY")
                                                   or os.environ.get("WAYLAND_DISPLAY")):
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
    if export is not None:
        from dataclasses import replace

        from app.export_panels import run_export

        if pin is not None and not export.pin:
            export = replace(export, pin=pin)  # pinned through the session, then exported

        window.resize(*SCREENSHOT_SIZE)
        window.show()
        outcome = {"code": 2}

        def export_and_quit() -> None:
            try:
                outcome["code"] = run_export(window, model or DEFAULT_MODEL, data, export)
            finally:
                # closed from inside the event loop, as --screenshot does: tearing the
                # window down after the loop has gone crashed the interpreter's exit
                window.close()
                app.quit()

        QTimer.singleShot(0, export_and_quit)
        app.exec()
        return outcome["code"]
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
    from app.export_panels import request_from_args
    from eegmi.errors import EegmiError

    try:
        export = request_from_args(args)
    except EegmiError as exc:
        sys.stderr.write(f"eegmi-gui: error: {exc.line()}\n")
        return 2
    return run(args.model, args.data, args.screenshot, export, args.pin)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
