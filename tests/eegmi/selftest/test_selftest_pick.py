"""``eegmi.selftest.pick``: the planted pick & interpolate cases pass their bars."""

from __future__ import annotations

import pytest

from eegmi.errors import Cancelled
from eegmi.jobs import CancelToken, run_job
from eegmi.selftest import Check
from eegmi.selftest.pick import checks


def test_pick_selftest_passes_and_says_what_it_checked():
    rows = run_job(checks(quick=True))
    assert rows and all(isinstance(r, Check) for r in rows)
    by_case = {r.case: r for r in rows}
    assert all(r.passed for r in rows), [r.to_json() for r in rows if not r.passed]
    assert by_case["rotated latents: headline"].score >= 0.99
    assert by_case["rotated latents: axis alignment fails"].score < 0.6
    assert by_case["untrained VAE: interpolate"].score < 0.5
    assert {r.analysis for r in rows} == {"pick-interpolate"}


def test_pick_selftest_cancels():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(checks(quick=True, cancel=token))
