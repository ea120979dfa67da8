"""``eegmi gui --export-panels DIR``: the whole workbench exported headless for one input.

Opens the real window (offscreen when ``QT_QPA_PLATFORM=offscreen`` or there is no
display), loads the model and data through the session, sets the input through the
workbench (``--inject Cz[=A],...`` with ``--amplitude``, or ``--frame N``), pins a
second model through the session when ``--pin MODEL`` is given (the compare panel then
exports its figure, and must), waits for
the forward pass, runs each analysis panel's default analysis through its own Run path
(unless ``--no-analyses``), and writes every panel's figure, data and state
(``DIR/<panel>.pdf`` ... ``DIR/<panel>.json``, :func:`app.export.export_panel`) and an
index ``DIR/panels.json`` (files per panel; panels that could not export, with why).

Waiting is done by running the Qt event loop until a condition holds (the worker
reports through queued signals), never by sleeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError, DataError, EegmiError

#: seconds to wait for a load, the forward pass, or one analysis
LOAD_TIMEOUT_S = 300.0
ANALYSIS_TIMEOUT_S = 1800.0
DEFAULT_FORMATS = ("pdf", "svg", "png", "npz", "json")


@dataclass
class ExportRequest:
    """What ``--export-panels`` was asked for."""

    folder: Path
    inject: dict[str, float | None] = field(default_factory=dict)
    amplitude: float = 1.0
    frame: int | None = None
    formats: tuple[str, ...] = DEFAULT_FORMATS
    analyses: bool = True
    dpi: int = 300
    #: a second model pinned beside the first (``--pin``): the compare panel exports it
    pin: str | None = None


def parse_inject(text: str | None) -> dict[str, float | None]:
    """``"Cz"``, ``"Cz,Pz"`` or ``"Cz=1.5,Pz=-1"`` -> {name: amplitude or None (the default)}."""
    out: dict[str, float | None] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, amp = part.partition("=")
        try:
            out[name.strip()] = float(amp) if amp.strip() else None
        except ValueError:
            raise ConfigError(f"--inject: amplitude of {name.strip()!r} is not a number: {amp!r}") from None
    return out


def parse_formats(text: str | None) -> tuple[str, ...]:
    """``"pdf,png"`` -> ("pdf", "png"), checked against the export formats."""
    from app.export import FORMATS

    if not text:
        return DEFAULT_FORMATS
    formats = tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--formats: unknown {unknown or 'empty list'}; use {', '.join(FORMATS)}")
    return formats


def request_from_args(args: Any) -> ExportRequest | None:
    """The export asked for by ``eegmi gui`` arguments (None without ``--export-panels``)."""
    folder = getattr(args, "export_panels", None)
    if folder is None:
        if getattr(args, "inject", None) or getattr(args, "frame", None) is not None:
            raise ConfigError("--inject and --frame apply to --export-panels only")
        return None
    if getattr(args, "inject", None) and getattr(args, "frame", None) is not None:
        raise ConfigError("give --inject or --frame, not both")
    return ExportRequest(Path(folder), parse_inject(args.inject), float(args.amplitude),
                         args.frame, parse_formats(args.formats), not args.no_analyses,
                         int(args.dpi), getattr(args, "pin", None) or None)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the Qt event loop until ``condition()`` holds; raise after ``timeout_s``."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline
                          else None)
    timer.start()
    loop.exec()
    timer.stop()
    if not condition():
        raise ConfigError(f"timed out after {timeout_s:g} s waiting for {what}")


def _finish(handle: Any, what: str, timeout_s: float = LOAD_TIMEOUT_S) -> Any:
    wait_until(lambda: handle.done, timeout_s, what)
    if handle.state == "failed":
        raise DataError(handle.error or f"{what} failed")
    if handle.state == "cancelled":
        raise DataError(f"{what} was cancelled")
    return handle.result


def _spec(text: str) -> str:
    """A file or folder given on the command line as an absolute path (the exported states
    then re-render from any folder); a bundled name or ``synthetic`` as it is."""
    p = Path(text)
    return str(p.resolve()) if p.exists() else text


def apply_input(session: Any, request: ExportRequest) -> None:
    """Set the workbench's input as asked (what a user's clicks or frame choice do)."""
    wb = session.workbench
    if request.frame is not None:
        wb.set_frame(request.frame)
        if wb.input.frame != request.frame:
            raise DataError(f"--frame {request.frame}: the data has {wb.data.n_frames} frames")
    elif request.inject:
        wb.set_amplitude(request.amplitude)
        wb.inject({name: request.amplitude if amp is None else amp
                   for name, amp in request.inject.items()})


def _pending(panels: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, panel in panels.items():
        check = getattr(panel, "figure_pending", None)
        why = check() if callable(check) else ""
        if why:
            out[name] = why
    return out


#: panels that always draw the current input (a missing figure is an error)
INPUT_PANELS = ("scalp", "reconstruction", "activations", "latents")
#: panels that draw the current input beside a pinned model (expected when one is pinned)
PINNED_PANELS = ("compare",)


def _is_analysis_panel(panel: Any) -> bool:
    return callable(getattr(panel, "default_analysis", None)) or (
        callable(getattr(panel, "run", None)) and hasattr(panel, "analysis"))


def expects_figure(name: str, panel: Any, analyses_run: bool) -> bool:
    """Whether panel ``name`` must have exported a figure: an input panel always; the
    compare panel when a second model is pinned; an analysis panel when its analysis was
    run (by ``run_analyses``) or already shown."""
    from app.export import has_figure

    if not has_figure(panel):
        return False
    if name in INPUT_PANELS:
        return True
    if name in PINNED_PANELS:
        return getattr(getattr(panel, "session", None), "pinned", None) is not None
    if _is_analysis_panel(panel):
        return analyses_run or getattr(panel, "analysis", None) is not None
    return False


def run_analyses(panels: dict[str, Any]) -> dict[str, str]:
    """Run each analysis panel's default analysis (its Run button) where it shows none.

    An analysis panel is one with ``run()`` and an ``analysis`` attribute (its recipe
    state, None before a run); a panel may offer ``default_analysis()`` instead.
    Returns {panel: why it has no analysis} for the runs that failed.
    """
    failed: dict[str, str] = {}
    for name, panel in panels.items():
        start = getattr(panel, "default_analysis", None)
        if not callable(start):
            if not callable(getattr(panel, "run", None)) or getattr(panel, "analysis", 0) is not None:
                continue
            start = panel.run
        handle = start()
        if handle is None or not hasattr(handle, "done"):
            continue
        try:
            _finish(handle, f"the {name} analysis", ANALYSIS_TIMEOUT_S)
        except EegmiError as exc:
            failed[name] = exc.line()
    return failed


def export_all(window: Any, request: ExportRequest) -> dict[str, Any]:
    """Write every panel's figure, data and state to ``request.folder``; returns the index."""
    from app.export import export_panel, has_figure

    folder = request.folder
    folder.mkdir(parents=True, exist_ok=True)
    exported: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    for name, panel in window.panels.items():
        if not has_figure(panel):
            failed[name] = "this panel has no figure export"
            continue
        try:
            files = export_panel(panel, folder / name, request.formats, dpi=request.dpi)
        except EegmiError as exc:
            failed[name] = exc.message
            continue
        exported[name] = [f.name for f in files]
    s = window.session
    return {"model": s.model_name, "pinned": s.pinned_name or None, "data": s.data_name,
            "input": s.input.to_json(),
            "formats": list(request.formats), "dpi": request.dpi, "panels": exported,
            "not_exported": failed}


