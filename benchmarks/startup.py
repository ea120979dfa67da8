"""Start-up time of the commands that need no model, and what they import.

Each command runs in a fresh interpreter (``python -c`` calling ``eegmi.cli.main``)
for ``--rounds`` rounds; the commands (and, with ``--before DIR``, the same
commands on another checkout, e.g. ``/work/main``) alternate round by round, so
the machine's load hits all alike.  Reported per command: wall seconds (min and
median, interpreter start included) and whether torch / scipy.interpolate were
imported.  Reference rows: a bare interpreter, ``import numpy``, ``import torch``,
``import scipy.interpolate``, the first ``torch.optim.Adam`` construction and step
after ``import torch`` (torch imports ``torch._dynamo`` lazily there), and the
GUI's window module imports (``app.main_window``).

Usage: ``python benchmarks/startup.py [--rounds 5] [--before /work/main]``; prints
the load average and one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_average  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "--help": ["--help"],
    "models --json": ["models", "--json"],
    "data info synthetic --json": ["data", "info", "synthetic", "--json"],
    "train --help": ["train", "--help"],
}

PROBE = """
import contextlib, io, json, sys
from eegmi.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
mods = sys.modules
print(json.dumps({"torch": "torch" in mods, "scipy_interpolate": "scipy.interpolate" in mods}))
"""

REFERENCE = {
    "python (bare)": "pass",
    "import numpy": "import numpy",
    "import torch": "import torch",
    "import scipy.interpolate": "import scipy.interpolate",
    "import app.main_window (GUI)": "import app.main_window",
}

#: the workbench window as a user starts it: seconds from launching the interpreter until
#: the window is shown with its scalp map usable (electrodes placed, clicks handled), then
#: until the default data and model E3 are loaded in the background; and whether torch,
#: scipy.interpolate or MNE were imported by the GUI thread before the window showed
GUI = """
import json, sys, tempfile, threading, time, builtins
spawned = float(sys.argv[1])
gui_imports = set()
real_import = builtins.__import__
def watch(name, *a, **k):
    top = name.split(".")[0]
    if threading.current_thread() is threading.main_thread() and top in ("torch", "mne") \
            or name.startswith("scipy.interpolate"):
        if threading.current_thread() is threading.main_thread() and top not in sys.modules \
                or name not in sys.modules:
            gui_imports.add(top if top != "scipy" else "scipy.interpolate")
    return real_import(name, *a, **k)
builtins.__import__ = watch
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow
settings = QSettings(tempfile.mkdtemp() + "/s.ini", QSettings.Format.IniFormat)
w = MainWindow(settings=settings)
w.resize(1600, 1000)
w.show()
app.processEvents()
scalp = w.panels["scalp"].scalp
shown = time.time() - spawned
before_show = sorted(gui_imports)
builtins.__import__ = real_import
usable = len(scalp.names) == 32
loop = QEventLoop()
s = w.session
def done():
    if s.model is not None and s.data is not None and s.last_forward is not None \
            and s.last_forward.recon is not None:
        loop.quit()
s.forward_ready.connect(lambda _r: done())
w.open_data("synthetic")
w.open_model("E3")
QTimer.singleShot(120000, loop.quit)
loop.exec()
print(json.dumps({"window_s": shown, "scalp_usable": usable,
                  "model_and_data_s": time.time() - spawned,
                  "imported_on_gui_thread_before_show": before_show}))
w.close()
"""

ADAM = """
import time, json
import torch
t0 = time.perf_counter()
p = [torch.nn.Parameter(torch.zeros(4))]
opt = torch.optim.Adam(p, lr=1e-3)
t1 = time.perf_counter()
p[0].sum().backward()
opt.step()
t2 = time.perf_counter()
print(json.dumps({"first_adam_s": t1 - t0, "first_step_s": t2 - t1}))
"""


def _run(code: str, argv: list[str], root: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         env=env, cwd=root, check=True).stdout
    return time.perf_counter() - t0, out.strip().splitlines()[-1] if out.strip() else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", type=Path, default=None,
                    help="another checkout to time the same commands on (e.g. /work/main)")
    args = ap.parse_args()
    print("load average:", load_average(), file=sys.stderr)
    trees = {"after": ROOT}
    if args.before is not None:
        trees = {"before": args.before.resolve(), "after": ROOT}
    times: dict[str, list[float]] = {}
    imports: dict[str, dict] = {}
    adam: list[dict] = []
    gui: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            for tree, root in trees.items():
                key = f"{tree}: eegmi {name}"
                dt, line = _run(PROBE, argv, root)
                times.setdefault(key, []).append(dt)
                imports[key] = json.loads(line)
        for name, code in REFERENCE.items():
            dt, _ = _run(code, [], ROOT)
            times.setdefault(name, []).append(dt)
        adam.append(json.loads(_run(ADAM, [], ROOT)[1]))
        for tree, root in trees.items():
            _, line = _run(GUI, [repr(time.time())], root)
            gui.setdefault(tree, []).append(json.loads(line))
    result: dict[str, object] = {
        "benchmark": "startup", "rounds": args.rounds, "load_average": load_average(),
        "trees": {k: str(v) for k, v in trees.items()},
        "wall_s": {k: {"min": round(min(v), 3), "median": round(statistics.median(v), 3)}
                   for k, v in times.items()},
        "imports": imports,
        "first_adam": {k: {"min": round(min(a[k] for a in adam), 3),
                           "median": round(statistics.median(a[k] for a in adam), 3)}
                       for k in adam[0]},
        "gui": {tree: {"window_s": {"min": round(min(r["window_s"] for r in runs), 3),
                                    "median": round(statistics.median(r["window_s"] for r in runs), 3)},
                       "model_and_data_s": {
                           "min": round(min(r["model_and_data_s"] for r in runs), 3),
                           "median": round(statistics.median(r["model_and_data_s"] for r in runs), 3)},
                       "scalp_usable": all(r["scalp_usable"] for r in runs),
                       "imported_on_gui_thread_before_show":
                           sorted({m for r in runs for m in r["imported_on_gui_thread_before_show"]})}
                for tree, runs in gui.items()},
        "load_average_end": load_average(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
