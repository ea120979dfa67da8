"""The library must stay Qt-free: importing every eegmi module loads no Qt."""

import subprocess
import sys
import textwrap


def test_eegmi_imports_no_qt() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import eegmi
        failed = []
        for mod in pkgutil.walk_packages(eegmi.__path__, "eegmi."):
            if mod.name == "eegmi.__main__":
                continue
            importlib.import_module(mod.name)
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in {"PySide6", "pyqtgraph", "superqt", "app", "shiboken6"})
        print(",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"eegmi pulled in Qt modules: {out.stdout.strip()}"


def test_cli_help_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "eegmi", "--help"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0
    assert "COMMAND" in out.stdout

