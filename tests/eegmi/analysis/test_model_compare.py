"""Two models on the same input: layer matching, forward comparison, latents' CCA, α of both."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gui_fixtures import write_tiny_model

from eegmi.analysis.compare import (
    canonical_correlations,
    compare_forward,
    layer_pairs,
    match_layers,
    recon_difference,
)
from eegmi.analysis.compare_spectra import COMPARE_SPECTRA, compare_spectra
from eegmi.errors import DataError
from eegmi.inference import Inference
from eegmi.jobs import run_job
from eegmi.training.checkpoint import load_checkpoint

VAE = ["enc.conv1", "enc.act1", "enc.act2", "latent.mu", "latent.logvar", "latent.z",
       "dec.fc", "dec.act1", "out"]
DECODER = ["latent.z", "dec.fc", "dec.act1", "out"]


def test_same_hook_points_are_matched_by_name() -> None:
    m = match_layers(VAE, VAE)
    assert m.same_names and m.pairs == tuple((n, n) for n in VAE)
    assert "matched by name" in m.rule


def test_a_decoder_only_model_is_matched_by_its_latent_and_names() -> None:
    m = match_layers(VAE, DECODER, "latent.mu", "latent.z")
    pairs = dict(m.pairs)
    # the VAE's mean is the decoder-only model's latent; the VAE's own sample z is not
    assert pairs["latent.mu"] == "latent.z" and pairs["latent.z"] is None
    assert pairs["dec.fc"] == "dec.fc" and pairs["out"] == "out"
    assert pairs["enc.act1"] is None and not m.same_names
    assert "latent.mu ↔ latent.z" in m.rule
    # every layer of both models appears exactly once
    assert sorted(a for a, _ in m.pairs if a) == sorted(VAE)
    assert sorted(b for _, b in m.pairs if b) == sorted(DECODER)
    # a mean and an electrode vector of the same size are no units to subtract
    rng = np.random.default_rng(0)
    acts_a = {n: rng.normal(size=(4,)) for n in VAE}
    acts_b = {n: rng.normal(size=(4,)) for n in DECODER}
    pairs = {p.a: p for p in layer_pairs(acts_a, acts_b, m)}
    assert pairs["latent.mu"].rel_l2 is None and "matched by role" in pairs["latent.mu"].describe()
    assert pairs["dec.fc"].rel_l2 is not None and pairs["enc.act1"].describe() == "no counterpart"


def test_layers_with_other_names_are_matched_by_role_and_order() -> None:
    b = ["enc.relu_a", "enc.relu_b", "latent.mu", "dec.relu_a", "out", "extra.x"]
    m = match_layers(["enc.act1", "enc.act2", "latent.mu", "dec.act1", "out"], b)
    assert dict(m.pairs)["enc.act1"] == "enc.relu_a" and dict(m.pairs)["enc.act2"] == "enc.relu_b"
    assert dict(m.pairs)["dec.act1"] == "dec.relu_a"
    assert (None, "extra.x") in m.pairs and "by role and order" in m.rule


def test_canonical_correlations_see_through_a_change_of_basis() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    mixing = rng.normal(size=(6, 6))  # invertible: the same code in another basis
    np.testing.assert_allclose(canonical_correlations(x, x @ mixing + 3.0), 1.0, atol=1e-9)
    # the control: independent codes correlate only by chance (~sqrt(p/N))
    assert canonical_correlations(x, rng.normal(size=(400, 6))).max() < 0.35
    # a collapsed unit (constant) is no direction to correlate
    y = np.c_[x[:, :3], np.ones(400)]
    assert canonical_correlations(x, y).shape == (3,)
    with pytest.raises(DataError, match="same N"):
        canonical_correlations(x, x[:10])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    return {k: load_checkpoint(write_tiny_model(root / k, seed=s))
            for k, s in (("a", 0), ("b", 1))}


def test_compare_forward_is_both_forward_passes_and_their_difference(models) -> None:
    ia, ib = Inference(models["a"]), Inference(models["b"])
    v = np.zeros(32, np.float32)
    v[[3, 17]] = [1.0, -0.5]
    cmp = compare_forward(ia, ib, v, v)
    ra, rb = ia.forward_values(v), ib.forward_values(v)
    np.testing.assert_allclose(cmp.a.recon, ra.recon, atol=1e-6)
    np.testing.assert_allclose(cmp.b.recon, rb.recon, atol=1e-6)
    mask = np.asarray(ia.operator.head_mask, bool)
    np.testing.assert_allclose(cmp.difference, np.where(mask, ra.recon - rb.recon, 0), atol=1e-6)
    assert cmp.diff_range > 0 and cmp.matching.same_names
    for p in cmp.layers:  # same architecture: every pair has a relative difference
        xa, xb = ra.activations[p.a], rb.activations[p.b]
        assert p.rel_l2 == pytest.approx(np.linalg.norm(xa - xb) / np.linalg.norm(xa), rel=1e-5)
    np.testing.assert_allclose(cmp.latent_a, ra.mu)
    # the control: a model against itself differs nowhere
    same = compare_forward(ia, Inference(models["a"]), v, v)
    assert same.diff_range == 0.0 and all(p.rel_l2 == 0.0 for p in same.layers)
    assert recon_difference(ra.recon, rb.recon[:-1], mask) is None  # sizes differ: no difference


def test_spectra_of_both_models_on_the_same_inputs(models) -> None:
    opts = replace(COMPARE_SPECTRA, inputs="random", count=80, max_dim=400)
    res = run_job(compare_spectra(models["a"], models["b"], opts, "a", "b"))
    assert res.n_inputs == 80 and res.matching.same_names
    rows = res.alpha_rows()
    assert [r[0] for r in rows] == list(res.report_a.spectra)
    fitted = [r for r in rows if r[2] is not None and r[3] is not None]
    assert fitted and any(abs(r[2] - r[3]) > 1e-3 for r in fitted)
    assert res.cca.shape == (4,) and np.all((res.cca >= 0) & (res.cca <= 1))
    # the control: a model against itself has the same α everywhere and CCA 1
    same = run_job(compare_spectra(models["a"], models["a"], opts, "a", "a again"))
    for _na, _nb, x, y in same.alpha_rows():
        assert x == y
    np.testing.assert_allclose(same.cca, 1.0, atol=1e-6)
    js = res.to_json()
    assert js["n_inputs"] == 80 and len(js["alpha"]) == len(rows)