def run_export(window: Any, model: str, data: str, request: ExportRequest) -> int:
    """The whole ``--export-panels`` run on an open window; returns the exit code."""
    import sys

    from eegmi.paths import atomic_path

    session = window.session
    try:
        data_handle = session.set_data(_spec(data))
        _finish(data_handle, f"loading data {data}")
        model_handle = session.set_model(_spec(model))
        _finish(model_handle, f"loading model {model}")
        if request.pin:
            _finish(session.pin_model(_spec(request.pin)), f"pinning model {request.pin}")
        apply_input(session, request)
        panels = dict(window.panels)
        wait_until(lambda: not _pending(panels), LOAD_TIMEOUT_S,
                   "the views of the input (" + ", ".join(_pending(panels).values()) + ")")
        analysis_failures = run_analyses(panels) if request.analyses else {}
        wait_until(lambda: not _pending(panels), LOAD_TIMEOUT_S, "the views after the analyses")
        index = export_all(window, request)
        index["analyses"] = "skipped (--no-analyses)" if not request.analyses else "run"
        index["analyses_failed"] = analysis_failures
        with atomic_path(request.folder / "panels.json") as tmp:
            tmp.write_text(json.dumps(index, indent=2))
    except EegmiError as exc:
        sys.stderr.write(f"eegmi: error: {exc.line()}\n")
        return 2
    # a panel that should have drawn something and did not export fails the command; a
    # panel with nothing to show (no analysis asked for, no training run, no SAE, no
    # pinned model without --pin) is only listed in the index with its reason
    broken = [n for n in index["not_exported"]
              if expects_figure(n, window.panels[n], request.analyses)]
    if broken:
        sys.stderr.write(f"eegmi: error: {request.folder / 'panels.json'}: panel(s) "
                         f"{', '.join(broken)} could not export: "
                         f"{'; '.join(index['not_exported'][n] for n in broken)}\n")
        return 2
    return 0
