"""``eegmi analyze eigenspectrum`` and ``eegmi analyze projections`` end to end (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegmi.cli import build_parser, main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else None), err


def planted_matrix(path: Path, alpha: float = -1.4, n: int = 3000, m: int = 90) -> Path:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    x = (rng.standard_normal((n, m)) * np.arange(1.0, m + 1) ** (alpha / 2)) @ q.T
    np.save(path, x.astype(np.float32))
    return path


def test_eigenspectrum_of_an_activation_matrix(tmp_path: Path, capsys) -> None:
    x = planted_matrix(tmp_path / "acts.npy")
    out = tmp_path / "out"
    code, res, _ = run_cli(capsys, "analyze", "eigenspectrum", "--activations", str(x),
                           "--out", str(out), "--json")
    assert code == 0
    # eigenvalues ∝ k^-1.4: alpha is reported positive (today's -1.4 was the slope)
    assert abs(res["alpha"] - 1.4) < 0.05 and res["r2"] > 0.95
    assert res["warnings"] == [] and res["effective_rank"] == 90 and "k^-alpha" in res["convention"]
    assert res["layers"]["acts"]["n_features"] == 90
    with np.load(out / "spectra.npz") as z:
        ev = z["acts__acts"]
    assert ev.shape == (90,) and np.all(np.diff(ev) <= 1e-12)
    assert json.loads((out / "eigenspectrum.json").read_text())["alpha"] == res["alpha"]
    for png in ("spectrum_acts.png", "alpha_vs_depth.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 3, 2)), "2-D"),
    (np.where(np.eye(60, 40) > 0, np.nan, 1.0), "NaN"),
    (np.random.default_rng(0).standard_normal((50, 8)), "too few components"),
])
def test_bad_activation_files_give_one_line_errors(tmp_path: Path, capsys, array, message) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    code, _, err = run_cli(capsys, "analyze", "eigenspectrum", "--activations", str(path),
                           "--out", str(tmp_path / "out"), "--json")
    assert code == 2
    assert err.startswith(f"eegmi: error: {path}: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_file_and_bad_arguments(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "analyze", "eigenspectrum", "--activations",
                           str(tmp_path / "nope.npy"))
    assert code == 2 and "nope.npy: file not found" in err
    code, _, err = run_cli(capsys, "analyze", "eigenspectrum")
    assert code == 2 and "MODEL" in err
    x = planted_matrix(tmp_path / "acts.npy")
    for bad in (["5"], ["best"], ["20", "10"]):
        code, _, err = run_cli(capsys, "analyze", "eigenspectrum", "--activations", str(x),
                               "--fit-range", *bad)
        assert code == 2 and "fit" in err and err.count("\n") == 1
    code, res, _ = run_cli(capsys, "analyze", "eigenspectrum", "--activations", str(x),
                           "--fit-range", "auto", "--json")
    assert code == 0 and res["layers"]["acts"]["fit_range_asked"] == "auto"
    assert res["layers"]["acts"]["fit_range_used"] == [10, 50]  # full rank 90: the seed's


def test_every_analysis_is_registered_and_takes_threads() -> None:
    """The analyze commands are imported statically (none silently missing) and each
    one gets --threads from the analyze parser."""
    parser = build_parser()
    for name in ("eigenspectrum", "projections", "propagation", "linearity",
                 "pick-interpolate", "saliency", "sanity"):
        args = parser.parse_args(["analyze", name, "E3", "--threads", "1"])
        assert callable(args.func) and args.threads == 1, name


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two tiny ConvVAE checkpoints (dropout 0 and 0.5) and a small EEG .npy."""
    pytest.importorskip("eegmi.data.injection")

    from eegmi.data.preprocess import ClipScaler
    from eegmi.models import ModelConfig, build_model
    from eegmi.training.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("models")
    eeg = np.random.default_rng(0).standard_normal((300, 32)).cumsum(axis=0)
    np.save(root / "eeg.npy", eeg.astype(np.float32))
    scaler = ClipScaler.fit(eeg.astype(np.float32))
    dirs = []
    for drop in (0.0, 0.5):
        torch.manual_seed(0)
        model = build_model(ModelConfig(filters=(4, 8, 8), latent_dim=6, dropout=drop))
        dirs.append(save_checkpoint(root / f"d{drop}", model, {
            "name": f"drop{drop}", "scaler": scaler.to_dict(),
            "injection": {"marks": False, "occlusion": False},
            "montage": {"name": "biosemi32"}, "operator": {"size": 40, "method": "cubic"}}))
    return dirs[0], dirs[1], root / "eeg.npy"


