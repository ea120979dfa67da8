"""Rebuild, headless, what a figure state's input produced; and the caption every figure carries.

A panel figure's state (:mod:`eegmi.figures.panel`) names the model and data of the
workbench, the input (``workbench.input``: mode, injected electrodes, frame, baseline)
and the exact electrode vector the views showed (``workbench.values``).  :func:`replay_job`
loads the model, builds :class:`eegmi.inference.Inference` and runs the forward pass on
those values; the vector is also rebuilt from the input description (through
:class:`eegmi.workbench.Workbench`, the same rules the GUI uses) and a state whose values
disagree with its own input is refused.  The values, not the rebuilt vector, are what is
run: they are what the figure showed, to the last bit.

:func:`caption` writes the one caption line of every panel figure (inspect and analysis
panels alike): model, data, input, and the settings that changed the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError, EegmiError
from eegmi.jobs import Job, Progress

#: largest difference (scaled units) between the state's values and its rebuilt input
VALUES_TOLERANCE = 1e-5


@dataclass
class Replay:
    """A state's input pushed through its model again.

    Attributes
    ----------
    loaded : LoadedModel or None
        None for a state without a model (input side only).
    inference : Inference or None
    operator : TopomapOperator
    values : (n,) float32
        The electrode vector of the state (``workbench.values``).
    result : ForwardResult
        The forward pass of ``values`` (:func:`eegmi.inference.preview` without a model).
    check : str
        How ``values`` was checked against ``workbench.input``: ``"matched"`` or
        ``"skipped: <why>"``.
    baseline : (n,) float32 or None
        The baseline input, when it could be rebuilt (None where the data is missing).
    """

    loaded: Any
    inference: Any
    operator: Any
    values: np.ndarray
    result: Any
    check: str
    baseline: np.ndarray | None = None


def workbench_of(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``workbench`` part of a figure state (refused when it is not an object)."""
    wb = state.get("workbench")
    if not isinstance(wb, Mapping):
        raise ConfigError("figure state: 'workbench' must be an object")
    return wb


