"""The workbench state, Qt-free: what the user is looking at, in one place.

:class:`Workbench` holds the current **input** (:class:`InputState`: injected
electrodes with their amplitudes, or a dataset frame, and the baseline), the
identity of the **model** and the **data**, and the objects behind them (the
``LoadedModel``, the ``EEGData`` and the scaler that turns raw frames into the
model's scaled electrode space), and an optional **pinned** second model shown
beside the first for comparison. Every view reads it and every change goes
through its methods, which notify subscribers with the names of what changed
(``"input"``, ``"baseline"``, ``"model"``, ``"data"``, ``"pinned"``). The GUI's ``Session`` is
a thin adapter that turns those notifications into Qt signals and submits the
forward passes; a script or a test can drive the same object without Qt.

The electrode vector the model sees is :meth:`Workbench.input_values`:

- inject mode: ``baseline + eegmi.data.injection.mix(mix)`` in scaled space;
- dataset mode: the scaled frame ``scaler.transform(data.values[frame])``.

The pinned model sees the same electrodes in its own scaled space
(:meth:`Workbench.pinned_values`): the same injected mix (amplitudes are in
scaled units), or the same raw frame scaled by its own training scaler.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from eegmi.errors import DataError

Mode = Literal["inject", "dataset"]
Baseline = Literal["zero", "mean"]
MODES: tuple[str, ...] = ("inject", "dataset")
BASELINES: tuple[str, ...] = ("zero", "mean")
#: injected amplitudes are limited to this range (scaled units; 1 = the 95th percentile)
AMPLITUDE_RANGE = (-2.0, 2.0)
#: frames averaged for the "mean" baseline (a strided subset of the recording)
MEAN_FRAMES = 4096

Listener = Callable[[frozenset[str]], None]


@dataclass(frozen=True)
class InputState:
    """The current input.

    Attributes
    ----------
    mode
        ``"inject"`` (electrodes set by hand on the baseline) or ``"dataset"`` (a frame).
    mix
        Electrode name -> amplitude of the injected electrodes, in click order
        (kept when switching to dataset mode, so switching back restores it).
    frame
        Index of the dataset frame shown in dataset mode.
    baseline
        ``"zero"`` (all electrodes 0) or ``"mean"`` (the dataset's mean scaled frame).
    amplitude
        Amplitude given to newly clicked electrodes.
    """

    mode: Mode = "inject"
    mix: Mapping[str, float] = field(default_factory=dict)
    frame: int = 0
    baseline: Baseline = "zero"
    amplitude: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "mix": {k: float(v) for k, v in self.mix.items()},
                "frame": int(self.frame), "baseline": self.baseline,
                "amplitude": float(self.amplitude)}

    @property
    def electrodes(self) -> tuple[str, ...]:
        """Names of the injected electrodes shown in inject mode (empty in dataset mode)."""
        return tuple(self.mix) if self.mode == "inject" else ()

    def describe(self) -> str:
        """One line: ``"Fp1=+1.00, O2=+1.00 on zero baseline"`` or ``"dataset frame 12"``."""
        if self.mode == "dataset":
            return f"dataset frame {self.frame}"
        mix = ", ".join(f"{k}={v:+.2f}" for k, v in self.mix.items())
        return f"{mix} on {self.baseline} baseline" if mix else f"{self.baseline} baseline input"


def _clip_amplitude(a: float) -> float:
    if not math.isfinite(a):
        raise DataError(f"amplitude must be finite, got {a}")
    lo, hi = AMPLITUDE_RANGE
    return float(min(max(a, lo), hi))


class Workbench:
    """Observable state of one workbench (model, data, input).

    Parameters
    ----------
    montage
        The electrode montage of the inputs (``eegmi.data.montage.Montage``).
    """

    def __init__(self, montage: Any) -> None:
        self.montage = montage
        self.input = InputState()
        self.model_name = ""
        self.loaded: Any = None
        self.data_name = ""
        self.data: Any = None
        self._data_scaler: Any = None
        self.pinned_name = ""
        self.pinned: Any = None
        self._mean_cache: dict[tuple[int, int], np.ndarray] = {}
        self._listeners: list[Listener] = []

    # -- observing -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(changed)`` after every change; returns an unsubscribe function.

        ``changed`` is a frozenset of ``"input"``, ``"baseline"``, ``"model"``, ``"data"``,
        ``"pinned"``.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, *changed: str) -> None:
        what = frozenset(changed)
        for listener in list(self._listeners):
            listener(what)

    def _set_input(self, new: InputState, *extra: str) -> None:
        old, self.input = self.input, new
        changed = set(extra)
        if new != old:
            changed.add("input")
        if new.baseline != old.baseline:
            changed.add("baseline")
        if changed:
            self._notify(*changed)

    # -- the input ---------------------------------------------------------------------
    def _name(self, electrode: str | int) -> str:
        names = tuple(self.montage.ch_names)
        if isinstance(electrode, (int, np.integer)):
            if not 0 <= int(electrode) < len(names):
                raise DataError(f"electrode index {electrode} out of range for {len(names)} electrodes")
            return names[int(electrode)]
        key = str(electrode).strip().lower()
        for ch in names:
            if ch.lower() == key:
                return ch
        raise DataError(f"no electrode {electrode!r}; electrodes are {', '.join(names)}")

    def inject(self, mix: Mapping[str | int, float]) -> None:
        """Inject electrodes (name or index -> amplitude) on the baseline; inject mode."""
        clean = {self._name(k): _clip_amplitude(float(v)) for k, v in mix.items()}
        self._set_input(replace(self.input, mode="inject", mix=clean))

    def click(self, electrode: str | int, add: bool = False) -> None:
        """What a click on an electrode does: inject it alone at the current amplitude;
        with ``add`` (shift/ctrl) add it to the mix, or remove it when already there
        (the last electrode stays)."""
        name = self._name(electrode)
        mix = dict(self.input.mix) if self.input.mode == "inject" else {}
        if add:
            if name in mix and len(mix) > 1:
                del mix[name]
            else:
                mix[name] = mix.get(name, self.input.amplitude)
        else:
            mix = {name: self.input.amplitude}
        self._set_input(replace(self.input, mode="inject", mix=mix))

    def nudge(self, electrode: str | int, delta: float) -> None:
        """Change one electrode's amplitude by ``delta`` (the mouse wheel), injecting it
        alone first when it is not in the mix or the input is a dataset frame."""
        name = self._name(electrode)
        mix = dict(self.input.mix) if self.input.mode == "inject" else {}
        if name not in mix:
            mix = {name: 0.0}
        mix[name] = round(_clip_amplitude(mix[name] + delta), 6)
        self._set_input(replace(self.input, mode="inject", mix=mix, amplitude=mix[name]))

    def set_amplitude(self, amplitude: float) -> None:
        """Amplitude for new clicks; in inject mode every injected electrode takes it."""
        a = _clip_amplitude(float(amplitude))
        mix = {k: a for k in self.input.mix} if self.input.mode == "inject" else dict(self.input.mix)
        self._set_input(replace(self.input, amplitude=a, mix=mix))

    def set_mode(self, mode: str) -> None:
        """Switch between the injected electrodes and the dataset frame (each is kept)."""
        if mode not in MODES:
            raise DataError(f"input mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "dataset" and self.data is None:
            raise DataError("no dataset loaded: load data first (File › Open data…)")
        self._set_input(replace(self.input, mode=mode))  # type: ignore[arg-type]

    def set_frame(self, frame: int) -> None:
        """Show dataset frame ``frame`` (clipped to the recording); dataset mode."""
        if self.data is None:
            raise DataError("no dataset loaded: load data first (File › Open data…)")
        i = int(np.clip(int(frame), 0, self.data.n_frames - 1))
        self._set_input(replace(self.input, mode="dataset", frame=i))

    def step_frame(self, step: int) -> None:
        """Move ``step`` frames (switching to dataset mode)."""
        self.set_frame(self.input.frame + int(step))

    def set_baseline(self, baseline: str) -> None:
        """``"zero"`` or ``"mean"``: what injected electrodes are added to."""
        if baseline not in BASELINES:
            raise DataError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
        self._set_input(replace(self.input, baseline=baseline))  # type: ignore[arg-type]

    def reset_input(self) -> None:
        """No electrodes injected: the baseline input, inject mode."""
        self._set_input(replace(self.input, mode="inject", mix={}))

    # -- model and data ------------------------------------------------------------------
    def set_model(self, name: str, loaded: Any, montage: Any = None) -> None:
        """The model now shown (``loaded`` None: no model), with its montage when it
        brings another one (injected electrodes it lacks are dropped)."""
        self.model_name, self.loaded = (name, loaded) if loaded is not None else ("", None)
        self._mean_cache.clear()  # the scaler may have changed
        new = self.input
        if montage is not None and tuple(montage.ch_names) != tuple(self.montage.ch_names):
            self.montage = montage
            known = {c.lower(): c for c in montage.ch_names}
            new = replace(new, mix={known[k.lower()]: v for k, v in new.mix.items()
                                    if k.lower() in known})
        self._set_input(new, "model")

    def set_data(self, name: str, data: Any, scaler: Any) -> None:
        """The dataset now loaded, with the scaler fitted on it (used without a model).

        A new recording starts on its first frame when nothing is injected (the window
        shows the recording, not a blank input); an injected mix stays on screen.
        """
        if data is not None and data.n_frames == 0:
            raise DataError("dataset has no frames", path=name)
        self.data_name, self.data, self._data_scaler = name, data, scaler
        self._mean_cache.clear()
        if data is None:
            new = replace(self.input, mode="inject", frame=0)
        elif self.input.mode == "dataset" or not self.input.mix:
            new = replace(self.input, mode="dataset", frame=0)
        else:
            new = replace(self.input, frame=0)
        self._set_input(new, "data")

    def pin(self, name: str, loaded: Any) -> None:
        """Pin a second model (``loaded``, a ``LoadedModel``) beside the current one for
        comparison; ``loaded`` None unpins. Notifies ``"pinned"``."""
        new = (name, loaded) if loaded is not None else ("", None)
        if new == (self.pinned_name, self.pinned):
            return
        self.pinned_name, self.pinned = new
        self._mean_cache.clear()
        self._notify("pinned")

    def unpin(self) -> None:
        """Forget the pinned model."""
        self.pin("", None)

    def pin_problem(self) -> str:
        """Why the pinned model cannot be shown on the current input ("" when it can)."""
        if self.pinned is None:
            return ""
        theirs = tuple(self.pinned.operator.montage.ch_names)
        ours = tuple(self.montage.ch_names)
        if theirs != ours:
            return (f"{self.pinned_name} uses other electrodes ({len(theirs)}: "
                    f"{', '.join(theirs[:4])}…) than the current input ({len(ours)}: "
                    f"{', '.join(ours[:4])}…): the two models cannot see the same input")
        return ""

    @property
    def scaler(self) -> Any:
        """The scaler for raw frames: the model's training scaler, else the data's own."""
        return self._scaler_of(self.loaded)

    def _scaler_of(self, loaded: Any) -> Any:
        if loaded is not None and getattr(loaded, "scaler", None) is not None:
            return loaded.scaler
        return self._data_scaler

    # -- derived values ----------------------------------------------------------------------
    def frame_values(self, frame: int, scaler: Any = None) -> np.ndarray:
        """Scaled electrode vector ``(n,)`` of dataset frame ``frame`` (``scaler`` None:
        the current model's)."""
        if self.data is None:
            raise DataError("no dataset loaded")
        raw = np.asarray(self.data.values[int(frame)], dtype=np.float32)
        scaler = self.scaler if scaler is None else scaler
        return np.asarray(scaler.transform(raw), dtype=np.float32)

    def baseline_values(self, baseline: str | None = None, scaler: Any = None) -> np.ndarray:
        """The baseline input ``(n,)`` (``baseline`` None: the current one): zeros, or
        the mean scaled frame of the dataset (zeros while no dataset is loaded), scaled
        by ``scaler`` (None: the current model's)."""
        n = len(self.montage.ch_names)
        which = self.input.baseline if baseline is None else baseline
        scaler = self.scaler if scaler is None else scaler
        if which != "mean" or self.data is None or scaler is None:
            return np.zeros(n, dtype=np.float32)
        key = (id(self.data), id(scaler))
        if key not in self._mean_cache:
            step = max(1, self.data.n_frames // MEAN_FRAMES)
            raw = np.asarray(self.data.values[::step], dtype=np.float32)
            mean = np.asarray(scaler.transform(raw), dtype=np.float32).mean(axis=0)
            if len(self._mean_cache) >= 2:  # the current and the pinned model's
                self._mean_cache.clear()
            self._mean_cache[key] = mean
        return self._mean_cache[key].copy()

    def values_for(self, state: InputState, scaler: Any = None) -> np.ndarray:
        """The scaled electrode vector ``(n,)`` that ``state`` describes (``scaler``
        None: in the current model's scaled space)."""
        if state.mode == "dataset" and self.data is not None:
            return self.frame_values(state.frame, scaler)
        from eegmi.data.injection import mix

        base = self.baseline_values(state.baseline, scaler)
        return (base + mix(dict(state.mix), self.montage)).astype(np.float32)

    def input_values(self) -> np.ndarray:
        """The current input ``(n,)`` in the model's scaled electrode space."""
        return self.values_for(self.input)

    def pinned_values(self) -> np.ndarray:
        """The current input ``(n,)`` in the pinned model's scaled space: the same
        injected mix, or the same raw frame scaled by the pinned model's scaler.

        Raises
        ------
        DataError
            Nothing pinned, or a pinned model with other electrodes (:meth:`pin_problem`).
        """
        if self.pinned is None:
            raise DataError("no model pinned for comparison")
        problem = self.pin_problem()
        if problem:
            raise DataError(problem)
        return self.values_for(self.input, self._scaler_of(self.pinned))

    def state(self) -> dict[str, Any]:
        """JSON-able description of what produces the current views."""
        return {"model": self.model_name, "pinned": self.pinned_name, "data": self.data_name,
                "input": self.input.to_json(),
                "values": [float(v) for v in self.input_values()],
                "channels": list(self.montage.ch_names)}
