"""Compare figure: the current model (A) and a pinned one (B) on the same input.

Top row: the model input, A's and B's reconstructions (one shared colour range) and
A − B inside A's head disc (diverging, symmetric range), each colour bar with its unit,
MSE/SSIM of each model in the titles.  Below, as the state's ``view["tabs"]`` asks:
the matched-layers table (names, shapes, RMS, ‖A−B‖/‖A‖; the matching rule is in the
caption), both latents as bars with their norms (coordinates are not comparable
across models: the caveat is printed), and, when the eigenspectrum comparison has run,
α per matched layer of both models with the latents' canonical correlations.

:func:`data_from` turns an :class:`eegmi.analysis.compare.ForwardComparison` (and an
optional :class:`eegmi.analysis.compare_spectra.SpectraComparison`) into the figure's
numbers; the GUI panel and :func:`compute` both call it.  :func:`compute` replays A
through :func:`eegmi.figures.replay.replay_job`, builds B's input by the workbench's
rule (:meth:`eegmi.workbench.Workbench.pinned_values`), runs
:func:`eegmi.analysis.compare.compare_forward`, and re-runs
:func:`eegmi.analysis.compare_spectra.compare_spectra` when the view holds its options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError
from eegmi.figures.panel import PanelFigure
from eegmi.jobs import Job, Progress

NAME = "compare"
#: the sections below the images, in the order they are drawn
TABS = ("layers", "latents", "alpha")
NOTHING_PINNED = "pin a second model first"
LATENT_CAVEAT = ("latent coordinates of two models are not comparable (any rotation of a "
                 "latent space gives an equally good model): compare the norms, and the "
                 "canonical correlations over many inputs")


def data_from(cmp: Any, operator: Any, spectra: Any = None,
              hooks: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """The figure's numbers.

    Parameters
    ----------
    cmp : ForwardComparison
        Both models on one input.
    operator
        A's topomap operator (its head disc is drawn).
    spectra : SpectraComparison or None
        The eigenspectrum comparison, when it has run.
    hooks
        The latent hook of A and of B.

    Returns
    -------
    dict
        ``input``, ``recon_a``, ``recon_b`` ``(H, W)``; ``difference (H, W)`` (absent when
        the images differ in size), ``diff_range``, ``diff_rms``; ``mse_a/ssim_a/mse_b/
        ssim_b``; ``same_input`` (B saw A's model input); ``head (3,)``; ``rule``;
        ``layers`` (one dict per matched pair: ``a, b, shape_a, shape_b, rms_a, rms_b,
        rel_l2``); ``latent_a (d,)``, ``latent_b (e,)``, ``latent_norms (2,)``,
        ``latent_hooks``; with ``spectra``: ``alpha_layers`` (pairs), ``alpha_a (L,)``,
        ``alpha_b (L,)`` (NaN: no fit), ``cca (k,)``, ``spectra_inputs``, ``spectra_n``.
    """
    from eegmi.figures.replay import geometry_data

    a, b = cmp.a, cmp.b
    out: dict[str, Any] = {
        "input": np.asarray(a.model_input, dtype=np.float32),
        "recon_a": np.asarray(a.recon, dtype=np.float32),
        "recon_b": np.asarray(b.recon, dtype=np.float32),
        "diff_range": float(cmp.diff_range),
        "diff_rms": math.sqrt(cmp.recon_mse()) if cmp.difference is not None else math.nan,
        "mse_a": float(a.mse), "ssim_a": float(a.ssim),
        "mse_b": float(b.mse), "ssim_b": float(b.ssim),
        "same_input": bool(np.array_equal(a.model_input, b.model_input)),
        "rule": cmp.matching.rule,
        "layers": [p.to_json() for p in cmp.layers],
        "latent_hooks": [str(h) for h in hooks]}
    if cmp.difference is not None:
        out["difference"] = np.asarray(cmp.difference, dtype=np.float32)
    geo = geometry_data(operator)
    if "head" in geo:
        out["head"] = geo["head"]
    norms = []
    for key, z in (("latent_a", cmp.latent_a), ("latent_b", cmp.latent_b)):
        vec = np.zeros(0, np.float32) if z is None else np.asarray(z, np.float32).reshape(-1)
        out[key] = vec
        norms.append(math.nan if z is None else float(np.linalg.norm(vec.astype(np.float64))))
    out["latent_norms"] = np.asarray(norms, dtype=np.float64)
    if spectra is not None:
        rows = [r for r in spectra.alpha_rows() if r[2] is not None or r[3] is not None]
        out["alpha_layers"] = [[r[0], r[1]] for r in rows]
        out["alpha_a"] = np.array([math.nan if r[2] is None else r[2] for r in rows], np.float64)
        out["alpha_b"] = np.array([math.nan if r[3] is None else r[3] for r in rows], np.float64)
        out["cca"] = np.asarray(spectra.cca, dtype=np.float64)
        out["spectra_inputs"] = str(spectra.inputs)
        out["spectra_n"] = int(spectra.n_inputs)
    return out


# -- headless ------------------------------------------------------------------------------
def pinned_spec(state: Mapping[str, Any]) -> str:
    """The pinned model B the state names (refused when there is none)."""
    from eegmi.figures.replay import workbench_of

    spec = str(workbench_of(state).get("pinned") or "")
    if not spec:
        raise ConfigError(f"figure state: no pinned model ({NOTHING_PINNED})")
    return spec


def pinned_values_of(state: Mapping[str, Any], loaded_a: Any, loaded_b: Any) -> np.ndarray:
    """The state's input ``(n,)`` in B's scaled space, by the workbench's own rule
    (:meth:`eegmi.workbench.Workbench.pinned_values`): the same injected mix, or the
    same raw frame scaled by B's training scaler (the data's own without one)."""
    from eegmi.figures.replay import input_state, workbench_of
    from eegmi.workbench import Workbench

    inp = input_state(state)
    wb = Workbench(loaded_a.operator.montage)
    if inp.mode == "dataset" or inp.baseline == "mean":
        from eegmi.data.loaders import load_dataset
        from eegmi.data.preprocess import ClipScaler

        spec = str(workbench_of(state).get("data") or "")
        if not spec:
            raise DataError("figure state: B's input needs the data, the state names none")
        data = load_dataset(spec, montage=loaded_a.operator.montage)
        wb.set_data(spec, data, ClipScaler.fit(np.asarray(data.values)))
    wb.set_model(str(workbench_of(state).get("model") or ""), loaded_a)
    wb.pin(pinned_spec(state), loaded_b)
    wb.input = inp
    return wb.pinned_values()


def compute(state: Mapping[str, Any], device: str) -> Job[dict[str, Any]]:
    from eegmi.analysis.compare import compare_forward
    from eegmi.figures.replay import replay_job
    from eegmi.inference import Inference
    from eegmi.training.checkpoint import load_checkpoint

    spec_b = pinned_spec(state)
    rep = yield from replay_job(state, device)
    if rep.inference is None:
        raise ConfigError("figure state: model A is missing (the comparison needs two models)")
    yield Progress(0, 3, f"loading pinned model {spec_b}")
    loaded_b = load_checkpoint(spec_b, device=device)
    inf_b = Inference(loaded_b, loaded_b.operator, device)
    values_b = pinned_values_of(state, rep.loaded, loaded_b)
    yield Progress(1, 3, "both models on the input")
    cmp = compare_forward(rep.inference, inf_b, rep.values, values_b)
    spectra = None
    opts = (state.get("view") or {}).get("spectra_options")
    if opts and "alpha" in _tabs(state):
        from eegmi.analysis.compare_spectra import compare_spectra
        from eegmi.analysis.spectra_options import SpectraOptions

        yield Progress(2, 3, "eigenspectra of both models")
        spectra = yield from compare_spectra(rep.loaded, loaded_b, SpectraOptions.from_json(dict(opts)),
                                             "A", "B")
    yield Progress(3, 3, "compared")
    hooks = (str(rep.inference.adapter.latent_hook), str(inf_b.adapter.latent_hook))
    return data_from(cmp, rep.operator, spectra, hooks)


# -- drawing ---------------------------------------------------------------------------------
def _tabs(state: Mapping[str, Any]) -> tuple[str, ...]:
    tabs = (state.get("view") or {}).get("tabs")
    return TABS if tabs is None else tuple(t for t in TABS if t in tabs)


def _f(v: Any, spec: str = ".4g") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return format(f, spec) if math.isfinite(f) else "–"


def _shape(s: Any) -> str:
    return "×".join(str(int(v)) for v in (s or [])) or "–"


def model_labels(state: Mapping[str, Any]) -> tuple[str, str]:
    """A's and B's names as the caption writes them (a checkpoint folder by its name)."""
    from eegmi.figures.replay import model_label, workbench_of

    wb = workbench_of(state)
    return model_label(str(wb.get("model") or "")), model_label(str(wb.get("pinned") or ""))


def _layer_rows(data: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for p in data.get("layers") or []:
        name = p["a"] if p["a"] == p["b"] else f"{p['a'] or '–'} ↔ {p['b'] or '–'}"
        same = p["shape_a"] == p["shape_b"]
        shape = _shape(p["shape_a"]) if same else f"{_shape(p['shape_a'])} / {_shape(p['shape_b'])}"
        if p["rel_l2"] is not None:
            rel = _f(p["rel_l2"])
        elif p["a"] is None or p["b"] is None:
            rel = "no counterpart"
        elif not same:
            rel = "n/a (shapes differ)"
        else:
            rel = "n/a (matched by role)"
        rows.append([name, shape, _f(p["rms_a"]), _f(p["rms_b"]), rel])
    return rows


def _heights(n_layers: int, tabs: tuple[str, ...], alpha: bool) -> list[float]:
    """Relative heights (inches at the default width) of the rows drawn: the images,
    then each section."""
    rows = [2.0]
    if "layers" in tabs:
        rows.append(0.35 + 0.16 * n_layers)
    if "latents" in tabs:
        rows.append(1.5)
    if "alpha" in tabs and alpha:
        rows.append(1.7)
    return rows


def figure_height(n_layers: int, tabs: tuple[str, ...] = TABS, alpha: bool = False) -> float:
    """The figure's height in inches (7 in wide) for ``n_layers`` table rows and the
    sections drawn, with room for title and caption: the panel's default size."""
    return round(sum(_heights(n_layers, tabs, alpha)) + 1.2, 2)


