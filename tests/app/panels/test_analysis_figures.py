"""Figures of the analysis panels (spectra, saliency, propagation, SAE, training): run
each panel through its own Run/Train button, export its figure from the data it
shows (``figure_data``/``figure_state``), recompute the same figure headless from the
``.json`` written beside it (``eegmi figures --from``'s job) and compare the pixels;
check the figure has its titles, axis labels, colour bars and caption."""

from __future__ import annotations

import numpy as np
import PySide6
import pytest
from gui_fixtures import loaded_session, train_tiny_sae, write_tiny_data, write_tiny_model

from eegmi.errors import ConfigError
from eegmi.figures.export import figure_from_state_job, render_figure, write_panel_figure
from eegmi.jobs import run_job

if PySide6.__version__ == "6.12.0":  # see tests/app/test_activations.py
    _PYSIDE_NONE_GUARD = [None] * 2_000_000

DPI = 60  # small images: the comparison is the point, not the resolution


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis_figures")
    data = write_tiny_data(root / "tiny.npz", seed=1)
    return write_tiny_model(root / "tiny_vae", seed=3, latent=4), data


@pytest.fixture
def session(qtbot, files):
    s = loaded_session(qtbot, *files)
    yield s
    s.shutdown()


def _show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(1000, 650)
    widget.show()
    qtbot.waitExposed(widget)


def run_through(qtbot, ctl, ready) -> None:
    """Click a JobControl's Run button and wait until its job ended; fail with its
    status line unless ``ready`` (the panel's result signal) came."""
    seen = []
    ready.connect(lambda *args: seen.append(args))
    ctl.run_button.click()
    qtbot.waitUntil(lambda: bool(seen) or not ctl.running, timeout=300000)
    assert seen, ctl.status.text()


def _pixels(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.int16)


def export_and_recompute(panel, tmp_path):
    """Write the panel's figure (every format), recompute it headless from its .json;
    returns (data, state, figure) after checking the two PNGs are the same pixels."""
    data, state = panel.figure_data(), panel.figure_state()
    state["render"]["dpi"] = DPI
    written = write_panel_figure(tmp_path / "fig", data, state)
    assert sorted(p.suffix for p in written) == [".json", ".npz", ".pdf", ".png", ".svg"]
    assert all(p.stat().st_size > 0 for p in written)
    out = run_job(figure_from_state_job(tmp_path / "fig.json", tmp_path / "again.png"))
    assert out["panel"] == state["panel"]
    a, b = _pixels(tmp_path / "fig.png"), _pixels(tmp_path / "again.png")
    assert a.shape == b.shape
    diff = np.abs(a - b)
    assert int(diff.max()) == 0, f"{int((diff > 0).any(axis=-1).sum())} pixels differ"
    return data, state, render_figure(data, state)


def texts(fig) -> dict[str, list[str]]:
    """Titles, x/y labels of the figure's plain axes, colour-bar labels, figure texts."""
    bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    axes = [ax for ax in fig.axes if ax not in bars]
    return {"titles": [ax.get_title() or ax.get_title(loc="left") for ax in axes],
            "xlabels": [ax.get_xlabel() for ax in axes], "ylabels": [ax.get_ylabel() for ax in axes],
            "bars": [ax.get_ylabel() for ax in bars],
            "figure": [t.get_text() for t in fig.texts] + [fig._suptitle.get_text()]}


def caption_of(fig) -> str:
    """The caption line, unwrapped (it is wrapped at spaces)."""
    text = next(t.get_text() for t in fig.texts if t.get_text().startswith(("Model", "Run")))
    return text.replace("\n", " ")


