"""Eigenspectrum, power-law fit and streamed per-layer spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.analysis.activations import (
    as_batches,
    collect_activations,
    iter_activations,
    layer_spectra,
)
from eegmi.analysis.eigenspectrum import (
    CovarianceAccumulator,
    eigenspectrum,
    fit_power_law,
    subsample_stride,
)
from eegmi.analysis.powerlaw import FitPolicy, auto_fit_range, effective_rank
from eegmi.errors import Cancelled, ConfigError, DataError
from eegmi.jobs import CancelToken, run_job


def planted(n: int, m: int, alpha: float, seed: int = 0, offset: float = 0.0) -> np.ndarray:
    """Gaussian data whose covariance eigenvalues are k**-alpha (k = 1..m), randomly rotated."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    lam = np.arange(1.0, m + 1) ** -alpha
    return (rng.standard_normal((n, m)) * np.sqrt(lam)) @ q.T + offset


def seed_way(x: np.ndarray) -> float:
    """The seed paper's recipe: sklearn randomized PCA, Huber fit over components 10-50;
    returns the log-log slope (the seed's α, ours is its negative)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import HuberRegressor

    pca = PCA(n_components=min(x.shape) - 1, svd_solver="randomized", random_state=0).fit(x)
    k = np.arange(10, 51)
    return float(HuberRegressor().fit(np.log(k)[:, None],
                                      np.log(pca.explained_variance_[k - 1])).coef_[0])


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 2.0])
def test_recovers_planted_exponent_and_agrees_with_sklearn(alpha: float) -> None:
    x = planted(4000, 100, alpha, seed=1)
    es = eigenspectrum(x)
    # eigenvalue ∝ k^-alpha, alpha > 0 for a decaying spectrum (seed 001 plots the slope -alpha)
    assert es.alpha > 0 and abs(es.alpha - alpha) < 0.03
    assert es.fit.slope == -es.alpha and es.to_json()["fit"]["slope"] == -es.alpha
    assert abs(es.alpha + seed_way(x)) < 0.005
    assert es.fit.r2 > 0.98
    assert es.fit.n_used == 41


def test_route_by_shape_exact_and_float32_randomized_agree(monkeypatch) -> None:
    from sklearn.decomposition import PCA

    import eegmi.analysis.eigenspectrum as es_mod

    x = planted(300, 400, 1.0, seed=2)
    exact = eigenspectrum(x, max_components=100)
    assert exact.solver == "exact"  # min(N, m') = 300: the whole Gram spectrum, float64
    ref = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    np.testing.assert_allclose(exact.explained_variance, ref[:100], rtol=1e-9, atol=1e-12)
    pca = PCA(n_components=100, svd_solver="full").fit(x)
    np.testing.assert_allclose(exact.ratio[:60], pca.explained_variance_ratio_[:60], rtol=1e-9)
    # the randomized route: float32 data, only the top max(2 * 50, 100) components
    rnd = eigenspectrum(x, solver="randomized", max_components=1000)
    assert rnd.solver == "randomized" and rnd.explained_variance.size == 100
    np.testing.assert_allclose(rnd.explained_variance[:60], ref[:60], rtol=1e-4)
    assert abs(rnd.alpha - exact.alpha) < 1e-4
    assert rnd.effective_rank == 100 and rnd.rank_lower_bound  # only a bound from the top 100
    # auto takes it once min(N, m') = 300 exceeds twice the 100 randomized components
    monkeypatch.setattr(es_mod, "EXACT_ROWS_MAX_FACTOR", 2)
    auto = eigenspectrum(x)
    assert auto.solver == "randomized" and abs(auto.alpha - exact.alpha) < 1e-4
    assert auto.total_variance == pytest.approx(exact.total_variance, rel=1e-6)


def test_float32_route_falls_back_to_float64_for_spectra_beyond_its_reach() -> None:
    from eegmi.analysis.eigenspectrum import spectrum_of_rows

    x = planted(400, 300, 6.0, seed=9)  # ev_50 / ev_1 = 50**-6, about 6e-11
    ev64 = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    ev, _, how = spectrum_of_rows(x, route="randomized")
    assert how == "randomized"
    np.testing.assert_allclose(ev[:50], ev64[:50], rtol=1e-3)


def test_streamed_covariance_equals_exact_and_survives_a_large_offset() -> None:
    x = planted(900, 60, 1.2, seed=3, offset=1e4)
    streamed = eigenspectrum(iter([x[:250], x[250:600], x[600:]]))
    exact = np.sort(np.linalg.eigvalsh(np.cov(x - 1e4, rowvar=False)))[::-1]
    np.testing.assert_allclose(streamed.explained_variance, exact, rtol=1e-6, atol=1e-12)
    assert streamed.solver == "covariance" and streamed.n_samples == 900
    assert streamed.total_variance == pytest.approx(exact.sum(), rel=1e-9)
    # fewer samples than dimensions: the rows stay buffered and get the data SVD
    few = eigenspectrum(iter([x[:20], x[20:45]]), max_components=30, strict=False)
    ref = np.sort(np.linalg.eigvalsh(np.cov(x[:45], rowvar=False)))[::-1][:30]
    assert few.solver == "exact" and few.n_samples == 45  # held rows, their 45 x 45 Gram
    np.testing.assert_allclose(few.explained_variance, ref, rtol=1e-9, atol=1e-12)
    forced = eigenspectrum(x[:45], solver="covariance", max_components=30, strict=False)
    assert forced.solver == "covariance"
    np.testing.assert_allclose(forced.explained_variance, ref, rtol=1e-6, atol=1e-9)


def test_randomized_eigensolver_matches_exact_on_large_covariances(monkeypatch) -> None:
    import eegmi.analysis.eigenspectrum as es_mod

    x = planted(1200, 400, 1.3, seed=6)
    cov = np.cov(x, rowvar=False)
    exact, how = es_mod.top_eigenvalues(cov.copy(), 150)
    assert how == "exact"
    monkeypatch.setattr(es_mod, "EXACT_EIG_MAX", 100)
    approx, how = es_mod.top_eigenvalues(cov.copy(), 150)
    assert how == "randomized"
    np.testing.assert_allclose(approx[:50], exact[:50], rtol=1e-6)
    streamed = eigenspectrum(iter([x[:600], x[600:]]), max_components=150)
    assert streamed.extra["eig"] == "randomized"
    assert abs(streamed.alpha - fit_power_law(exact).alpha) < 1e-4


def test_subsampling_takes_every_sth_dimension() -> None:
    assert subsample_stride(250, 100) == 3 and subsample_stride(100, 100) == 1
    for m, cap in [(12800, 8000), (6400, 8000), (8001, 8000), (999, 10)]:
        s = subsample_stride(m, cap)
        assert len(range(0, m, s)) <= cap
        assert s == 1 or len(range(0, m, s - 1)) > cap
    x = planted(800, 250, 1.0, seed=4)
    es = eigenspectrum(x, max_dim=100, max_components=40, strict=False)
    ref = eigenspectrum(x[:, ::3], max_dim=None, max_components=40, strict=False)
    assert (es.stride, es.n_kept, es.n_features) == (3, 84, 250)
    assert es.explained_variance.size == 40
    np.testing.assert_allclose(es.explained_variance, ref.explained_variance, rtol=1e-10)


def test_power_law_fit_is_robust_to_outliers_and_reports_failures() -> None:
    k = np.arange(1.0, 201)
    ev = 3.0 * k**-1.3
    fit = fit_power_law(ev)
    assert fit.alpha == pytest.approx(1.3, abs=1e-3) and fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predict(k), ev, rtol=1e-6)
    bumped = ev.copy()
    bumped[[14, 22, 37]] *= 30.0  # a few wild components
    ols = np.polyfit(np.log(k[9:50]), np.log(bumped[9:50]), 1)[0]
    assert abs(fit_power_law(bumped).alpha - 1.3) < 0.02 < abs(ols + 1.3)
    assert fit_power_law(ev[:30]).n_used == 21  # range cut at the components available
    with pytest.raises(DataError, match="too few components"):
        fit_power_law(ev[:12])
    with pytest.raises(DataError, match="NaN"):
        fit_power_law(np.where(k == 5, np.nan, ev))
    with pytest.raises(DataError, match="2-D"):
        eigenspectrum(np.zeros((10, 3, 2)))
    with pytest.raises(DataError, match="NaN"):
        CovarianceAccumulator(3).update(np.array([[1.0, np.nan, 0.0]]))


class PlantedLayerModel(torch.nn.Module):
    """A two-layer stand-in for a hooked model: 'lin' has a planted spectrum, 'act' is its ReLU."""

    def __init__(self, m: int, alpha: float) -> None:
        super().__init__()
        q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((m, m)))
        w = np.sqrt(np.arange(1.0, m + 1) ** -alpha)[:, None] * q.T
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float32))
        self.drop = torch.nn.Dropout(0.5)

    def hook_names(self) -> list[str]:
        return ["lin", "act"]

    def run_with_cache(self, x: torch.Tensor, names: list[str]):
        lin = self.drop(x.reshape(len(x), -1)) @ self.w
        cache = {"lin": lin, "act": torch.relu(lin)}
        return cache["act"], {n: cache[n] for n in names}


def test_layer_spectra_streams_passes_and_recovers_the_planted_layer() -> None:
    torch.manual_seed(0)
    model = PlantedLayerModel(100, 1.5).train()
    batches = as_batches(torch.randn(4000, 100), 500)
    reports = []
    one = run_job(layer_spectra(model, batches, max_components=80), on_progress=reports.append)
    assert model.training  # eval mode only while measuring
    assert list(one.spectra) == ["lin", "act"]
    assert abs(one.spectra["lin"].alpha - 1.5) < 0.03  # dropout was off
    done = [r.done for r in reports]
    assert done == sorted(done) and done[-1] == reports[-1].total == 4000
    # a tiny budget forces one pass per layer; results are the same
    reports2 = []
    two = run_job(layer_spectra(model, batches, max_components=80, memory_budget=1),
                  on_progress=reports2.append)
    assert any("pass 2/2" in r.message for r in reports2) and reports2[-1].total == 8000
    for n in one.spectra:
        np.testing.assert_allclose(two.spectra[n].explained_variance,
                                   one.spectra[n].explained_variance, rtol=1e-9)
    # a one-shot generator gets one pass and loses no batch
    gen = run_job(layer_spectra(model, (b for b in batches), max_components=80,
                                memory_budget=1))
    assert gen.spectra["lin"].n_samples == 4000
    np.testing.assert_allclose(gen.spectra["lin"].explained_variance,
                               one.spectra["lin"].explained_variance, rtol=1e-9)
    # and they equal the spectrum of the collected activation matrices
    acts = run_job(collect_activations(model, iter(batches), ["act"], max_inputs=1500))
    assert acts["act"].shape == (1500, 100)
    sub = run_job(collect_activations(model, iter(batches), ["act"], max_dim=40))
    assert sub["act"].shape == (4000, 34)  # every 3rd of 100 dims, first batch kept
    ref = eigenspectrum(acts["act"], max_components=80)
    got = run_job(layer_spectra(model, batches, ["act"], max_components=80, max_inputs=1500))
    np.testing.assert_allclose(got.spectra["act"].explained_variance, ref.explained_variance,
                               rtol=1e-6)


def test_layer_spectra_of_two_models_and_cancel() -> None:
    batches = as_batches(torch.randn(600, 64), 200)
    models = {"steep": PlantedLayerModel(64, 2.0), "flat": PlantedLayerModel(64, 0.5)}
    res = {label: run_job(layer_spectra(m, batches, ["lin"], label=label, max_components=60))
           for label, m in models.items()}
    assert set(res) == {"steep", "flat"} and res["steep"].label == "steep"
    assert res["steep"].spectra["lin"].alpha > res["flat"].spectra["lin"].alpha + 1.0
    assert set(res["flat"].to_json()) >= {"alpha", "r2", "layers", "depth"}
    token = CancelToken()
    job = layer_spectra(models["flat"], batches, cancel=token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        for _ in job:
            pass


def test_rank_deficient_layer_is_flagged_and_auto_window_stays_below_its_rank() -> None:
    """A 32-dimensional layer (like latent.mu, or the topomaps, linear in 32 values) fitted
    over the seed's 10-50 fits the rank cliff: the spectrum reports its rank and warns."""
    rng = np.random.default_rng(7)
    low = planted(3000, 32, 1.0, seed=7) @ rng.standard_normal((32, 200))  # rank 32 in 200 dims
    es = eigenspectrum(low)
    assert es.effective_rank == 32 and not es.rank_lower_bound
    assert es.fit.fit_range == (10, 50) and es.fit.n_used == 23
    text = " | ".join(es.warnings)
    assert "reaches past the effective rank 32" in text and "only 23 points" in text
    js = es.to_json()
    assert js["effective_rank"] == 32 and js["warnings"] == es.warnings
    auto = eigenspectrum(low, fit_range="auto")
    assert auto.fit.fit_range == (10, 28) and js["fit_range_asked"] == [10, 50]
    assert auto.to_json()["fit_range_used"] == [10, 28] and auto.to_json()["fit_range_asked"] == "auto"
    assert not any("effective rank" in w for w in auto.warnings)
    assert any("only 19 points" in w for w in auto.warnings)
    # a full-rank planted spectrum fits cleanly: no warnings
    full = eigenspectrum(planted(3000, 200, 1.0, seed=8))
    assert full.effective_rank > 50 and full.warnings == []
    # the 32-unit latent of a tiny network: its spectrum within 10-32 is no power law
    poor = np.exp(-np.arange(32.0))[None] * rng.standard_normal((500, 32))
    bad = eigenspectrum(poor, strict=False)
    assert any("poor" in w or "effective rank" in w for w in bad.warnings)


def test_effective_rank_and_auto_window_rules() -> None:
    ev = np.r_[np.arange(1.0, 33) ** -1.0, np.full(10, 1e-9)]
    assert effective_rank(ev) == (32, False)
    assert effective_rank(ev, rtol=1e-10) == (42, True)  # all computed are above: a lower bound
    assert effective_rank(ev, rtol=1e-10, max_rank=42) == (42, False)
    assert auto_fit_range(32) == (10, 28) and auto_fit_range(1000) == (10, 50)
    assert auto_fit_range(12) == (6, 10)  # at least 5 points: the start moves down
    assert auto_fit_range(60, lower_bound=True) == (10, 50)
    with pytest.raises(ConfigError):
        FitPolicy(fit_range="best")
    with pytest.raises(ConfigError):
        FitPolicy(fit_range=(20, 10))


def test_a_module_without_hook_points_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="Linear has no named hook points"):
        next(iter_activations(torch.nn.Linear(3, 2), [torch.zeros(2, 3)], ["out"]))
