"""The PCA baseline: same PCA as a direct one on the training images, exact at the
images' rank, worse below it, scored on the model's own frames."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_training import tiny_data, tiny_experiment

from eegmi.training.baseline import fit_pca, pca_baseline
from eegmi.training.prepare import prepare_data


@pytest.fixture(scope="module")
def prep():
    return prepare_data(tiny_experiment("vae"), tiny_data())


def _train_images(prep) -> np.ndarray:
    scaled = prep.scaler.transform(np.asarray(prep.values[prep.split.train]))
    return prep.operator.render(scaled).reshape(len(prep.split.train), -1).astype(np.float64)


def test_fit_pca_equals_direct_pca_of_the_training_images(prep) -> None:
    x = _train_images(prep)
    mean, comps, variances = fit_pca(prep)
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-6)
    direct = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    np.testing.assert_allclose(variances[:10], direct[:10], rtol=1e-4, atol=1e-9)
    # top-5 subspaces agree: projector difference ~ 0
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    p_ours, p_direct = comps[:, :5] @ comps[:, :5].T, vt[:5].T @ vt[:5]
    assert np.abs(p_ours - p_direct).max() < 1e-4


def test_pca_baseline_exact_at_rank_and_worse_below(prep) -> None:
    full = pca_baseline(prep, 32, "test", linear_decoder=True)
    assert full["image_rank"] <= 32
    assert full["mse"] < 1e-10 and full["ssim_head"] > 0.9999
    assert full["linear_decoder"]["mse"] < 1e-10
    low = pca_baseline(prep, 3, "test")
    assert low["mse"] > 1e-5 and low["ssim_head"] < full["ssim_head"]
    assert low["k"] == 3 and 0 < low["explained_variance"] < 1
    # scored on the split asked for: the model's own test frames
    x_test = prep.operator.render(prep.scaler.transform(np.asarray(prep.values[prep.split.test])))
    mean, comps, _ = fit_pca(prep)
    flat = x_test.reshape(len(x_test), -1).astype(np.float64)
    rec = (flat - mean) @ comps[:, :3] @ comps[:, :3].T + mean
    assert low["mse"] == pytest.approx(((rec - flat) ** 2).mean(), rel=1e-4)


def test_an_empty_training_split_is_a_data_error(prep) -> None:
    from dataclasses import replace

    from eegmi.errors import DataError
    from eegmi.training.baseline import _fit_linear_decoder

    empty = replace(prep, split=replace(prep.split, train=prep.split.train[:0]))
    with pytest.raises(DataError, match="no training frames"):
        fit_pca(empty)
    with pytest.raises(DataError, match="no training frames"):
        _fit_linear_decoder(empty)