def test_spectra_panel_reads_the_sessions_data_for_a_card_naming_a_file() -> None:
    """A card naming a data file never chooses what is read (the recipe refuses it): the
    panel hands the recipe the session's dataset, as pick & interpolate does."""
    from types import SimpleNamespace

    from app.panels.spectra import panel_data

    def card(source):
        return SimpleNamespace(meta={"experiment": {"data": {"source": source}}})

    assert panel_data(card("synthetic"), "rec.npz") is None
    assert panel_data(card("/elsewhere/rec.npz"), "rec.npz") == "rec.npz"
    assert panel_data(SimpleNamespace(meta={"data": {"path": "a.npz"}}), "b.npz") == "b.npz"
    assert panel_data(SimpleNamespace(meta={}), "rec.npz") == "rec.npz"
    assert panel_data(SimpleNamespace(meta={}), "") is None


def test_spectra_figure_is_recomputed_from_its_state(qtbot, session, tmp_path) -> None:
    from app.panels.spectra import SpectraPanel

    p = SpectraPanel(session)
    _show(qtbot, p)
    with pytest.raises(ConfigError, match="run the analysis first"):
        p.figure_data()
    p.n_inputs.setValue(30)
    p.n_proj.setValue(4)
    p.max_dim.setValue(120)
    p.null_seeds.setValue(2)
    run_through(qtbot, p.job, p.result_ready)
    p.layer_box.setCurrentText("enc.act2")
    data, state, fig = export_and_recompute(p, tmp_path)
    assert state["view"]["layer"] == "enc.act2" and data["layer"] == "enc.act2"
    assert data["alpha"] == pytest.approx(p.alphas()["enc.act2"], rel=1e-12)
    np.testing.assert_array_equal(data["spectrum"],
                                  p.report().spectra["enc.act2"].explained_variance)
    t = texts(fig)
    assert t["titles"][0].startswith(f"enc.act2: α = {data['alpha']:.3f}")
    assert "α against depth" in t["titles"] and "action per layer (dipole)" in t["titles"]
    assert "component k" in t["xlabels"] and any(y.startswith("α") for y in t["ylabels"])
    cap = caption_of(fig)
    # a path wraps at its hyphens too: compared without the wrapping's spaces
    assert "".join(f"inputs: {p.result.inputs}".split()) in "".join(cap.split())
    assert "2 untrained seeds" in cap and "fit window 10–50" in cap
    # the shown layer's fit warnings are spelled out, not only flagged
    assert all(w.split()[0] in cap for w in data["warnings"])


def test_saliency_figure_with_its_sanity_check(qtbot, session, tmp_path) -> None:
    from app.panels.saliency import SaliencyPanel
    from eegmi.data.injection import mix

    p = SaliencyPanel(session)
    _show(qtbot, p)
    with pytest.raises(ConfigError, match="run the analysis first"):
        p.figure_state()
    values = mix({"Fz": 1.0, "O1": 0.6}, session.operator.montage)
    with qtbot.waitSignal(session.forward_ready, timeout=10000):
        session.set_values(values)
    p.set_method("input_x_gradient")
    p.latent_spin.setValue(1)
    run_through(qtbot, p.job, p.result_ready)
    p.sanity_box.count_spin.setValue(3)
    run_through(qtbot, p.sanity_job_ctl, p.sanity_ready)
    data, state, fig = export_and_recompute(p, tmp_path)
    assert state["view"]["sanity_analysis"]["recipe"] == "sanity"
    np.testing.assert_array_equal(data["map"][np.isfinite(data["map"])],
                                  p.current_map()[np.asarray(session.operator.head_mask)])
    assert [r[1] for r in data["sanity_rows"]] == list(p.sanity_box.verdicts().values())
    t = texts(fig)
    assert {"input (clean topomap)", "attribution over the input", "per electrode"} <= set(t["titles"])
    assert t["bars"].count("attribution (a.u.)") == 2 and "scaled value" in t["bars"]
    # every electrode is labelled on the maps
    labels = {txt.get_text() for ax in fig.axes for txt in ax.texts}
    assert set(session.operator.montage.ch_names) <= labels
    assert "Gradient × Input" in t["figure"][-1]
    cap = caption_of(fig)
    assert "O1=+0.60" in cap and "Fz=+1.00" in cap and "a stage has changed when" in cap


