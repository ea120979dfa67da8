"""``eegmi sae``: train and evaluate sparse autoencoders on layer activations.

``eegmi sae train MODEL --layer enc.act3 [--mode spatial|flat] [--data synthetic|PATH]``
or ``eegmi sae train --activations X.npy`` (an ``(N, d)`` matrix), with
``--dict-size N`` and ``--k K`` (TopK) or ``--l1 L`` (ReLU + L1), optional
``--filter magnitude:0.5``, writes the SAE directory (``sae.safetensors``,
``sae.json``, ``decoder.npy``, ``metrics.json``) to ``--out``.

``eegmi sae evaluate SAE_DIR [MODEL] [--activations X.npy]`` recomputes the
metrics (and, with a model, the reconstruction with the SAE spliced in);
``--gallery FILE.npz`` also writes the per-feature gallery data.

Bounded memory: the activation vectors held (from a model layer or from an
``--activations`` matrix, read from disk as a memory map) never exceed ``--memory-mb``
(float32): beyond it a uniform random sample of the vectors is kept (every frame is
still run through the model).  The output says so: a note on stderr and the fields
``capped``, ``vectors_used``, ``vectors_available``, ``frames_used``, ``frames_available``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.options import add_threads_option
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import run_with_bar
from eegmi.limits import MAX_SEED, is_int
from eegmi.recipes.sae import SaeTrainOptions

#: the defaults of ``eegmi sae train`` are the recipe's (shared with the SAE panel)
TRAIN = SaeTrainOptions()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sae", help="sparse autoencoders on layer activations",
                              description="Train and evaluate sparse autoencoders (SAEs) on a "
                                          "model layer's activations or on an activation matrix.")
    sub = p.add_subparsers(dest="sae_command", metavar="SAE_COMMAND")

    t = sub.add_parser("train", help="train an SAE on a layer (or an .npy activation matrix)",
                       description="Train an SAE on MODEL's --layer activations over a data set, "
                                   "or on a raw (N, d) activation matrix given with --activations.")
    t.add_argument("model", nargs="?", help="bundled model name (E1..E5) or checkpoint folder")
    t.add_argument("--layer", help="hook point name, e.g. enc.act3")
    t.add_argument("--mode", choices=("spatial", "flat"), default=TRAIN.mode,
                   help="spatial: one channel vector per position; flat: one vector per frame")
    t.add_argument("--data", help="'synthetic' or a data path (default: the model's data)")
    t.add_argument("--activations", type=Path, help="train on this (N, d) .npy matrix instead")
    t.add_argument("--dict-size", type=int, default=TRAIN.dict_size,
                   help=f"number of SAE features (default {TRAIN.dict_size})")
    sparsity = t.add_mutually_exclusive_group()
    sparsity.add_argument("--k", type=int, help=f"TopK SAE with K active features "
                                                f"(the default sparsity, K={TRAIN.k})")
    sparsity.add_argument("--l1", type=float, help="ReLU SAE with this L1 coefficient "
                                                   f"(e.g. {TRAIN.l1})")
    t.add_argument("--filter", help="activation filter METHOD:FRACTION (magnitude, maximum, "
                                    "median, active, gradcam), e.g. magnitude:0.5")
    t.add_argument("--steps", type=int, default=TRAIN.steps)
    t.add_argument("--batch-size", type=int, default=TRAIN.batch_size)
    t.add_argument("--lr", type=float, default=TRAIN.lr)
    t.add_argument("--max-frames", type=int, default=TRAIN.max_frames,
                   help="train-split frames to extract activations from (a quarter as many "
                        "held-out frames give the metrics)")
    t.add_argument("--seed", type=int, default=TRAIN.seed)
    t.add_argument("--memory-mb", type=int, default=TRAIN.memory_mb,
                   help=f"memory for held activation vectors; beyond it a uniform random "
                        f"sample is kept (default {TRAIN.memory_mb})")
    t.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    t.add_argument("--out", type=Path, required=True, help="output SAE directory")
    t.set_defaults(func=run_train)
    add_threads_option(t)

    e = sub.add_parser("evaluate", help="metrics of a trained SAE",
                       description="L0 (beside d), FVE, dead/dense fractions and (with a model) "
                                   "the model's reconstruction with the SAE spliced into its layer.")
    e.add_argument("sae_dir", type=Path, help="SAE directory written by 'eegmi sae train'")
    e.add_argument("model", nargs="?", help="model (default: the one the SAE was trained on)")
    e.add_argument("--data", help="'synthetic' or a data path (default: the SAE's data)")
    e.add_argument("--activations", type=Path, help="evaluate on this (N, d) .npy matrix")
    e.add_argument("--max-frames", type=int, default=1000)
    e.add_argument("--gallery", type=Path, help="also write per-feature gallery data (.npz)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--memory-mb", type=int, default=TRAIN.memory_mb,
                   help=f"memory for held activation vectors (default {TRAIN.memory_mb})")
    e.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    e.set_defaults(func=run_evaluate)
    add_threads_option(e)

    def show_help(_args: argparse.Namespace) -> None:
        p.print_help()

    p.set_defaults(func=show_help)


def load_matrix(path: Path, max_rows: int | None = None, seed: int = 0,
                chunk_rows: int = 65536) -> np.ndarray:
    """An ``(N, d)`` activation matrix from ``.npy`` (never unpickled).

    With ``max_rows`` below ``N``, a uniform random subset of ``max_rows`` rows (sorted,
    seeded) is read from the memory-mapped file ``chunk_rows`` at a time, so no more
    than the subset is ever held.  :func:`matrix_rows` tells the ``N`` to expect.
    """
    from eegmi.sae.train import check_activations

    x = _open_matrix(path)
    n = int(x.shape[0]) if x.ndim else 0
    if max_rows is None or x.ndim != 2 or n <= max_rows:
        return check_activations(np.array(x), str(path))  # a writable in-memory copy for torch
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    out = np.empty((max_rows, x.shape[1]), dtype=np.float32)
    for start in range(0, max_rows, chunk_rows):
        part = rows[start:start + chunk_rows]
        out[start:start + len(part)] = x[part]
    return check_activations(out, str(path))


def _open_matrix(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError("activation file not found", path)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise DataError(f"not a readable .npy array ({exc})", path) from None


def matrix_rows(path: Path) -> tuple[int, int]:
    """``(N, d)`` of an ``.npy`` matrix from its header (nothing read; ``(0, 0)`` when it
    is not 2-D, which :func:`load_matrix` then refuses)."""
    x = _open_matrix(path)
    return (int(x.shape[0]), int(x.shape[1])) if x.ndim == 2 else (0, 0)


def note_capped(info: dict[str, Any], what: str) -> None:
    """One stderr line when a memory budget kept only a sample of the vectors."""
    if info.get("capped"):
        sys.stderr.write(f"eegmi: note: {what}: {info['vectors_used']} of "
                         f"{info['vectors_available']} activation vectors kept (uniform random "
                         f"sample; --memory-mb {info['memory_mb']})\n")


def _device(spec: str | None) -> str:
    from eegmi.devices import pick_device

    return str(pick_device(spec))


def train_options(args: argparse.Namespace) -> SaeTrainOptions:
    """The ``sae_train`` options of a command line (``--k`` TopK, ``--l1`` ReLU + L1)."""
    sparsity = "topk" if args.k is not None else "l1" if args.l1 is not None else TRAIN.sparsity
    opts = SaeTrainOptions(layer=args.layer or TRAIN.layer, mode=args.mode, dict_size=args.dict_size,
                           sparsity=sparsity, k=args.k if args.k is not None else TRAIN.k,
                           l1=args.l1 if args.l1 is not None else TRAIN.l1, steps=args.steps,
                           batch_size=args.batch_size, lr=args.lr, max_frames=args.max_frames,
                           seed=args.seed, filter=args.filter,
                           memory_mb=getattr(args, "memory_mb", TRAIN.memory_mb))
    opts.check()
    return opts


def _context(model_spec: str, data_spec: str | None, device: str) -> Any:
    from eegmi.recipes.base import RecipeContext
    from eegmi.training.checkpoint import load_checkpoint

    return RecipeContext(model=model_spec, loaded=load_checkpoint(model_spec, device=device),
                         data=data_spec, device=device)


def _train_matrix(args: argparse.Namespace, opts: SaeTrainOptions, device: str) -> dict[str, Any]:
    """Train on a raw ``(N, d)`` matrix, 10 % (at least one vector) held out for the metrics."""
    from eegmi.sae.filtering import filter_activations, parse_filter
    from eegmi.sae.io import save_sae
    from eegmi.sae.metrics import sae_metrics
    from eegmi.sae.train import train_sae

    n_all, d = matrix_rows(args.activations)
    x_all = load_matrix(args.activations, opts.max_rows(d), opts.seed)
    sampling = {"vectors_used": int(len(x_all)), "vectors_available": max(n_all, len(x_all)),
                "capped": len(x_all) < n_all, "memory_mb": opts.memory_mb}
    note_capped(sampling, str(args.activations))
    perm = np.random.default_rng(opts.seed).permutation(len(x_all))
    n_eval = max(1, len(x_all) // 10)
    x_train, x_eval = x_all[perm[n_eval:]], x_all[perm[:n_eval]]
    report = None
    if opts.filter:
        method, keep = parse_filter(opts.filter)
        report = filter_activations(x_train, method, keep)
        x_train = x_train[report.mask]
    cfg, tcfg = opts.sae_config(x_train.shape[1]), opts.train_config(device)
    result = run_with_bar(train_sae(x_train, cfg, tcfg), "SAE training")
    metrics = sae_metrics(result.sae, x_eval)
    meta = {"hook": None, "mode": None, "layer_shape": None, "metrics": metrics,
            "train": tcfg.to_dict(), "resampled": result.resampled,
            "final": result.history[-1] if result.history else {},
            "filter": None if report is None else report.to_json(),
            "provenance": {"activations": str(args.activations.resolve()), "n_vectors": int(len(x_all)),
                           "sampling": sampling}}
    out = save_sae(args.out, result.sae, meta)
    return {"out": str(out), "decoder": str(out / "decoder.npy"), "d_in": cfg.d_in,
            "n_features": cfg.n_features, "kind": cfg.kind, "hook": None, "mode": None,
            "train_vectors": int(len(x_train)), **sampling, "metrics": metrics,
            "filter": None if report is None else report.to_json()}


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.recipes.sae import SAE_TRAIN
    from eegmi.sae.io import resave

    if args.activations is not None and (args.model or args.layer):
        raise ConfigError("give either MODEL --layer NAME or --activations X.npy, not both")
    if args.activations is None and not (args.model and args.layer):
        raise ConfigError("give MODEL --layer NAME (or --activations X.npy) to train an SAE on")
    if args.dict_size < 1:
        raise ConfigError(f"--dict-size must be positive, got {args.dict_size}")
    opts = train_options(args)
    device = _device(args.device)
    if args.activations is not None:
        return _train_matrix(args, opts, device)
    context = _context(args.model, args.data, device)
    trained = run_with_bar(SAE_TRAIN.run(opts, context, None), f"SAE on {opts.layer}")
    note_capped(trained.sampling, f"{args.model} {opts.layer}")
    trained.loaded.sae.cpu()
    out = resave(trained.loaded, args.out)
    return {"out": str(out), "decoder": str(out / "decoder.npy"), **SAE_TRAIN.summary(trained)}


def _card_model(prov: dict[str, Any], card: Path) -> str | None:
    """The model an SAE card names.  Only a bundled name or a checkpoint folder can be
    named, and loading one reads nothing but its checked ``model.json`` and
    ``model.safetensors`` (a card never names the data: that needs ``--data``)."""
    for key in ("model_path", "model"):
        spec = prov.get(key)
        if spec is None or spec == "":
            continue
        if not isinstance(spec, str) or len(spec) > 4096 or "\x00" in spec:
            raise ConfigError(f"provenance.{key} {str(spec)[:60]!r} is not a model name or "
                              "folder", card)
        return spec
    return None


def run_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.sae.features import feature_gallery, gallery_from_matrix
    from eegmi.sae.io import load_sae
    from eegmi.sae.metrics import sae_metrics, spliced_reconstruction

    device = _device(args.device)
    loaded = load_sae(args.sae_dir, device=device)
    d = loaded.sae.config.d_in
    out: dict[str, Any] = {"sae": str(args.sae_dir), "d_in": d, "n_features": loaded.sae.config.n_features,
                           "hook": loaded.hook, "mode": loaded.meta.get("mode")}
    budget = SaeTrainOptions(memory_mb=getattr(args, "memory_mb", TRAIN.memory_mb))
    budget.check()
    if args.activations is not None:
        n_all, _ = matrix_rows(args.activations)
        x = load_matrix(args.activations, budget.max_rows(d), args.seed)
        out.update(vectors_used=int(len(x)), vectors_available=n_all, capped=len(x) < n_all,
                   memory_mb=budget.memory_mb)
        note_capped(out, str(args.activations))
        if x.shape[1] != d:
            raise DataError(f"activation width {x.shape[1]} does not match the SAE input width {d}",
                            args.activations)
        out["metrics"] = sae_metrics(loaded.sae, x)
        if args.gallery:
            gallery_from_matrix(loaded.sae, x).save_npz(args.gallery)
            out["gallery"] = str(args.gallery)
        return out
    prov = loaded.meta.get("provenance", {}) or {}
    card = Path(args.sae_dir) / "sae.json"
    model_spec = args.model or _card_model(prov, card)
    if not model_spec or not loaded.hook:
        raise ConfigError("this SAE was trained on a raw matrix: give --activations X.npy", args.sae_dir)
    from eegmi.sae.activations import collect_activations, find_hook

    data_spec = args.data
    if not data_spec and prov.get("data") not in (None, "synthetic"):
        raise ConfigError(f"the card says the SAE was trained on {str(prov.get('data'))[:200]!r}; "
                          "a card cannot choose files to read: give that data explicitly (--data)",
                          card)
    from eegmi.recipes.sae import adapter_of, batches_of, dataset_of, draw, train_eval_split

    context = _context(model_spec, data_spec, device)
    adapter = adapter_of(context)
    find_hook(adapter.model, loaded.hook)
    seed = prov.get("split_seed", args.seed)
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"provenance.split_seed {str(seed)[:40]!r} is not a seed", card)
    eeg, scaler = dataset_of(context)
    split = train_eval_split(eeg, int(seed))
    idx = draw(split.test if len(split.test) else split.val, args.max_frames, args.seed)

    def batches() -> Any:
        return batches_of(adapter, eeg, scaler, idx, device)

    acts = run_with_bar(collect_activations(adapter.model, batches(), loaded.hook, loaded.mode,
                                            max_rows=budget.max_rows(d), seed=args.seed),
                        f"activations {loaded.hook}")
    out.update(vectors_used=int(len(acts.x)), vectors_available=int(acts.rows_seen),
               capped=acts.capped, memory_mb=budget.memory_mb)
    note_capped(out, f"{loaded.hook}")
    name = context.loaded.name
    if acts.x.shape[1] != d:
        raise DataError(f"layer {loaded.hook} of {name} gives width {acts.x.shape[1]} "
                        f"but the SAE reads width {d}", args.sae_dir)
    metrics = sae_metrics(loaded.sae, acts.x)
    spliced = run_with_bar(spliced_reconstruction(adapter.model, loaded.sae, batches(), loaded.hook,
                                                  loaded.mode), "spliced reconstruction")
    metrics.update({f"model_{k}": v for k, v in spliced.items()})
    out.update(model=name, data=data_spec or "synthetic", frames=int(len(idx)), metrics=metrics)
    if args.gallery:
        gal = run_with_bar(feature_gallery(adapter.model, loaded.sae, batches(), loaded.hook, loaded.mode,
                                           electrodes=(adapter.n_electrodes, adapter.model_input)),
                           "gallery")
        gal.save_npz(args.gallery)
        out["gallery"] = str(args.gallery)
        out["gallery_summary"] = gal.to_json()
    return out
