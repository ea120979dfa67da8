"""``eegmi sae``: train and evaluate sparse autoencoders on layer activations.

``eegmi sae train MODEL --layer enc.act3 [--mode spatial|flat] [--data synthetic|PATH]``
or ``eegmi sae train --activations X.npy`` (an ``(N, d)`` matrix), with
``--dict-size N`` and ``--k K`` (TopK) or ``--l1 L`` (ReLU + L1), optional
``--filter magnitude:0.5``, writes the SAE directory (``sae.safetensors``,
``sae.json``, ``decoder.npy``, ``metrics.json``) to ``--out``.

``eegmi sae evaluate SAE_DIR [MODEL] [--activations X.npy]`` recomputes the
metrics (and, with a model, the reconstruction with the SAE spliced in);
``--gallery FILE.npz`` also writes the per-feature gallery data.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.cli.options import add_threads_option
from eegmi.errors import ConfigError, DataError
from eegmi.jobs import run_with_bar
from eegmi.limits import MAX_SEED, is_int


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
    t.add_argument("--mode", choices=("spatial", "flat"), default="spatial",
                   help="spatial: one channel vector per position; flat: one vector per frame")
    t.add_argument("--data", help="'synthetic' or a data path (default: the model's data)")
    t.add_argument("--activations", type=Path, help="train on this (N, d) .npy matrix instead")
    t.add_argument("--dict-size", type=int, required=True, help="number of SAE features")
    sparsity = t.add_mutually_exclusive_group()
    sparsity.add_argument("--k", type=int, help="TopK SAE with K active features")
    sparsity.add_argument("--l1", type=float, help="ReLU SAE with this L1 coefficient (default 0.02)")
    t.add_argument("--filter", help="activation filter METHOD:FRACTION (magnitude, maximum, "
                                    "median, active, gradcam), e.g. magnitude:0.5")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--max-frames", type=int, default=4000, help="frames to extract activations from")
    t.add_argument("--seed", type=int, default=0)
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
    e.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    e.set_defaults(func=run_evaluate)
    add_threads_option(e)

    def show_help(_args: argparse.Namespace) -> None:
        p.print_help()

    p.set_defaults(func=show_help)


def load_matrix(path: Path) -> np.ndarray:
    """An ``(N, d)`` activation matrix from ``.npy`` (never unpickled)."""
    from eegmi.sae.train import check_activations

    if not path.is_file():
        raise DataError("activation file not found", path)
    try:
        x = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise DataError(f"not a readable .npy array ({exc})", path) from None
    return check_activations(np.array(x), str(path))  # a writable in-memory copy for torch


def _device(spec: str | None) -> str:
    from eegmi.devices import pick_device

    return str(pick_device(spec))


class _Frames:
    """Model, data and frame choice shared by train and evaluate."""

    def __init__(self, model_spec: str, data_spec: str | None, device: str) -> None:
        from eegmi.data.loaders import load_dataset
        from eegmi.training.cards import card_data_source
        from eegmi.training.checkpoint import load_checkpoint

        self.loaded = load_checkpoint(model_spec, device=device)
        self.source = card_data_source(self.loaded.meta, data_spec,
                                       self.loaded.path / "model.json")
        self.data = load_dataset(self.source, montage=self.loaded.operator.montage)
        self.device = device

    def injection(self) -> Any:
        cfg = self.loaded.injection_config
        if not (getattr(cfg, "marks", False) or getattr(cfg, "occlusion", False)):
            return None
        from eegmi.data.injection import Injection

        return Injection(self.loaded.operator, cfg)

    def split(self, seed: int) -> Any:
        """Train/test frames without leakage: by trial, else by time blocks, else (a single
        short recording) a plain random 80/10/10 split of frames."""
        from eegmi.data.dataset import Split, split_frames
        from eegmi.errors import EegmiError

        for by in ("trial", "time"):
            try:
                return split_frames(self.data, by=by, seed=seed)
            except EegmiError:
                continue
        n = self.data.values.shape[0]
        perm = np.random.default_rng(seed).permutation(n)
        a, b = int(0.8 * n), int(0.9 * n)
        return Split(np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:]))

    def batches(self, indices: np.ndarray, batch_size: int = 256) -> Any:
        from eegmi.data.dataset import TopomapBatches

        return TopomapBatches(self.data.values, np.sort(indices), self.loaded.operator, self.loaded.scaler,
                              self.injection(), batch_size=batch_size, device=self.device)

    def make_input(self) -> Any:
        """Electrode values -> model input (rendered + injected image, or the values)."""
        if self.loaded.config.kind == "decoder":
            return lambda v: v
        inj = self.injection()
        op = self.loaded.operator
        return lambda v: inj.apply(op.render_torch(v)) if inj is not None else op.render_torch(v)


def _subset(indices: np.ndarray, n: int, seed: int) -> np.ndarray:
    if n < 1:
        raise ConfigError(f"--max-frames must be positive, got {n}")
    if len(indices) <= n:
        return np.asarray(indices)
    return np.sort(np.random.default_rng(seed).choice(indices, size=n, replace=False))


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.sae.activations import collect_activations, find_hook
    from eegmi.sae.filtering import filter_activations, parse_filter
    from eegmi.sae.io import save_sae
    from eegmi.sae.metrics import sae_metrics, spliced_reconstruction
    from eegmi.sae.model import SAEConfig
    from eegmi.sae.train import TrainConfig, train_sae

    if args.activations is not None and (args.model or args.layer):
        raise ConfigError("give either MODEL --layer NAME or --activations X.npy, not both")
    if args.activations is None and not (args.model and args.layer):
        raise ConfigError("give MODEL --layer NAME (or --activations X.npy) to train an SAE on")
    if args.dict_size < 1:
        raise ConfigError(f"--dict-size must be positive, got {args.dict_size}")
    method_keep = parse_filter(args.filter) if args.filter else None
    device = _device(args.device)
    meta: dict[str, Any] = {}
    spliced: dict[str, float] | None = None
    frames = None
    if args.activations is not None:
        x_all = load_matrix(args.activations)
        # hold out 10% (at least one vector) for the metrics
        perm = np.random.default_rng(args.seed).permutation(len(x_all))
        n_eval = max(1, len(x_all) // 10)
        x_train, x_eval = x_all[perm[n_eval:]], x_all[perm[:n_eval]]
        acts_pos = acts_frame = None
        spatial_shape = None
        gradcam = None
        meta.update(hook=None, mode=None, layer_shape=None,
                    provenance={"activations": str(args.activations.resolve()), "n_vectors": int(len(x_all))})
    else:
        frames = _Frames(args.model, args.data, device)
        find_hook(frames.loaded.model, args.layer)  # unknown layer: one line listing the valid ones
        split = frames.split(args.seed)
        train_idx = _subset(split.train, args.max_frames, args.seed)
        eval_idx = _subset(split.test if len(split.test) else split.val, max(1, args.max_frames // 4), args.seed)
        want_cam = method_keep is not None and method_keep[0] == "gradcam"
        acts = run_with_bar(collect_activations(frames.loaded.model, frames.batches(train_idx), args.layer,
                                        args.mode, gradcam=want_cam), f"activations {args.layer}")
        held = run_with_bar(collect_activations(frames.loaded.model, frames.batches(eval_idx), args.layer, args.mode),
                    "held-out activations")
        x_train, x_eval = acts.x, held.x
        acts_pos, acts_frame, gradcam = acts.position, acts.frame, acts.gradcam
        spatial_shape = tuple(acts.layer_shape[1:]) if acts.position is not None else None
        meta.update(hook=args.layer, mode=args.mode, layer_shape=acts.layer_shape,
                    provenance={"model": frames.loaded.name, "model_path": str(frames.loaded.path),
                                "data": str(frames.source), "train_frames": int(len(train_idx)),
                                "eval_frames": int(len(eval_idx)), "split_seed": args.seed})
    filter_report = None
    if method_keep is not None:
        filter_report = filter_activations(x_train, method_keep[0], method_keep[1], gradcam=gradcam,
                                           position=acts_pos, frame=acts_frame, spatial_shape=spatial_shape)
        x_train = x_train[filter_report.mask]
    kind = "topk" if args.k is not None else "l1"
    cfg = SAEConfig(d_in=int(x_train.shape[1]), n_features=args.dict_size, kind=kind,
                    k=args.k if args.k is not None else 8,
                    l1=args.l1 if args.l1 is not None else 0.02)
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       device=device)
    result = run_with_bar(train_sae(x_train, cfg, tcfg), "SAE training")
    metrics = sae_metrics(result.sae, x_eval)
    if frames is not None:
        spliced = run_with_bar(spliced_reconstruction(frames.loaded.model, result.sae.to(device),
                                              frames.batches(eval_idx), args.layer, args.mode),
                       "spliced reconstruction")
        result.sae.cpu()
        metrics.update({f"model_{k}": v for k, v in spliced.items()})
    meta.update(metrics=metrics, train=tcfg.to_dict(), resampled=result.resampled,
                final=result.history[-1] if result.history else {},
                filter=filter_report.to_json() if filter_report is not None else None)
    out = save_sae(args.out, result.sae, meta)
    return {"out": str(out), "decoder": str(out / "decoder.npy"), "d_in": cfg.d_in,
            "n_features": cfg.n_features, "kind": kind, "hook": meta["hook"], "mode": meta["mode"],
            "train_vectors": int(len(x_train)), "metrics": metrics,
            "filter": None if filter_report is None else {k: v for k, v in filter_report.to_json().items()}}


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
    if args.activations is not None:
        x = load_matrix(args.activations)
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
    frames = _Frames(model_spec, data_spec, device)
    find_hook(frames.loaded.model, loaded.hook)
    seed = prov.get("split_seed", args.seed)
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"provenance.split_seed {str(seed)[:40]!r} is not a seed", card)
    split = frames.split(int(seed))
    idx = _subset(split.test if len(split.test) else split.val, args.max_frames, args.seed)
    acts = run_with_bar(collect_activations(frames.loaded.model, frames.batches(idx), loaded.hook, loaded.mode),
                f"activations {loaded.hook}")
    if acts.x.shape[1] != d:
        raise DataError(f"layer {loaded.hook} of {frames.loaded.name} gives width {acts.x.shape[1]} "
                        f"but the SAE reads width {d}", args.sae_dir)
    metrics = sae_metrics(loaded.sae, acts.x)
    spliced = run_with_bar(spliced_reconstruction(frames.loaded.model, loaded.sae, frames.batches(idx),
                                          loaded.hook, loaded.mode), "spliced reconstruction")
    metrics.update({f"model_{k}": v for k, v in spliced.items()})
    out.update(model=frames.loaded.name, data=str(frames.source), frames=int(len(idx)), metrics=metrics)
    if args.gallery:
        n = frames.loaded.operator.montage.n_channels if frames.loaded.config.kind != "decoder" \
            else frames.loaded.config.n_electrodes
        gal = run_with_bar(feature_gallery(frames.loaded.model, loaded.sae, frames.batches(idx), loaded.hook,
                                   loaded.mode, electrodes=(n, frames.make_input())), "gallery")
        gal.save_npz(args.gallery)
        out["gallery"] = str(args.gallery)
        out["gallery_summary"] = gal.to_json()
    return out
