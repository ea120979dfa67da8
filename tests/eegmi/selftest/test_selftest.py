"""`eegmi selftest`: the quick run the suite (CI) relies on, and the runner's contract
(fixed order, missing or broken families reported as failures, progress, cancel)."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import pytest

from eegmi.cli import main
from eegmi.errors import Cancelled, ConfigError
from eegmi.jobs import CancelToken, Progress, run_job
from eegmi.selftest import Check
from eegmi.selftest.run import FAMILIES, run_selftest


def _installed() -> list[str]:
    return [f for f in FAMILIES if importlib.util.find_spec(f"eegmi.selftest.{f}") is not None]


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _fake_family(name: str, rows, steps: int = 3, log: list | None = None) -> types.ModuleType:
    """A stand-in family module ``eegmi.selftest.<name>`` whose checks() returns ``rows``."""
    mod = types.ModuleType(f"eegmi.selftest.{name}")

    def checks(quick: bool = False, cancel: CancelToken | None = None):
        if log is not None:
            log.append((name, quick))
        for i in range(steps):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress(i + 1, steps, f"step {i + 1}")
        if isinstance(rows, Exception):
            raise rows
        return rows

    mod.checks = checks
    return mod


def test_quick_selftest_of_installed_families_passes(capsys):
    """The CI run: every installed family's quick checks meet their bars, exit 0."""
    present = _installed()
    assert "sae" in present
    assert main(["selftest", "--quick", "--json", "--only", *present]) == 0
    out = _json(capsys)
    assert out["passed"] is True and out["quick"] is True
    assert out["families"] == [f for f in FAMILIES if f in present]
    assert out["n_failed"] == 0 and out["n_checks"] == len(out["checks"])
    for row in out["checks"]:
        assert set(row) == {"analysis", "case", "score", "bar", "passed", "detail"}
        assert row["passed"] is True and row["bar"]
    assert set(out["seconds"]) == set(present)
    sae = [r for r in out["checks"] if r["analysis"] == "sae"]
    recovered = [r for r in sae if "recovers" in r["case"]]
    controls = [r for r in sae if r["case"].startswith("control")]
    # the bar separates: the planted case clears it, the controls (which pass by failing it) do not
    assert recovered and len(controls) >= 2
    assert min(r["score"] for r in recovered) >= 0.9 > max(r["score"] for r in controls)
    assert any("L0" in r["case"] for r in sae)


def test_text_table_and_missing_family_exits_nonzero(monkeypatch, capsys):
    # a family whose module is absent is a failed row, never skipped
    monkeypatch.setitem(sys.modules, "eegmi.selftest.pick", None)
    monkeypatch.setitem(sys.modules, "eegmi.selftest.sanity", _fake_family(
        "sanity", [Check("saliency sanity", "weight-dependent method", 0.1, "< 0.5", True)]))
    assert main(["selftest", "--quick", "--only", "sanity", "pick"]) == 2
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["analysis", "case", "score", "bar", "result"]
    # fixed family order whatever the order of --only
    pick_line = next(i for i, s in enumerate(lines) if s.startswith("pick"))
    sanity_line = next(i for i, s in enumerate(lines) if s.startswith("saliency sanity"))
    assert pick_line < sanity_line
    assert "not installed" in lines[pick_line] and lines[pick_line].endswith("FAIL")
    assert lines[sanity_line].endswith("pass")
    assert lines[-1].startswith("self-test FAILED: 1 of 2 checks passed, 1 failed (pick: not installed")
    assert "1 of 2 self-test checks failed" in captured.err and "Traceback" not in captured.err


def test_new_family_modules_are_picked_up(monkeypatch, capsys):
    """A family module that lands later runs with no change to the runner."""
    log: list = []
    good = Check("eigenspectrum", "planted alpha 1.5", 1.49, "|alpha - 1.5| < 0.1", True)
    bad = Check("eigenspectrum", "untrained null", 1.2, "> 1.4", False, "too shallow")
    monkeypatch.setitem(sys.modules, "eegmi.selftest.spectra",
                        _fake_family("spectra", [good, bad], log=log))
    assert main(["selftest", "--quick", "--json", "--only", "spectra"]) == 2
    out = _json(capsys)
    assert log == [("spectra", True)]
    assert out["passed"] is False and out["n_failed"] == 1
    assert [r["case"] for r in out["checks"]] == ["planted alpha 1.5", "untrained null"]
    assert [r["passed"] for r in out["checks"]] == [True, False]
    # only passing rows: exit 0
    monkeypatch.setitem(sys.modules, "eegmi.selftest.spectra", _fake_family("spectra", [good]))
    assert main(["selftest", "--json", "--only", "spectra"]) == 0
    assert _json(capsys)["passed"] is True