def test_propagation_figure_labels_every_electrode(qtbot, session, tmp_path) -> None:
    from app.panels.propagation import PropagationPanel

    p = PropagationPanel(session)
    _show(qtbot, p)
    with pytest.raises(ConfigError, match="run the analysis first"):
        p.figure_data()
    p.n_inputs.setValue(66)
    p.pick_options.kind.setCurrentIndex(p.pick_options.kind.findData("random"))
    p.pick_options.count.setValue(100)
    run_through(qtbot, p.job, p.result_ready)
    p.layer_box.setCurrentText("enc.act3")
    data, state, fig = export_and_recompute(p, tmp_path)
    np.testing.assert_array_equal(data["matrix"], p.matrix("enc.act3"))
    matrix_ax = next(ax for ax in fig.axes if ax.get_title().startswith("|response|"))
    assert [t.get_text() for t in matrix_ax.get_yticklabels()] == list(session.operator.montage.ch_names)
    assert matrix_ax.get_xlabel() == "channel of enc.act3"
    assert "|response| (a.u.)" in texts(fig)["bars"]
    assert data["pick_rows"][0][0] == p.result.pick.model.label
    assert len(data["pick_rows"]) == 1 + len(p.result.pick.controls) == 5
    assert any(title.startswith("pick & interpolate") for title in texts(fig)["titles"])


def test_sae_figure_shows_the_cards_in_the_panels_order(qtbot, session, tmp_path) -> None:
    from app.panels.sae import SaeGalleryPanel

    p = SaeGalleryPanel(session)
    _show(qtbot, p)
    with pytest.raises(ConfigError, match="run the analysis first"):
        p.figure_data()
    train_tiny_sae(qtbot, p, 12, "spatial", timeout=300000)
    p.sort.setCurrentText("selectivity")
    data, state, fig = export_and_recompute(p, tmp_path)
    assert state["view"]["sort"] == "selectivity"
    np.testing.assert_array_equal(data["order"], p.model.order)
    np.testing.assert_array_equal(data["cards"], p.model.order[:8])
    assert data["metrics"]["fve"] == pytest.approx(p.loaded.meta["metrics"]["fve"], abs=1e-12)
    t = texts(fig)
    assert sum(title.startswith("#") for title in t["titles"]) == min(8, p.model.rowCount())
    assert "top frame (scaled)" in t["bars"]
    assert "sorted by selectivity" in caption_of(fig)


def test_training_figure_reads_the_run_folder(qtbot, tmp_path) -> None:
    from tiny_training import tiny_data

    from app.panels.training import TrainingPanel
    from app.session import Session
    from eegmi.models.config import ModelConfig
    from eegmi.training.experiments import load_experiment

    def tiny(name):
        exp = load_experiment(name)
        exp.model = ModelConfig(kind=exp.model.kind, latent_dim=8, filters=(4, 8, 8))
        exp.training.batch_size = 64
        return exp

    session = Session()
    try:
        session.use_data("tiny", tiny_data())
        p = TrainingPanel(session, experiment_loader=tiny)
        _show(qtbot, p)
        with pytest.raises(ConfigError, match="start a training run first"):
            p.figure_data()
        p.out_edit.setText(str(tmp_path / "run"))
        p.epochs.setValue(3)
        with qtbot.waitSignal(p.run_finished, timeout=300000) as done:
            p.start_button.click()
        assert done.args == ["done"], p.status.text()
        data, state, fig = export_and_recompute(p, tmp_path)
        assert state["view"]["run_dir"] == str(tmp_path / "run")
        np.testing.assert_array_equal(data["train_loss"], [h["train_loss"] for h in p.history])
        assert data["test"]["test_mse"] == p.result.metrics["test_mse"]
        t = texts(fig)
        assert t["titles"] == ["Loss", "Validation error", "Validation SSIM"]
        assert t["xlabels"] == ["epoch"] * 3 and t["ylabels"][2] == "SSIM"
        cap = " ".join(caption_of(fig).split())  # the caption line wraps
        assert "preset E3" in cap and "latent 8" in cap and "test split, scored once" in cap
    finally:
        session.shutdown()
