"""The sanity check's statistics, its rule against model-independent baselines, the planted
self-test cases and the options shared by the CLI and the GUI."""

from __future__ import annotations

import numpy as np
import pytest

from eegmi.analysis.propagation import InputPipeline
from eegmi.analysis.sanity import compared_pixels
from eegmi.analysis.sanity_options import SanityOptions
from eegmi.analysis.sanity_rule import SanityRule, baseline_maps, judge, similarities
from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.selftest.sanity import BumpOperator, checks, planted_case


def _peaky(rng, size=24):
    return np.exp(3.0 * rng.normal(size=(size, size)))  # a few peaks, near 0 elsewhere


def test_similarity_of_unrelated_maps_is_near_zero_whatever_their_sparsity():
    """Two unrelated peaky maps are not similar (SSIM of max-scaled maps gave them ~0.4:
    both are near 0 almost everywhere)."""
    rng = np.random.default_rng(0)
    mask = np.ones((24, 24), bool)
    vals = np.array([similarities(_peaky(rng), _peaky(rng), mask) for _ in range(20)])
    assert np.all(np.abs(vals.mean(axis=0)) < 0.1)
    a = rng.normal(size=(24, 24))
    same = similarities(a, -3.0 * a, mask)  # a sign flip and a scale are no change
    np.testing.assert_allclose(same, 1.0, atol=1e-9)
    assert np.isnan(similarities(np.zeros((24, 24)), a, mask)).all()


def test_overwritten_pixels_are_not_compared():
    """Pixels the injection overwrites are 0 in every map; they must not count as agreement."""
    from eegmi.data.injection import Injection, InjectionConfig
    from eegmi.data.topomap import get_operator

    op = get_operator("biosemi32", 40, "cubic")
    inj = Injection(op, InjectionConfig(marks=True, occlusion=False))
    pipe = InputPipeline("vae", op, inj)
    mask = compared_pixels(pipe)
    assert not (mask & inj.mark_mask).any()
    assert mask.sum() == (op.head_mask & ~inj.mark_mask).sum()
    occl = compared_pixels(InputPipeline("vae", op, Injection(op, InjectionConfig(occlusion=True))))
    assert occl.sum() == (op.head_mask & inj.keep_mask & ~inj.mark_mask).sum()
    rng = np.random.default_rng(1)
    sims = []
    for _ in range(10):
        a, b = rng.normal(size=(2, 40, 40))
        a[inj.mark_mask], b[inj.mark_mask] = 0.0, 0.0
        sims.append(similarities(a, b, mask)[0])
    assert abs(np.mean(sims)) < 0.05


def test_baselines_are_input_magnitude_and_edges():
    x = np.zeros((1, 9, 9))
    x[0, :, 5:] = -2.0
    base = baseline_maps(x)
    np.testing.assert_array_equal(base["input magnitude"], np.abs(x))
    edges = base["Sobel edges"][0]
    assert edges[:, 4:6].min() > 0 and edges[:, :3].max() == 0 and edges[:, 7:].max() == 0


@pytest.mark.parametrize(("sim", "base", "passed"), [
    (0.60, 0.60, False),   # as similar as the input magnitude: fails
    (0.55, 0.60, False),   # below it, but not by the margin
    (0.30, 0.60, True),    # clearly below the baseline
    (0.05, 0.06, True),    # both near 0: nothing left of the trained maps
    (0.25, 0.05, False),   # above a near-0 baseline and above the floor
])
def test_rule_on_planted_statistics(sim, base, passed):
    rng = np.random.default_rng(0)
    n, k = 24, 3
    noise = rng.normal(0, 0.02, size=(2, n, k))
    s = np.full((n, k), sim) + noise[0]
    stages = np.stack([s + 0.2, s])  # an early stage still close, the last as planted
    v = judge(SanityRule(), stages, np.full((n, k), base) + noise[1], np.ones((n, k)))
    assert v.passed is passed
    assert v.changed.shape == (2, k)
    if passed:
        assert v.sensitive_from in (1, 2) and v.label(["a", "b"]).startswith("pass")
    else:
        assert v.label(["a", "b"]) == "FAIL" and v.reason


