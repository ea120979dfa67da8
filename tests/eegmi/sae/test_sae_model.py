"""SAE parts that drive a model: extraction, Grad-CAM filtering, splicing, gallery data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegmi.errors import ConfigError
from eegmi.jobs import run_job
from eegmi.models import ConvVAE, ModelConfig
from eegmi.sae.activations import collect_activations, from_vectors, splice, to_vectors
from eegmi.sae.features import FeatureAccumulator, decoder_maps, feature_gallery
from eegmi.sae.filtering import filter_activations
from eegmi.sae.metrics import spliced_reconstruction
from eegmi.sae.model import SAEConfig, SparseAutoencoder
from eegmi.sae.train import TrainConfig, train_sae


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ConvVAE(ModelConfig(kind="vae", filters=(4, 8, 8), latent_dim=4)).eval()


@pytest.fixture(scope="module")
def batches():
    gen = torch.Generator().manual_seed(0)
    # smooth random blobs in [0, 1]: enough structure for a tiny model
    imgs = torch.nn.functional.avg_pool2d(torch.rand(48, 1, 40, 40, generator=gen), 9, 1, 4)
    return [imgs[i: i + 16] for i in range(0, 48, 16)]


def test_vector_reshapes_roundtrip():
    acts = torch.randn(3, 8, 5, 5)
    sp = to_vectors(acts, "spatial")
    assert sp.shape == (75, 8)
    assert torch.equal(sp[1 * 25 + 2 * 5 + 3], acts[1, :, 2, 3])  # (frame, row, col) order
    assert torch.equal(from_vectors(sp, (8, 5, 5), "spatial"), acts)
    fl = to_vectors(acts, "flat")
    assert fl.shape == (3, 200)
    assert torch.equal(from_vectors(fl, (8, 5, 5), "flat"), acts)


def test_collect_spatial_and_flat(model, batches):
    sp = run_job(collect_activations(model, batches, "enc.act3", "spatial", max_frames=40))
    assert sp.x.shape == (40 * 25, 8) and sp.layer_shape == (8, 5, 5)
    assert sp.frame.max() == 39 and sp.position.max() == 24
    with torch.no_grad():
        _, cache = model.run_with_cache(batches[1][:1], ["enc.act3"])
    assert np.allclose(sp.x[16 * 25: 17 * 25], to_vectors(cache["enc.act3"], "spatial").numpy(), atol=1e-6)
    fl = run_job(collect_activations(model, batches, "enc.act3", "flat"))
    assert fl.x.shape == (48, 200) and fl.position is None
    with pytest.raises(ConfigError, match="valid layers: enc.conv1"):
        run_job(collect_activations(model, batches, "enc.act9", "spatial"))


def test_gradcam_filter_spatial_only(model, batches):
    sp = run_job(collect_activations(model, batches, "enc.act2", "spatial", gradcam=True))
    assert sp.gradcam.shape == (sp.x.shape[0],) and (sp.gradcam >= 0).all() and sp.gradcam.max() > 0
    rep = filter_activations(sp.x, "gradcam", 0.3, gradcam=sp.gradcam, position=sp.position,
                             frame=sp.frame, spatial_shape=sp.layer_shape[1:])
    assert rep.kept_fraction == pytest.approx(0.3, abs=1e-3)
    assert rep.position_map.shape == (10, 10)
    assert rep.position_map.mean() == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(ConfigError, match="flat mode"):
        run_job(collect_activations(model, batches, "enc.act2", "flat", gradcam=True))


def test_splicing_changes_output_only_through_sae(model, batches):
    acts = run_job(collect_activations(model, batches, "enc.act3", "spatial"))
    res = run_job(train_sae(acts.x, SAEConfig(8, 32, kind="topk", k=6), TrainConfig(steps=200, seed=0)))
    good = run_job(spliced_reconstruction(model, res.sae, batches, "enc.act3", "spatial"))
    assert good["frames"] == 48
    assert good["mse_spliced"] >= 0 and good["ssim_clean"] <= 1.0
    # a nearly dead SAE (k=1, untrained) must hurt the reconstruction more than a trained one
    bad_sae = SparseAutoencoder(SAEConfig(8, 32, kind="topk", k=1), generator=torch.Generator().manual_seed(0))
    bad = run_job(spliced_reconstruction(model, bad_sae, batches, "enc.act3", "spatial"))
    assert good["mse_clean"] == pytest.approx(bad["mse_clean"])
    assert bad["mse_spliced"] > good["mse_spliced"]
    # splice really replaces the layer: identity leaves the output alone, zeroing changes it
    with torch.no_grad():
        out = model(batches[0]).recon
        with splice(model, "enc.act3", lambda a: a):
            same = model(batches[0]).recon
        with splice(model, "enc.act3", lambda a: a * 0.0):
            zeroed = model(batches[0]).recon
        after = model(batches[0]).recon
    assert torch.equal(out, same) and torch.equal(out, after)
    assert not torch.allclose(out, zeroed)


def test_gallery_matches_brute_force(model, batches):
    acts = run_job(collect_activations(model, batches, "enc.act3", "spatial"))
    sae = run_job(train_sae(acts.x, SAEConfig(8, 16, kind="topk", k=3), TrainConfig(steps=50))).sae
    gal = run_job(feature_gallery(model, sae, batches, "enc.act3", "spatial", top_k=4,
                                  electrodes=(5, lambda v: v.mean(1).view(-1, 1, 1, 1).expand(-1, 1, 40, 40))))
    with torch.no_grad():
        f = sae.encode(torch.from_numpy(acts.x)).numpy()  # (48*25, 16)
    assert gal.n_inputs == 48 * 25 and gal.n_frames == 48
    assert np.allclose(gal.frequency, (f > 0).mean(0))
    assert np.allclose(gal.mean_activation, f.mean(0), atol=1e-6)
    per_frame = f.reshape(48, 25, 16).max(1)
    best = per_frame.argmax(0)
    active = per_frame.max(0) > 0
    assert (gal.top_frames[active, 0] == best[active]).all()
    assert np.allclose(gal.top_values[:, 0], per_frame.max(0), atol=1e-6)
    i = int(np.argmax(gal.frequency))
    assert np.allclose(gal.top_map[i].ravel(), f.reshape(48, 25, 16)[best[i], :, i], atol=1e-6)
    assert gal.hist_counts[i].sum() == (f[:, i] > 0).sum()
    assert gal.hist_max[i] >= f[:, i].max() - 1e-6
    dens = gal.hist_density(i)
    assert (dens * np.diff(gal.hist_edges(i))).sum() == pytest.approx(1.0)
    assert gal.electrode_drive.shape == (16, 5)
    assert gal.decoder_map is None  # per-position SAE: maps come from top inputs


def test_histogram_doubling_is_exact():
    rng = np.random.default_rng(0)
    acc = FeatureAccumulator(2, top_k=2)
    chunks = [rng.random((50, 2)) * s for s in (0.1, 1.0, 30.0)]
    for c in chunks:
        acc.update(torch.from_numpy(c).float())
    gal = acc.result()
    allv = np.concatenate(chunks).astype(np.float32)
    for j in range(2):
        ref, _ = np.histogram(allv[:, j], bins=64, range=(0, gal.hist_max[j]))
        assert gal.hist_counts[j].sum() == 150
        assert np.abs(gal.hist_counts[j] - ref).sum() <= 2  # bin-edge rounding only


def test_decoder_map_for_flat_spatial_layer():
    sae = SparseAutoencoder(SAEConfig(8 * 5 * 5, 10))
    maps = decoder_maps(sae, (8, 5, 5), "flat")
    d = sae.decoder_directions.numpy()[3].reshape(8, 5, 5).sum(0)
    assert maps.shape == (10, 5, 5) and np.allclose(maps[3], d)
    assert decoder_maps(sae, (200,), "flat") is None


def test_selectivity_extremes():
    acc = FeatureAccumulator(3, top_k=2)
    f = torch.zeros(100, 3)
    f[:, 0] = 2.0  # constant: not selective
    f[17, 1] = 5.0  # fires on one input only: maximally selective
    acc.update(f)
    gal = acc.result()
    assert gal.selectivity[0] == pytest.approx(0.0, abs=1e-9)
    assert gal.selectivity[1] == pytest.approx(1.0)
    assert gal.selectivity[2] == 0.0 and gal.frequency[2] == 0.0  # never fires
    assert gal.top_frames[1, 0] == 17 and gal.top_values[1, 0] == 5.0


def test_gradcam_matches_manual(model, batches):
    sp = run_job(collect_activations(model, batches[:1], "enc.act3", "spatial", gradcam=True))
    x = batches[0].clone()
    out, cache = model.run_with_cache(x, ["enc.act3", "latent.mu"], detach=False)
    acts = cache["enc.act3"]
    grad = torch.autograd.grad(0.5 * out.mu.pow(2).sum(), acts)[0]
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * acts).sum(1))
    assert np.allclose(sp.gradcam, cam.detach().reshape(-1).numpy(), atol=1e-6)