def state_values(state: Mapping[str, Any]) -> np.ndarray:
    """The electrode vector ``(n,)`` float32 the state's views showed.

    Raises
    ------
    ConfigError
        When ``workbench.values`` is missing, not numbers, or not finite.
    """
    raw = workbench_of(state).get("values")
    try:
        values = np.asarray(raw, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError("figure state: 'workbench.values' must be a list of numbers") from None
    if raw is None or values.size == 0 or not np.all(np.isfinite(values)):
        raise ConfigError("figure state: 'workbench.values' must be a non-empty list of finite numbers")
    return values


def input_state(state: Mapping[str, Any]) -> Any:
    """``workbench.input`` as an :class:`eegmi.workbench.InputState`."""
    from eegmi.workbench import BASELINES, MODES, InputState

    raw = workbench_of(state).get("input") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("figure state: 'workbench.input' must be an object")
    mode, baseline = raw.get("mode", "inject"), raw.get("baseline", "zero")
    if mode not in MODES or baseline not in BASELINES:
        raise ConfigError(f"figure state: unknown input mode {mode!r} or baseline {baseline!r}")
    try:
        mix = {str(k): float(v) for k, v in dict(raw.get("mix") or {}).items()}
        return InputState(mode=mode, mix=mix, frame=int(raw.get("frame", 0)), baseline=baseline,
                          amplitude=float(raw.get("amplitude", 1.0)))
    except (TypeError, ValueError):
        raise ConfigError("figure state: 'workbench.input' holds a value that is not a number") from None


def model_spec(state: Mapping[str, Any]) -> str:
    """The model the state names (bundled name or checkpoint folder; "" for none)."""
    return str(workbench_of(state).get("model") or "")


def load_model(state: Mapping[str, Any], device: str = "cpu") -> Any:
    """``load_checkpoint`` of the state's model (None when the state has none)."""
    spec = model_spec(state)
    if not spec:
        return None
    from eegmi.training.checkpoint import load_checkpoint

    return load_checkpoint(spec, device=device)


def _data_for_check(state: Mapping[str, Any], montage: Any, loaded: Any) -> tuple[Any, Any, str]:
    """(data, scaler, "") for the state's dataset, or (None, None, why) when unavailable."""
    spec = str(workbench_of(state).get("data") or "")
    if not spec:
        return None, None, "the state names no data"
    from eegmi.data.loaders import load_dataset
    from eegmi.data.preprocess import ClipScaler

    try:
        data = load_dataset(spec, montage=montage)
    except EegmiError as exc:
        return None, None, f"data not available ({exc.line()})"
    scaler = getattr(loaded, "scaler", None) if loaded is not None else None
    if scaler is None:  # what the GUI does: the data's own percentiles
        scaler = ClipScaler.fit(np.asarray(data.values))
    return data, scaler, ""


def rebuild_values(state: Mapping[str, Any], operator: Any, loaded: Any
                   ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """The state's input rebuilt by the workbench's rules.

    Returns
    -------
    (values (n,) or None, baseline (n,) or None, why)
        ``why`` says what could not be rebuilt ("" when everything was).
    """
    from eegmi.workbench import Workbench

    inp = input_state(state)
    wb = Workbench(operator.montage)
    needs_data = inp.mode == "dataset" or inp.baseline == "mean"
    if needs_data:
        data, scaler, why = _data_for_check(state, operator.montage, loaded)
        if data is None:
            return None, None, why
        wb.set_data(str(workbench_of(state).get("data")), data, scaler)
        if loaded is not None:
            wb.set_model(model_spec(state), loaded, operator.montage)
        if inp.mode == "dataset" and not 0 <= inp.frame < data.n_frames:
            raise DataError(f"figure state: frame {inp.frame} outside 0..{data.n_frames - 1}")
    try:
        values = wb.values_for(inp)
    except EegmiError as exc:
        raise ConfigError(f"figure state: cannot rebuild its input ({exc.line()})") from None
    return values, wb.baseline_values(inp.baseline), ""


def check_values(values: np.ndarray, rebuilt: np.ndarray | None, state: Mapping[str, Any],
                 why: str = "") -> str:
    """``"matched"``, ``"skipped: why"``; raises when the two vectors disagree."""
    if rebuilt is None:
        return f"skipped: {why}"
    if rebuilt.shape != values.shape:
        raise ConfigError(f"figure state: {values.size} values for a montage of {rebuilt.size} electrodes")
    diff = float(np.max(np.abs(rebuilt.astype(np.float64) - values)))
    if diff > VALUES_TOLERANCE:
        raise ConfigError(f"figure state: 'workbench.values' do not match its input "
                          f"({input_state(state).describe()}; largest difference {diff:.3g})")
    return "matched"


def replay_job(state: Mapping[str, Any], device: str = "cpu") -> Job[Replay]:
    """Load the state's model and run its input again (see the module docstring)."""
    from eegmi.inference import Inference, preview

    values = state_values(state)
    spec = model_spec(state)
    yield Progress(0, 3, f"loading model {Path(spec).name or '(none)'}")
    loaded = load_model(state, device)
    if loaded is None:
        from eegmi.data.topomap import get_operator

        operator, inference = get_operator("biosemi32", 40, "cubic"), None
    else:
        operator = loaded.operator
        inference = Inference(loaded, operator, device)
    channels = workbench_of(state).get("channels")
    if channels is not None and [str(c).lower() for c in channels] != \
            [c.lower() for c in operator.montage.ch_names]:
        raise ConfigError("figure state: its channels are not the model's montage")
    if values.size != operator.montage.n_channels:
        raise ConfigError(f"figure state: {values.size} values for a montage of "
                          f"{operator.montage.n_channels} electrodes")
    yield Progress(1, 3, "checking the input")
    rebuilt, baseline, why = rebuild_values(state, operator, loaded)
    check = check_values(values, rebuilt, state, why)
    yield Progress(2, 3, "forward pass" + ("" if check == "matched" else f" (input check {check})"))
    result = (inference.forward_values(values) if inference is not None
              else preview(operator, values, None))
    yield Progress(3, 3, "replayed")
    return Replay(loaded, inference, operator, values, result, check, baseline)


# -- the caption ---------------------------------------------------------------------------
def model_label(spec: str) -> str:
    """A model or data spec as the caption names it: a path by its last part (the
    checkpoint folder, the data file), a bundled name as is; "no model" for none."""
    if not spec:
        return "no model"
    p = Path(spec.replace("\\", "/"))
    return p.name if (p.is_absolute() or len(p.parts) > 1) else spec


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        if len(value) > 6 or any(isinstance(v, (list, tuple, Mapping)) for v in value):
            return f"[{len(value)} values]"
        return "/".join(_setting(v) for v in value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_setting(v)}" for k, v in list(value.items())[:6]) + "}"
    return str(value)


def describe_input(state: Mapping[str, Any]) -> str:
    """``"inject Cz=+2.00 on zero baseline"`` or ``"dataset frame 12"``."""
    inp = input_state(state)
    if inp.mode == "dataset":
        return f"dataset frame {inp.frame}"
    return f"inject {inp.describe()}"


#: view entries the caption leaves out: arrays of numbers, already drawn in the figure
_CAPTION_SKIP = frozenset({"z", "range_low", "range_high", "names", "layers", "decoded"})


def state_settings(state: Mapping[str, Any]) -> str:
    """The view and analysis settings of a state in words (what :func:`caption` writes
    when a figure gives none of its own)."""
    parts = []
    view = state.get("view") or {}
    settings = [f"{k.replace('_', ' ')} {_setting(v)}" for k, v in sorted(view.items())
                if k not in _CAPTION_SKIP and v is not None]
    if settings:
        parts.append("view: " + ", ".join(settings))
    analysis = state.get("analysis")
    if isinstance(analysis, Mapping) and analysis.get("recipe"):
        opts = analysis.get("options") or {}
        shown = [f"{k}={_setting(v)}" for k, v in opts.items()
                 if not isinstance(v, (Mapping, list, tuple)) and v is not None][:8]
        parts.append(f"analysis: {analysis['recipe']}" + (f" ({', '.join(shown)})" if shown else ""))
    return " · ".join(parts)


def caption(state: Mapping[str, Any], settings: str | None = None, input_too: bool = True) -> str:
    """The caption line of every panel figure: model, data, input, settings.

    Parameters
    ----------
    state
        The figure state.  The model and data are the recipe state's (``analysis.model``,
        ``analysis.data``) when it names them, else the workbench's; a recipe that names
        no data read the model's own ("the model's own data"), a workbench without data
        says "none".
    settings
        The figure's own settings line; None writes the state's view and analysis
        settings (:func:`state_settings`).
    input_too
        Whether the workbench input is described (an analysis over many inputs leaves
        it out).

    Example: ``"Model E3 · data synthetic · input: inject Cz=+2.00 on zero baseline ·
    view: difference off, shared scale off"``.
    """
    wb = workbench_of(state)
    analysis = state.get("analysis")
    analysis = analysis if isinstance(analysis, Mapping) else {}
    model = str(analysis.get("model") or wb.get("model") or "")
    data = str(analysis.get("data") or wb.get("data") or "")
    no_data = "the model's own data" if analysis else "none"
    parts = [f"Model {model_label(model)}", f"data {model_label(data) if data else no_data}"]
    if input_too:
        parts.append(f"input: {describe_input(state)}")
    text = state_settings(state) if settings is None else settings
    if text:
        parts.append(text)
    return " · ".join(parts)


def geometry_data(operator: Any) -> dict[str, Any]:
    """What every topomap figure draws besides the image: electrode places, names, head.

    Returns
    -------
    dict
        ``electrode_xy (n, 2) float32`` (sub-pixel col, row), ``head (3,) float64``
        (col, row, radius in pixels) and ``channels`` (n names).
    """
    from eegmi.figures.style import head_of

    head = head_of(operator)
    out: dict[str, Any] = {
        "electrode_xy": np.asarray(operator.electrode_xy, dtype=np.float32),
        "channels": list(operator.montage.ch_names)}
    if head is not None:
        out["head"] = np.asarray(head, dtype=np.float64)
    return out
