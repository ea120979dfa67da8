"""The Qt-free workbench state: one input, observable, driven without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from eegmi.data.injection import mix
from eegmi.data.montage import get_montage
from eegmi.data.preprocess import ClipScaler
from eegmi.data.recording import EEGData
from eegmi.errors import DataError
from eegmi.workbench import InputState, Workbench


@pytest.fixture
def bench():
    return Workbench(get_montage("biosemi32"))


def _data(n: int = 50) -> EEGData:
    rng = np.random.default_rng(0)
    montage = get_montage("biosemi32")
    return EEGData(values=rng.normal(size=(n, 32)).astype(np.float32), ch_names=montage.ch_names,
                   sfreq=128.0, subject=np.zeros(n, np.int16), trial=np.zeros(n, np.int32))


def test_clicks_build_the_mix_and_every_change_is_announced(bench) -> None:
    seen: list[frozenset[str]] = []
    bench.subscribe(seen.append)
    bench.click("Fp1")
    bench.click("o2", add=True)  # names are matched case-insensitively
    bench.click(bench.montage.index("T7"), add=True)
    assert dict(bench.input.mix) == {"Fp1": 1.0, "O2": 1.0, "T7": 1.0}
    np.testing.assert_array_equal(bench.input_values(),
                                  mix({"Fp1": 1, "O2": 1, "T7": 1}, bench.montage))
    bench.click("O2", add=True)  # a second shift-click removes it
    assert list(bench.input.mix) == ["Fp1", "T7"]
    bench.inject({"O1": 1.0})  # e.g. a propagation row: replaces the mix
    assert dict(bench.input.mix) == {"O1": 1.0} and bench.input.electrodes == ("O1",)
    assert seen == [frozenset({"input"})] * 5
    bench.inject({"O1": 1.0})  # no change, no notification
    assert len(seen) == 5


def test_amplitudes_are_clipped_and_must_be_finite(bench) -> None:
    bench.inject({"Cz": 5.0})
    assert bench.input.mix["Cz"] == 2.0
    with pytest.raises(DataError, match="finite"):
        bench.inject({"Cz": float("nan")})
    bench.nudge("Cz", -0.5)
    assert bench.input.mix["Cz"] == 1.5 and bench.input.amplitude == 1.5
    bench.set_amplitude(0.25)
    assert dict(bench.input.mix) == {"Cz": 0.25}
    with pytest.raises(DataError, match="no electrode"):
        bench.click("XX")


def test_frames_and_baseline_need_data_and_use_its_scaler(bench) -> None:
    with pytest.raises(DataError, match="no dataset"):
        bench.set_frame(3)
    data = _data()
    scaler = ClipScaler.fit(data.values)
    seen: list[frozenset[str]] = []
    bench.subscribe(seen.append)
    bench.set_data("tiny", data, scaler)
    # nothing injected: a new recording opens on its first frame
    assert bench.input.mode == "dataset" and bench.input.frame == 0
    assert seen[-1] == frozenset({"input", "data"})
    bench.set_frame(10_000)  # clipped to the recording
    assert bench.input.frame == 49
    np.testing.assert_allclose(bench.input_values(), scaler.transform(data.values[49]))
    bench.set_baseline("mean")
    assert seen[-1] == frozenset({"input", "baseline"})
    mean = np.asarray(scaler.transform(data.values), np.float32).mean(axis=0)
    np.testing.assert_allclose(bench.baseline_values(), mean, rtol=1e-6)
    bench.click("Pz")  # injected on the mean baseline
    expected = mean.copy()
    expected[bench.montage.index("Pz")] += 1.0
    np.testing.assert_allclose(bench.input_values(), expected, rtol=1e-6)
    # a mix on screen stays when another recording is loaded
    bench.set_data("other", _data(20), scaler)
    assert bench.input.mode == "inject" and dict(bench.input.mix) == {"Pz": 1.0}
    # the mix is kept while frames are shown, and comes back with inject mode
    bench.set_mode("dataset")
    bench.set_mode("inject")
    assert dict(bench.input.mix) == {"Pz": 1.0}
    bench.reset_input()
    assert bench.input == InputState(baseline="mean", frame=0)


def test_a_model_with_another_montage_drops_unknown_electrodes(bench) -> None:
    from dataclasses import replace

    bench.inject({"Fp1": 1.0, "Oz": 0.5})
    small = get_montage("biosemi32", ch_names=["Fp1", "Cz", "Pz"])
    bench.set_model("custom", object(), replace(small))
    assert dict(bench.input.mix) == {"Fp1": 1.0}
    assert bench.input_values().shape == (3,)
    bench.set_model("", None)
    assert bench.model_name == "" and bench.loaded is None


class _Pinned:
    """A stand-in LoadedModel: the workbench reads only its montage and scaler."""

    def __init__(self, montage, scaler=None) -> None:
        from types import SimpleNamespace

        self.operator = SimpleNamespace(montage=montage)
        self.scaler = scaler


def test_a_pinned_model_is_announced_and_sees_the_same_electrodes_in_its_own_scale(bench) -> None:
    data = _data()
    bench.set_data("tiny", data, ClipScaler.fit(data.values))
    seen: list[frozenset[str]] = []
    bench.subscribe(seen.append)
    other = ClipScaler.fit(data.values * 3.0)  # the pinned model was trained on louder data
    b = _Pinned(bench.montage, other)
    bench.pin("E1", b)
    assert seen == [frozenset({"pinned"})] and bench.pinned is b and bench.pinned_name == "E1"
    assert bench.state()["pinned"] == "E1" and bench.pin_problem() == ""
    bench.pin("E1", b)  # no change, no notification
    assert len(seen) == 1
    # a dataset frame: the same raw frame, scaled by each model's own scaler
    bench.set_frame(7)
    np.testing.assert_allclose(bench.pinned_values(), other.transform(data.values[7]), rtol=1e-6)
    assert not np.allclose(bench.pinned_values(), bench.input_values())
    # injected electrodes: amplitudes are scaled units, the same for both models
    bench.click("Pz")
    np.testing.assert_array_equal(bench.pinned_values(), bench.input_values())
    bench.set_baseline("mean")  # each model's mean frame in its own scale
    mean_b = np.asarray(other.transform(data.values), np.float32).mean(axis=0)
    mean_b[bench.montage.index("Pz")] += 1.0
    np.testing.assert_allclose(bench.pinned_values(), mean_b, rtol=1e-5, atol=1e-6)
    bench.unpin()
    assert seen[-1] == frozenset({"pinned"}) and bench.pinned is None
    assert bench.state()["pinned"] == ""
    with pytest.raises(DataError, match="no model pinned"):
        bench.pinned_values()


def test_a_pinned_model_with_other_electrodes_is_refused_by_name(bench) -> None:
    bench.pin("wide", _Pinned(get_montage("biosemi64")))
    problem = bench.pin_problem()
    assert "wide uses other electrodes (64" in problem and "(32" in problem
    with pytest.raises(DataError, match="cannot see the same input"):
        bench.pinned_values()