def test_eigenspectrum_of_models_over_data(tiny_models, tmp_path: Path, capsys) -> None:
    m0, m1, eeg = tiny_models
    code, res, err = run_cli(capsys, "analyze", "eigenspectrum", str(m0), "--data", str(eeg),
                             "--layers", "enc.act1", "enc.act2", "latent.mu",
                             "--max-inputs", "250", "--max-dim", "500", "--null-seeds", "2",
                             "--json")
    assert code == 0, err
    assert res["model"] == "drop0.0" and res["depth"] == ["enc.act1", "enc.act2", "latent.mu"]
    assert res["inputs"]["n"] == 250 and res["layers"]["enc.act1"]["n_samples"] == 250
    assert isinstance(res["alpha"]["enc.act1"], float) and res["alpha"]["enc.act1"] > 0
    assert res["alpha"]["latent.mu"] is None  # 6 latent dims cannot reach components 10-50
    assert "too few components" in res["layers"]["latent.mu"]["fit_error"]
    assert res["layers"]["latent.mu"]["effective_rank"] == 6
    assert res["warnings"]["latent.mu"] and "latent.mu" in err  # also on stderr with --json
    # the null: untrained networks of the same architecture on the same inputs
    null = res["layers"]["enc.act1"]["null"]
    assert null["seeds"] == [1, 2] and len(null["alphas"]) == 2 and null["sd"] is not None
    assert null["mean"] == pytest.approx(np.mean(null["alphas"]))
    assert null["mean"] != pytest.approx(res["alpha"]["enc.act1"], abs=1e-9)  # trained differs
    # the input's own spectrum: 40x40 topomaps linear in 32 electrode values
    assert res["input"]["effective_rank"] <= 32 and isinstance(res["input"]["alpha"], float)
    assert any("effective rank" in w for w in res["input"]["warnings"])
    # default layers: activations, latent mean, output; 'all': every hook point
    from eegmi.training.checkpoint import load_checkpoint

    hooks = list(load_checkpoint(m0).model.hook_names())
    for layers, want in (([], [n for n in hooks if ".act" in n or n in ("latent.mu", "out")]),
                         (["--layers", "all"], hooks)):
        code, r, err = run_cli(capsys, "analyze", "eigenspectrum", str(m0), "--data", str(eeg),
                               *layers, "--max-inputs", "60", "--max-dim", "100",
                               "--null-seeds", "0", "--json")
        assert code == 0, err
        assert r["depth"] == want and r["null"] == {} and r["options"]["null_seeds"] == 0
    out = tmp_path / "cmp"
    code, res2, err = run_cli(capsys, "analyze", "eigenspectrum", str(m0), str(m1), "--data",
                              str(eeg), "--layers", "enc.act2", "--max-inputs", "250",
                              "--max-dim", "300", "--null-seeds", "1", "--out", str(out), "--json")
    assert code == 0, err
    assert res2["models"] == ["drop0.0", "drop0.5"]
    assert res2["layers"]["drop0.5"]["enc.act2"]["n_kept"] == 267  # 800 dims, every 3rd
    with np.load(out / "spectra.npz") as z:
        assert set(z.files) == {f"{m}__{k}" for m in ("drop0.0", "drop0.5")
                                for k in ("enc.act2", "input", "untrained1__enc.act2")}
    assert (out / "spectrum_enc.act2.png").is_file() and (out / "alpha_vs_depth.png").is_file()


def test_projections_of_models(tiny_models, tmp_path: Path, capsys) -> None:
    m0, _, _ = tiny_models
    out = tmp_path / "proj"
    code, res, err = run_cli(capsys, "analyze", "projections", str(m0), "--frames", "24",
                             "--n-projections", "50", "--layers", "enc.act1", "out",
                             "--out", str(out), "--json")
    assert code == 0, err
    assert res["depth"] == ["input", "enc.act1", "out"] and res["stimulus"] == "dipole"
    for name in res["depth"]:
        layer = res["layers"][name]
        assert layer["action"] > 0 and 0 <= layer["explained_variance"] <= 1
    with np.load(out / "projections.npz") as z:
        assert z["drop0.0__enc.act1"].shape == (3, 24, 3)
    assert {p.name for p in out.iterdir()} == {
        "projections.npz", "projections.json", "action_vs_depth.png", "trajectories_drop0.0.png"}
    code, _, err = run_cli(capsys, "analyze", "projections", str(tmp_path / "nomodel"))
    assert code == 2 and "nomodel" in err and err.count("\n") == 1
