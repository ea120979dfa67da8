"""The sweep's table, read back from the sweep folder (torch-free: the CLI and the GUI).

Every figure comes from the trials' own files: a train trial's validation figures are
its card's best-epoch record (the epoch training kept, chosen on the validation loss),
its test figures the card's ``test_*`` (scored once, when the run ended, on the saved
weights: what ``eegmi evaluate TRIAL`` recomputes); an SAE trial's figures are its
card's metrics (test-split frames it never trained on, and the model's reconstruction
with and without the SAE spliced in); the analyses are ``sweep_analyses.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from eegmi.errors import ConfigError
from eegmi.sweep.layout import (
    PLAN,
    STATUS,
    analyses_current,
    read_json,
    train_card,
    trial_dir,
    trial_state,
)

VAL_KEYS = ("loss", "mse", "mae", "ssim", "ssim_head")
TEST_KEYS = ("mse", "mae", "ssim", "ssim_head", "n")
SAE_KEYS = ("fve", "l0", "mse", "dead_fraction", "dense_fraction", "model_mse_clean",
            "model_mse_spliced", "model_ssim_clean", "model_ssim_spliced")
PICK_KEYS = ("pick_r2", "interpolate", "alignment", "axis_alignment", "headline_passed")


def read_plan(sweep: str | Path) -> dict[str, Any]:
    """The sweep folder's ``plan.json``.

    Raises
    ------
    ConfigError
        Not a sweep folder.
    """
    sweep = Path(sweep)
    plan = read_json(sweep / PLAN)
    if not isinstance(plan, dict) or not isinstance(plan.get("trials"), list):
        raise ConfigError(f"not a sweep folder (no readable {PLAN}; eegmi sweep SPEC.toml "
                          "--out FOLDER makes one)", sweep)
    return plan


def read_sweep(sweep: str | Path) -> dict[str, Any]:
    """The table of a sweep folder: one row per trial, whatever state it is in.

    Returns
    -------
    dict
        ``sweep`` (name), ``kind``, ``out`` (folder), ``analyses``, ``counts``
        (trials per state) and ``trials``: rows with ``id``, ``kind``, ``state``
        (pending, partial, trained, done, failed), ``params``, ``path``, ``error``, and
        for train trials ``epochs``, ``best_epoch``, ``val`` (:data:`VAL_KEYS`), ``test``
        (:data:`TEST_KEYS`), ``analyses`` (``alpha``: layer -> α, ``pick_interpolate``:
        :data:`PICK_KEYS`); for SAE trials ``test`` (:data:`SAE_KEYS`).
    """
    sweep = Path(sweep).resolve()
    plan = read_plan(sweep)
    status = read_json(sweep / STATUS, {})
    status = status if isinstance(status, dict) else {}
    wanted = plan.get("analysis_options") or {}
    rows = [trial_row(sweep, t, wanted, status.get(str(t.get("id")))) for t in plan["trials"]
            if isinstance(t, dict) and isinstance(t.get("id"), str)]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return {"sweep": plan.get("name", sweep.name), "kind": plan.get("kind", "train"),
            "out": str(sweep), "analyses": list(wanted), "counts": counts, "trials": rows}


def trial_row(sweep: Path, trial: dict[str, Any], wanted: dict[str, dict[str, Any]],
              failure: Any = None) -> dict[str, Any]:
    """One row of :func:`read_sweep` from the trial's folder."""
    tid, kind = trial["id"], trial.get("kind", "train")
    folder = trial_dir(sweep, tid)
    state = trial_state(sweep, tid, kind, trial.get("epochs"), wanted)
    error = ""
    if state != "done" and isinstance(failure, dict) and failure.get("state") == "failed":
        state, error = "failed", str(failure.get("error", ""))
    row: dict[str, Any] = {"id": tid, "kind": kind, "state": state,
                           "params": trial.get("params", {}), "path": str(folder),
                           "error": error}
    if kind == "sae":
        card = read_json(folder / "sae.json") if state == "done" else None
        metrics = card.get("metrics", {}) if isinstance(card, dict) else {}
        row["test"] = {k: _num(metrics.get(k)) for k in SAE_KEYS}
        return row
    card = train_card(folder)
    metrics = card.get("metrics", {}) if card else {}
    metrics = metrics if isinstance(metrics, dict) else {}
    row["epochs"] = card.get("epochs") if card else None
    row["target_epochs"] = trial.get("epochs")
    row["best_epoch"] = metrics.get("best_epoch")
    row["val"] = {k: _num(metrics.get(f"val_{k}")) for k in VAL_KEYS}
    row["test"] = {k: _num(metrics.get(f"test_{k}")) for k in TEST_KEYS}
    found = analyses_current(folder, card, wanted)
    row["analyses"] = {name: _analysis_figures(name, found[name].get("summary"))
                       for name in wanted if name in found}
    return row


