"""The window shows without the GUI thread importing torch, MNE or scipy's interpolators:
those take seconds, and the model worker loads them in the background."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from eegmi.data.topomap import get_operator

PROBE = textwrap.dedent("""
    import builtins, sys, threading
    seen = []
    real = builtins.__import__
    def watch(name, *a, **k):
        heavy = name.split(".")[0] in ("torch", "mne") or name.startswith("scipy.interpolate")
        if heavy and threading.current_thread() is threading.main_thread() \\
                and name not in sys.modules:
            seen.append(name)
        return real(name, *a, **k)
    builtins.__import__ = watch
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from app.main_window import MainWindow
    w = MainWindow()
    w.show()
    app.processEvents()
    builtins.__import__ = real
    print(len(w.panels["scalp"].scalp.names), sorted(set(seen)))
    w.close()
""")


def test_the_window_shows_without_heavy_imports_on_the_gui_thread(tmp_path) -> None:
    env = {**os.environ, "EEGMI_CACHE": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    old = os.environ.get("EEGMI_CACHE")
    os.environ["EEGMI_CACHE"] = str(tmp_path)
    try:
        from eegmi.data import topomap

        topomap._NAMED.clear()
        get_operator("biosemi32", 40, "cubic")  # a first start stores the operator
    finally:
        if old is None:
            del os.environ["EEGMI_CACHE"]
        else:
            os.environ["EEGMI_CACHE"] = old
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "32 []"
