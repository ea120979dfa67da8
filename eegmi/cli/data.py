"""``eegmi data``: inspect recordings, write the synthetic set, render one frame's topomap.

- ``eegmi data info PATH`` — channels, rate, duration, shape, subjects, trials,
  the montage channels missing from the file and ``problem``: why loading it for
  training would fail (missing/duplicate channels, NaN, flat channels), or null.
  ``PATH`` may be ``synthetic``; a DEAP folder is cached on first use.
- ``eegmi data synth --out DIR`` — the synthetic set as ``synthetic.npz`` (readable
  by every ``--data`` option) plus its ground truth (``synthetic.truth.npz/.json``).
- ``eegmi data convert FOLDER --out DIR`` — DEAP files decoded once into a
  memory-mapped set (:mod:`eegmi.data.convert`), with a progress bar; ``--data DIR``
  then opens it without decoding anything.
- ``eegmi data render PATH --frame N --out FILE.png`` — the clipped and scaled
  topomap of one frame, nose up, left hemisphere on the left, outside the head
  transparent.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.errors import ConfigError, DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect, synthesise and render EEG data",
                                   description="Inspect recordings, write the synthetic set, render one "
                                               "frame's topomap.")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _help(parser))

    p = sub.add_parser("info", help="summarise a recording",
                       description="Channels, rate, duration, shape, subjects, trials and "
                                   "missing montage channels of a recording.")
    p.add_argument("path", metavar="PATH", help="file, folder of DEAP files, or 'synthetic'")
    p.add_argument("--montage", default="biosemi32", help="montage to compare channels with")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="write the synthetic EEG set",
                       description="Write the deterministic synthetic set and its ground truth.")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--subjects", type=int, default=4, help="number of subjects (default 4)")
    p.add_argument("--trials", type=int, default=10, help="trials per subject (default 10)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per trial (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("convert", help="convert a DEAP folder once into a memory-mapped set",
                       description="Decode every sNN.dat of a DEAP folder once into DIR "
                                   "(float32 values.npy, subject.npy, trial.npy and a header), "
                                   "checked as it is written; --data DIR then memory-maps it "
                                   "without decoding. Atomic: a killed conversion leaves no DIR; "
                                   "converting the same files again reuses DIR.")
    p.add_argument("path", metavar="FOLDER", help="folder of DEAP sNN.dat files")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--montage", default="biosemi32",
                   help="channels kept and their order (default biosemi32, DEAP's order)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("render", help="render one frame as a PNG topomap",
                       description="Render the clipped, [0, 1]-scaled topomap of one frame "
                                   "(scaler fitted on the whole recording), nose up.")
    p.add_argument("path", metavar="PATH", help="file, folder of DEAP files, or 'synthetic'")
    p.add_argument("--frame", type=int, required=True, help="frame index (0-based)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="output PNG")
    p.add_argument("--method", default="cubic", help="interpolation (cubic, linear, nearest, "
                                                     "spline)")
    p.add_argument("--size", type=int, default=40, help="image size in pixels (default 40)")
    p.add_argument("--zoom", type=int, default=8, help="pixel magnification of the PNG (default 8)")
    p.add_argument("--cmap", default="RdBu_r", help="matplotlib colour map (default RdBu_r)")
    p.add_argument("--montage", default="biosemi32", help="montage (default biosemi32)")
    p.add_argument("--mask", choices=("head", "hull"), default="head",
                   help="pixels shown: the head disc as the model sees it (default; the rim "
                        "outside the electrodes' hull holds the operator's fill value) or only "
                        "the electrodes' convex hull")
    p.set_defaults(func=cmd_render)


def _help(parser: argparse.ArgumentParser) -> None:
    parser.print_help()
    return None


def cmd_convert(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.convert import convert_deap
    from eegmi.jobs import run_with_bar

    done = run_with_bar(convert_deap(args.path, args.out, args.montage), "converting")
    return done.to_json()


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.loaders import load_dataset, read_native, to_montage
    from eegmi.data.montage import get_montage
    from eegmi.data.recording import check_values

    montage = get_montage(args.montage)
    path = Path(args.path).expanduser()
    if args.path.strip().lower() == "synthetic" or path.is_dir():
        data = load_dataset(args.path, montage)
        return {**data.info(montage.ch_names), "problem": None}
    # the file's own channels, so missing ones are reported rather than refused
    data = read_native(path)
    problem = None
    try:
        fitted = to_montage(data, montage, path)
        check_values(fitted.values, fitted.ch_names, path)
    except DataError as exc:
        problem = exc.message  # what `load_eeg` would refuse the file for
    return {**data.info(montage.ch_names), "problem": problem}


def cmd_synth(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.synthetic import make_synthetic, write_synthetic

    if args.out.exists() and not args.out.is_dir():
        raise DataError("output exists and is not a folder", args.out)
    data = make_synthetic(n_subjects=args.subjects, trials_per_subject=args.trials,
                          seconds_per_trial=args.seconds, seed=args.seed)
    paths = write_synthetic(data, args.out)
    info = data.info()
    truth = data.ground_truth
    assert truth is not None  # make_synthetic always records its sources
    return {"files": paths, "shape": info["shape"], "subjects": info["subjects"],
            "n_trials": info["n_trials"], "sfreq": info["sfreq"], "seed": args.seed,
            "n_sources": int(len(truth["src_kind"]))}


def cmd_render(args: argparse.Namespace) -> dict[str, Any]:
    from eegmi.data.loaders import load_dataset
    from eegmi.data.preprocess import ClipScaler
    from eegmi.data.topomap import get_operator

    if args.out.suffix.lower() != ".png":
        raise ConfigError(f"output must be a .png file, got {args.out.name!r}")
    if args.zoom < 1:
        raise ConfigError(f"--zoom must be >= 1, got {args.zoom}")
    data = load_dataset(args.path, args.montage)
    if not 0 <= args.frame < data.n_frames:
        raise DataError(f"frame {args.frame} out of range 0..{data.n_frames - 1}", args.path)
    operator = get_operator(args.montage, args.size, args.method)
    scaler = ClipScaler.fit(data.values)
    value = np.asarray(data.values[args.frame], dtype=np.float32)
    scaled = np.asarray(scaler.transform(value[None]), dtype=np.float32)
    image = operator.render(scaled)[0]
    mask = operator.head_mask if args.mask == "head" else operator.hull_mask
    rgba = colorize(image, mask, args.cmap)
    write_png(rgba, args.out, args.zoom)
    return {"out": str(args.out), "frame": args.frame, "subject": int(data.subject[args.frame]),
            "trial": int(data.trial[args.frame]), "method": args.method, "size": args.size,
            "scaler": {"lo": float(scaler.lo), "hi": float(scaler.hi)},
            "image_min": float(image[operator.head_mask].min()),
            "image_max": float(image[operator.head_mask].max())}


def colorize(image: np.ndarray, mask: np.ndarray, cmap: str = "RdBu_r") -> np.ndarray:
    """Map an ``(H, W)`` image in [0, 1] to ``(H, W, 4)`` uint8 RGBA, transparent outside ``mask``."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError as exc:
        raise ConfigError(f"unknown colour map {cmap!r}") from exc
    rgba = (colormap(np.clip(image, 0.0, 1.0)) * 255).round().astype(np.uint8)
    rgba[~mask] = 0
    return rgba


def write_png(rgba: np.ndarray, out: Path, zoom: int = 1) -> None:
    """Write ``(H, W, 4)`` uint8 as a PNG, each pixel a ``zoom`` x ``zoom`` block (atomic).
    Row 0 is the top of the file, so a nose-up image stays nose up."""
    from PIL import Image

    from eegmi.paths import atomic_path

    big = np.repeat(np.repeat(rgba, zoom, axis=0), zoom, axis=1)
    with atomic_path(out) as tmp:
        Image.fromarray(big).save(tmp, format="PNG")
