"""``eegmi.selftest.spectra``: planted spectra, a rank cliff and the untrained null."""

from __future__ import annotations

import numpy as np

from eegmi.jobs import run_job
from eegmi.selftest import Check
from eegmi.selftest.spectra import checks, planted_spectrum


def test_spectra_selftest_passes_and_reports_each_case() -> None:
    reports = []
    rows = run_job(checks(quick=True), on_progress=reports.append)
    assert all(isinstance(r, Check) for r in rows) and len(rows) == 4
    assert all(r.passed for r in rows), [r.to_json() for r in rows]
    assert [round(r.score, 1) for r in rows[:2]] == [1.0, 2.0]
    assert rows[2].score == 32 and "effective rank 32" in rows[2].detail
    assert "±" in rows[3].detail and rows[3].score > 0
    assert reports and reports[-1].done == reports[-1].total


def test_planted_cases_can_fail() -> None:
    """The bars bite: a full-rank spectrum raises no rank warning, and the planted
    exponent is what the data says (a rank-32 matrix has 32 non-zero eigenvalues)."""
    from eegmi.analysis.eigenspectrum import eigenspectrum

    full = eigenspectrum(planted_spectrum(1500, 150, 1.0, seed=5))
    assert not any("effective rank" in w for w in full.warnings)
    low = planted_spectrum(500, 100, 1.0, seed=5, rank=32)
    assert np.linalg.matrix_rank(low) == 32
    assert abs(eigenspectrum(planted_spectrum(1500, 150, 2.0)).alpha - 1.0) > 0.5