def _analysis_figures(name: str, summary: Any) -> dict[str, Any]:
    if not isinstance(summary, dict):
        return {}
    if name == "alpha":
        alpha = summary.get("alpha")
        return {str(k): _num(v) for k, v in alpha.items()} if isinstance(alpha, dict) else {}
    return {k: summary.get(k) if k == "headline_passed" else _num(summary.get(k))
            for k in PICK_KEYS}


def _num(v: Any) -> float | int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if isinstance(v, int) or math.isfinite(v) else None


# ------------------------------------------------------------------ text
def _fmt(v: Any, style: str = "g") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return f"{v:.3e}" if style == "e" else f"{v:.4f}"


def alpha_layers(table: dict[str, Any]) -> list[str]:
    """The layers with an α in any row, in the order they first appear."""
    layers: list[str] = []
    for r in table["trials"]:
        for layer in (r.get("analyses") or {}).get("alpha", {}):
            if layer not in layers:
                layers.append(layer)
    return layers


def columns(table: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(header, row -> text)`` of the table (the CLI's and the GUI's columns)."""
    cols: list[tuple[str, Any]] = [("trial", lambda r: r["id"]), ("state", lambda r: r["state"])]
    if table["kind"] == "sae":
        cols += [(f"held-out {k}", lambda r, k=k: _fmt(r["test"].get(k),
                                                       "e" if "mse" in k else "f"))
                 for k in SAE_KEYS]
        return cols
    cols += [("epochs", lambda r: "—" if r.get("epochs") is None
              else f"{r['epochs']} (best {r.get('best_epoch')})"),
             ("val loss", lambda r: _fmt(r["val"]["loss"], "e")),
             ("val MSE", lambda r: _fmt(r["val"]["mse"], "e")),
             ("val SSIM (head)", lambda r: _pair(r["val"]["ssim"], r["val"]["ssim_head"])),
             ("test MSE", lambda r: _fmt(r["test"]["mse"], "e")),
             ("test MAE", lambda r: _fmt(r["test"]["mae"])),
             ("test SSIM (head)", lambda r: _pair(r["test"]["ssim"], r["test"]["ssim_head"]))]
    for layer in alpha_layers(table):
        cols.append((f"α {layer}", lambda r, la=layer: _fmt(
            (r.get("analyses") or {}).get("alpha", {}).get(la))))
    if "pick_interpolate" in table["analyses"]:
        for key, head in (("pick_r2", "pick R²"), ("interpolate", "interpolate"),
                          ("alignment", "alignment")):
            cols.append((head, lambda r, k=key: _fmt(
                (r.get("analyses") or {}).get("pick_interpolate", {}).get(k))))
    return cols


def _pair(a: Any, b: Any) -> str:
    return "—" if a is None else f"{_fmt(a)} ({_fmt(b)})"


def format_table(table: dict[str, Any]) -> str:
    """The table as aligned text, with a summary line and the failed trials' errors."""
    cols = columns(table)
    cells = [[head for head, _ in cols]] + [[str(get(r)) for _, get in cols]
                                            for r in table["trials"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = ", ".join(f"{n} {state}" for state, n in sorted(table["counts"].items()))
    lines.append(f"sweep {table['sweep']}: {len(table['trials'])} trials ({counts}); "
                 f"folder {table['out']}")
    for r in table["trials"]:
        if r["state"] == "failed":
            lines.append(f"  {r['id']} failed: {r['error']}")
    return "\n".join(lines)