def test_rule_fails_unreproducible_maps_and_skips_constant_ones():
    n, k = 8, 3
    low = np.full((1, n, k), 0.01)
    v = judge(SanityRule(), low, np.full((n, k), 0.5), np.full((n, k), 0.05))
    assert v.passed is False and "reproduce" in v.reason
    v = judge(SanityRule(), np.full((1, n, k), np.nan), np.full((n, k), np.nan),
              np.full((n, k), np.nan))
    assert v.passed is None and v.label(["a"]) == "n/a"
    # one input gives no confidence bound: nothing can be shown to have changed
    assert not SanityRule().changed(np.array([[0.0, 0.0, 0.0]]), np.array([[0.9, 0.9, 0.9]])).any()


def test_rule_text_states_the_numbers():
    text = SanityRule(margin=0.15, floor=0.25, confidence=0.9).text()
    assert "0.15" in text and "0.25" in text and "90%" in text and "baseline" in text
    assert SanityOptions().rule() == SanityRule()


def test_planted_model_independent_methods_fail_and_gradient_passes():
    res = run_job(planted_case(n_inputs=12))
    assert res.passed["saliency"] is True
    for name in ("input magnitude (ignores the model)", "Sobel edges of the input (ignores the model)"):
        assert res.passed[name] is False
        np.testing.assert_allclose(res.mean_similarity(name), 1.0, atol=1e-9)
    assert res.passed["fresh noise on every call"] is False
    assert not res.verdicts["fresh noise on every call"].reproducible
    js = res.to_json()
    assert js["rule"]["text"] == res.rule.text()
    assert js["verdicts"]["saliency"].startswith("pass")
    stage = js["methods"]["saliency"]["stages"][-1]
    assert set(stage["changed"]) == {"rank_abs", "rank_signed", "ssim"}


def test_selftest_rows_all_pass():
    rows = run_job(checks(quick=True))
    assert len(rows) == 4 and all(r.passed for r in rows)
    assert {r.bar for r in rows} == {"verdict pass", "verdict FAIL"}
    assert all(r.to_json()["analysis"] == "saliency sanity" for r in rows)


def test_options_validate_and_print_their_command():
    with pytest.raises(ConfigError):
        SanityOptions(count=1)
    with pytest.raises(ConfigError):
        SanityOptions(methods=("lime",))
    opts = SanityOptions(methods=("ig", "grad"), inputs="random", count=8, margin=0.2)
    assert opts.methods == ("integrated_gradients", "saliency")
    cmd = opts.cli("E3")
    assert "--inputs random" in cmd and "--count 8" in cmd and "--margin 0.2" in cmd
    assert "--target" not in cmd  # defaults are not repeated
    assert opts.input_spec().kind == "random" and opts.attribution().seed == opts.seed


def test_sanity_needs_two_inputs():
    from eegmi.analysis.saliency import Target
    from eegmi.analysis.sanity import cascading_randomization
    from eegmi.models import ConvVAE, ModelConfig

    model = ConvVAE(ModelConfig(kind="vae", image_size=16, n_electrodes=12, latent_dim=2,
                                filters=(2, 2, 2)))
    with pytest.raises(ConfigError):
        run_job(cascading_randomization(model, InputPipeline("vae", BumpOperator()),
                                        np.ones((1, 12), np.float32), Target.latent(0)))


def test_every_re_initialisation_must_satisfy_the_rule():
    """Inputs share one random draw of the weights; a lucky draw must not make a pass."""
    n, k = 16, 3
    rng = np.random.default_rng(2)
    base = np.full((n, k), 0.6) + rng.normal(0, 0.02, (n, k))
    good = np.full((1, n, k), 0.2) + rng.normal(0, 0.02, (1, n, k))
    bad = np.full((1, n, k), 0.6) + rng.normal(0, 0.02, (1, n, k))
    rule = SanityRule()
    assert judge(rule, np.stack([good, good, good]), base, np.ones((n, k))).passed is True
    v = judge(rule, np.stack([good, bad, good]), base, np.ones((n, k)))
    assert v.passed is False and "1 of 3 draws" in v.reason
