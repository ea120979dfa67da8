"""Commands that need no model stay light: no torch (and no scipy.interpolate) in their imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import contextlib, io, json, sys
from eegmi.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "scipy.interpolate")))
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
"""


def _run(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("models", "--json"), ("models",),
                                  ("data", "info", "synthetic", "--json")])
def test_commands_without_a_model_import_no_torch(argv):
    res = _run(*argv)
    assert res["code"] in (0, None)
    assert res["heavy"] == []
    if argv == ("models", "--json"):
        names = [m["name"] for m in json.loads(res["out"])["models"]]
        assert names == sorted(p.name for p in (ROOT / "resources" / "models").iterdir()
                               if (p / "model.json").is_file())