@pytest.mark.parametrize("returned,case", [
    (RuntimeError("boom"), "raised an error"),
    ([], "returned no checks"),
    ([("not", "a", "check")], "returned something other than a list of Check rows"),
])
def test_broken_family_is_a_failed_row_and_the_others_still_run(monkeypatch, returned, case):
    ok = Check("saliency sanity", "weight-dependent method", 0.1, "< 0.5", True)
    monkeypatch.setitem(sys.modules, "eegmi.selftest.spectra", _fake_family("spectra", returned))
    monkeypatch.setitem(sys.modules, "eegmi.selftest.sanity", _fake_family("sanity", [ok]))
    res = run_job(run_selftest(quick=True, only=["sanity", "spectra"]))
    assert res.families == ["spectra", "sanity"]
    assert [c.case for c in res.checks] == [case, "weight-dependent method"]
    assert not res.checks[0].passed and np.isnan(res.checks[0].score)
    if isinstance(returned, Exception):
        assert "RuntimeError: boom" in res.checks[0].detail
    assert not res.passed and res.failed == [res.checks[0]]


def test_import_error_inside_a_family_is_reported(monkeypatch):
    mod = types.ModuleType("eegmi.selftest.pick")  # no checks() at all
    monkeypatch.setitem(sys.modules, "eegmi.selftest.pick", mod)
    res = run_job(run_selftest(only=["pick"]))
    assert [c.case for c in res.checks] == ["no checks() function"] and not res.passed


def test_progress_spans_the_run_and_cancel_stops_it(monkeypatch):
    for name in ("pick", "spectra"):
        monkeypatch.setitem(sys.modules, f"eegmi.selftest.{name}", _fake_family(
            name, [Check(name, "case", 1.0, ">= 1", True)], steps=4))
    reports: list[Progress] = []
    res = run_job(run_selftest(only=["pick", "spectra"]), on_progress=reports.append)
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(p.message.startswith("pick: step") for p in reports)
    assert any(p.message.startswith("spectra: step") for p in reports)
    assert res.passed and [c.analysis for c in res.checks] == ["pick", "spectra"]
    # cancelled during the first family: the run stops, the second family never starts
    token = CancelToken()
    seen: list[str] = []

    def on_progress(p: Progress) -> None:
        seen.append(p.message)
        if p.message == "pick: step 2":
            token.cancel()

    with pytest.raises(Cancelled):
        run_job(run_selftest(only=["pick", "spectra"], cancel=token), on_progress, token)
    assert not any(m.startswith("spectra") for m in seen)


def test_unknown_family_is_a_config_error(capsys):
    with pytest.raises(ConfigError, match="unknown self-test family nope"):
        run_job(run_selftest(only=["nope"]))
    with pytest.raises(SystemExit):
        main(["selftest", "--only", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_sae_check_fails_when_training_recovers_nothing(monkeypatch, capsys):
    """Planted failure: a trainer that learns random directions must fail the recovery bar."""
    import eegmi.selftest.sae as sae_family

    def random_training(x, kind, steps, seed, cancel, label):
        yield Progress(1, 1, label)
        # (not default_rng(seed): its first draws are the planted directions themselves)
        return np.random.default_rng(seed + 99).standard_normal((128, x.shape[1])).astype(np.float32)

    monkeypatch.setattr(sae_family, "_train", random_training)
    assert main(["selftest", "--quick", "--json", "--only", "sae"]) == 2
    out = _json(capsys)
    rows = {r["case"].split(" (")[0]: r for r in out["checks"]}
    recovered = next(r for c, r in rows.items() if "recovers" in c)
    assert recovered["passed"] is False and recovered["score"] < 0.9
    # the metric rows do not depend on training and still pass
    assert all(r["passed"] for c, r in rows.items() if c.startswith("metric"))
