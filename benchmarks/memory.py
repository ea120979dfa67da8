"""Memory of training on a DEAP-sized recording: channels reordered per batch against
the whole-recording copy that ``prepare_data`` made before.

A DEAP-sized memmap (32 subjects x 40 trials x 63 s x 128 Hz = 10.3 M frames of
32 float32 channels, 1.3 GB; in montage order, as the DEAP folder cache is) is
written to a temporary folder.  Each round runs, in fresh child processes one after
the other (interleaved: old, new, old, new ...), ``prepare_data`` for the E3 preset
and ``--batches`` training steps of the paper-size VAE on shuffled training
batches:

- ``old``: the previous preparation: ``np.asarray(values[:, order])`` (the whole
  recording in memory) and the scaler fitted on ``values[train]`` (another copy of
  80 % of it before it samples);
- ``new``: :class:`eegmi.data.dataset.ChannelView` (rows read and reordered per
  batch) and the scaler's sample read alone.

Reports the peak resident set (``VmHWM``, which counts file pages: torch's
libraries and the memmap's, which the kernel may drop at will), the peaks of
anonymous memory (``RssAnon``: what the process really holds) and of file pages
(``RssFile``), both sampled every 20 ms, the resident set once everything is
imported, the preparation time and the training rate.
``--quick`` uses 1 M frames.  Prints the load average and one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from itertools import islice
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_average  # noqa: E402

DEAP_FRAMES = 32 * 40 * 63 * 128


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def write_recording(folder: Path, n_frames: int) -> None:
    """``values.npy`` (N, 32) float32 smooth random maps, ``subject``/``trial`` ids."""
    values = np.lib.format.open_memmap(folder / "values.npy", mode="w+", dtype=np.float32,
                                       shape=(n_frames, 32))
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(6, 32)).astype(np.float32)
    step = 1 << 20
    for start in range(0, n_frames, step):
        k = min(step, n_frames - start)
        amps = rng.normal(size=(k, 6)).astype(np.float32)
        values[start:start + k] = amps @ patterns + 0.3 * rng.normal(size=(k, 32)).astype(np.float32)
    values.flush()
    del values
    per_trial = 63 * 128
    trial_id = np.arange(n_frames) // per_trial
    np.save(folder / "subject.npy", (trial_id // 40).astype(np.int16))
    np.save(folder / "trial.npy", (trial_id % 40).astype(np.int32))


def child(mode: str, folder: Path, n_batches: int) -> dict[str, float]:
    import torch

    from eegmi.data.dataset import TopomapBatches
    from eegmi.data.montage import DEAP_CHANNELS
    from eegmi.data.recording import EEGData
    from eegmi.training import prepare
    from eegmi.training.experiments import load_experiment
    from eegmi.training.loop import build_for_experiment
    from eegmi.training.steps import train_epoch

    peak_anon, peak_file = [0], [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))
            peak_file[0] = max(peak_file[0], _status_kb("RssFile"))
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    start_rss = _status_kb("VmRSS")  # torch, numpy and eegmi imported: the floor
    torch.set_num_threads(1)
    if mode == "old":
        import eegmi.data.dataset as dataset

        class Whole(np.ndarray):
            def all_finite(self) -> bool:
                return bool(np.isfinite(self).all())

            def release_pages(self) -> None:
                pass

            def gather(self, rows: np.ndarray) -> np.ndarray:
                return self[rows]

        dataset.ChannelView = lambda base, order: np.asarray(base[:, order], np.float32).view(Whole)
        prepare._scaler_rows = lambda train, n: train
    data = EEGData(values=np.load(folder / "values.npy", mmap_mode="r"), ch_names=DEAP_CHANNELS,
                   sfreq=128.0, subject=np.load(folder / "subject.npy"),
                   trial=np.load(folder / "trial.npy"), provenance={"path": str(folder)})
    exp = load_experiment("E3")
    t0 = time.perf_counter()
    prep = prepare.prepare_data(exp, data)
    prepare_s = time.perf_counter() - t0
    model = build_for_experiment(exp, prep)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = TopomapBatches(prep.values, prep.split.train, prep.operator, prep.scaler,
                             prep.injection, batch_size=exp.training.batch_size, shuffle=True)
    t0 = time.perf_counter()
    train_epoch(model, islice(iter(batches), n_batches), opt, None, exp.training.beta)
    train_s = time.perf_counter() - t0
    done.set()
    peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))
    return {"peak_rss_mb": _status_kb("VmHWM") / 1024, "peak_anon_mb": peak_anon[0] / 1024,
            "peak_file_mb": peak_file[0] / 1024, "after_import_rss_mb": start_rss / 1024,
            "prepare_s": prepare_s, "train_batches_per_s": n_batches / train_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 M frames, one round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.batches)))
        return
    print("load average:", load_average(), file=sys.stderr)
    n_frames = 1_000_000 if args.quick else DEAP_FRAMES
    rounds = 1 if args.quick else args.rounds
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="eegmi-mem-") as tmp:
        write_recording(Path(tmp), n_frames)
        for _ in range(rounds):
            for mode in ("old", "new"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, tmp,
                                      "--batches", str(args.batches)],
                                     capture_output=True, text=True, check=True)
                runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    result: dict[str, object] = {"benchmark": "memory", "frames": n_frames,
                                 "recording_mb": n_frames * 32 * 4 / 2**20, "rounds": rounds,
                                 "batches": args.batches, "load_average": load_average()}
    for mode, rs in runs.items():
        result[mode] = {k: {"min": min(r[k] for r in rs), "median": float(np.median([r[k] for r in rs]))}
                        for k in rs[0]}
    result["peak_anon_ratio_old_over_new"] = (result["old"]["peak_anon_mb"]["median"]
                                              / result["new"]["peak_anon_mb"]["median"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