def render(data: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    from eegmi.figures.panels.scalp import INPUT_UNIT, input_levels
    from eegmi.figures.replay import caption, describe_input
    from eegmi.figures.style import (
        CYCLE,
        DIVERGING,
        SEQUENTIAL,
        add_caption,
        add_title,
        colorbar,
        draw_topomap,
        state_figure,
    )

    tabs = _tabs(state)
    heights = _heights(len(data.get("layers") or []), tabs, "alpha_a" in data)
    fig = state_figure(state)
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    na, nb = model_labels(state)
    head = tuple(np.asarray(data["head"]).tolist()) if "head" in data else None

    top = grid[0].subgridspec(1, 4)
    axes = [fig.add_subplot(top[0, i]) for i in range(4)]
    lo, hi = input_levels([data["input"], data["recon_a"], data["recon_b"]])
    im = draw_topomap(axes[0], data["input"], vmin=lo, vmax=hi, cmap=SEQUENTIAL, head=head,
                      title="Model input" + ("" if data.get("same_input") else " (A's)"))
    for ax, key, label, mse, ssim in ((axes[1], "recon_a", f"A {na}", "mse_a", "ssim_a"),
                                      (axes[2], "recon_b", f"B {nb}", "mse_b", "ssim_b")):
        draw_topomap(ax, data[key], vmin=lo, vmax=hi, cmap=SEQUENTIAL, head=head,
                     title=f"{label}\nMSE {_f(data.get(mse), '.3g')}, SSIM {_f(data.get(ssim), '.3f')}")
    colorbar(fig, im, axes[:3], f"{INPUT_UNIT}, range [{lo:g}, {hi:g}]")
    if "difference" in data:
        dhi = max(float(data.get("diff_range") or 0.0), 1e-6)
        dim = draw_topomap(axes[3], data["difference"], vmin=-dhi, vmax=dhi, cmap=DIVERGING,
                           head=head, title=f"A − B (head disc)\nRMS {_f(data.get('diff_rms'), '.3g')}")
        colorbar(fig, dim, axes[3], f"A − B (scaled units), ±{dhi:.3g}")
    else:
        axes[3].set_axis_off()
        axes[3].set_title("A − B: images differ in size")

    row = 1
    if "layers" in tabs:
        from eegmi.figures.panels._analysis import draw_table

        ax = fig.add_subplot(grid[row])
        draw_table(ax, ["layer (A ↔ B)", "shape", "RMS A", "RMS B", "‖A−B‖/‖A‖"],
                   _layer_rows(data), col_widths=[0.26, 0.2, 0.14, 0.14, 0.26], fontsize=6)
        ax.set_title("Matched layers (RMS: basis-free size; ‖A−B‖/‖A‖ for one name and shape only)")
        row += 1
    if "latents" in tabs:
        sub = grid[row].subgridspec(1, 2)
        norms = np.asarray(data.get("latent_norms", [math.nan, math.nan]), dtype=np.float64)
        hooks = list(data.get("latent_hooks") or ["", ""])
        for i, (key, label) in enumerate((("latent_a", f"A {na}"), ("latent_b", f"B {nb}"))):
            ax = fig.add_subplot(sub[0, i])
            z = np.asarray(data[key], dtype=np.float64)
            ax.bar(np.arange(z.size), z, width=0.8, color=CYCLE[i])
            ax.axhline(0.0, color="0.5", lw=0.5)
            ax.set_title(f"{label}: {hooks[i] or 'latent'}, ‖z‖ = {_f(norms[i], '.3f')} ({z.size} units)")
            ax.set_xlabel("latent unit")
            ax.set_ylabel("value (a.u.)")
        row += 1
    if "alpha" in tabs and "alpha_a" in data:
        sub = grid[row].subgridspec(1, 2, width_ratios=[1.6, 1.0])
        ax = fig.add_subplot(sub[0, 0])
        pairs = data["alpha_layers"]
        xs = np.arange(len(pairs))
        ax.plot(xs, data["alpha_a"], "o-", color=CYCLE[0], ms=3, label=f"A {na}")
        ax.plot(xs, data["alpha_b"], "s--", color=CYCLE[1], ms=3, label=f"B {nb}")
        from eegmi.figures.style import short_layer

        ax.set_xticks(xs, [short_layer(a) if a == b else f"{short_layer(a or '–')}/{short_layer(b or '–')}"
                           for a, b in pairs], fontsize=6)
        ax.set_ylabel("α (λ_k ∝ k^-α)")
        ax.set_xlabel("matched layer")
        ax.set_title(f"Eigenspectrum decay per layer, same {data.get('spectra_n', '?')} inputs")
        ax.legend(fontsize=6, frameon=False)
        ax = fig.add_subplot(sub[0, 1])
        cca = np.asarray(data["cca"], dtype=np.float64)
        ax.plot(np.arange(1, cca.size + 1), cca, "o-", color=CYCLE[2], ms=3)
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("canonical pair")
        ax.set_ylabel("canonical correlation")
        ax.set_title(f"Latents A vs B: CCA, mean {_f(np.mean(cca) if cca.size else math.nan, '.3f')}")
    add_title(fig, f"{state.get('title') or 'Compare models'}: A {na} vs B {nb}, "
                   f"{describe_input(state)}")
    add_caption(fig, caption(state, f"pinned model B {nb} · " + _settings(data, tabs)))
    return fig


def _settings(data: Mapping[str, Any], tabs: tuple[str, ...]) -> str:
    parts = [f"A − B: max |A − B| {_f(data.get('diff_range'), '.4g')} inside A's head disc"]
    if not data.get("same_input"):
        parts.append("B's own model input differs (its scaler or injection); A's is shown")
    parts.append(f"layer matching: {data.get('rule', '–')}; units correspond only within one "
                 "training run")
    if "latents" in tabs:
        parts.append(LATENT_CAVEAT)
    if "alpha" in tabs and "alpha_a" in data:
        parts.append(f"eigenspectra on {data.get('spectra_inputs', '–')}; CCA is invariant to "
                     "any invertible linear map of either latent (a model against itself gives 1)")
    return "; ".join(parts)


FIGURE = PanelFigure(NAME, compute, render)

__all__ = ["FIGURE", "LATENT_CAVEAT", "NOTHING_PINNED", "TABS", "compute", "data_from",
           "figure_height", "model_labels", "pinned_values_of", "render"]
