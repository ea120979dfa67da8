"""Deterministic synthetic EEG with known sources (the embedded default data set).

Each subject has its own source layout inside a three-shell spherical head
(``mne.make_sphere_model`` fitted to the biosemi32 cap): oscillatory dipoles in
the theta (4-8 Hz, frontal midline), alpha (8-13 Hz, posterior) and beta
(13-30 Hz, central) bands with slow amplitude modulation, one frontal
"eye" dipole producing blink-like transients, and pink (1/f) background dipoles
scattered through the brain volume.  The potentials are the forward solution
(``mne.make_forward_solution`` on a discrete source space; nothing is
downloaded) plus white sensor noise, average referenced, in microvolts.

Everything is a pure function of the seed: per-subject layouts come from
``default_rng([seed, subject])`` and every trial's time courses from
``default_rng([seed, subject, trial])``, so :func:`source_time_courses`
regenerates the sources of any trial from ``ground_truth`` alone.

``ground_truth`` (a dict) holds per source ``k`` (``K`` sources over all subjects):
``src_subject (K,)``, ``src_kind (K,)`` one of theta/alpha/beta/blink/pink,
``src_pos (K, 3)`` metres in the head frame (x right, y nose, z up),
``src_ori (K, 3)`` unit orientation, ``src_freq (K,)`` Hz (NaN if not
oscillatory), ``src_amp (K,)`` dipole moment in nAm, ``src_topography (K, n)``
average-referenced potential in µV per nAm; blinks as ``blink_subject``,
``blink_trial``, ``blink_time_s``; and the scalars ``seed``, ``sfreq``,
``noise_uv``, ``n_subjects``, ``trials_per_subject``, ``seconds_per_trial``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from eegmi.data.recording import EEGData
from eegmi.errors import DataError

GENERATOR_VERSION = 1
BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}
#: (kind, count, mean direction from the sphere centre, depth range in metres, moment nAm)
_LAYOUT = (
    ("theta", 1, (0.0, 0.6, 0.8), (0.045, 0.065), 60.0),
    ("alpha", 2, (0.0, -0.8, 0.5), (0.050, 0.068), 90.0),
    ("beta", 2, (0.7, 0.0, 0.7), (0.050, 0.068), 35.0),
    ("blink", 1, (0.0, 0.97, -0.1), (0.074, 0.076), 1000.0),
    ("pink", 16, (0.0, 0.0, 1.0), (0.020, 0.068), 30.0),
)
NOISE_UV = 1.0
BLINK_RATE_HZ = 0.25
BLINK_SIGMA_S = 0.07


@functools.lru_cache(maxsize=1)
def _head_model() -> tuple[tuple[str, ...], Any, Any, np.ndarray]:
    """biosemi32 channel names, an MNE info with the montage, the sphere model and its centre."""
    import mne

    montage = mne.channels.make_standard_montage("biosemi32")
    info = mne.create_info(montage.ch_names, 128.0, "eeg")
    info.set_montage(montage)
    sphere = mne.make_sphere_model("auto", "auto", info, verbose=False)
    return tuple(montage.ch_names), info, sphere, np.asarray(sphere["r0"], dtype=float)


def _gain(positions: np.ndarray) -> np.ndarray:
    """Free-orientation EEG gain ``(n, K, 3)`` in V/(A·m) for head-frame ``positions (K, 3)``."""
    return _gain_cached(positions.astype(np.float64).tobytes())


@functools.lru_cache(maxsize=8)
def _gain_cached(key: bytes) -> np.ndarray:
    import mne

    positions = np.frombuffer(key, dtype=np.float64).reshape(-1, 3)
    _, info, sphere, _ = _head_model()
    normals = np.tile([0.0, 0.0, 1.0], (len(positions), 1))
    src = mne.setup_volume_source_space(pos={"rr": positions, "nn": normals}, sphere=sphere,
                                        verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True, meg=False,
                                    verbose=False)
    if fwd["nsource"] != len(positions):
        raise RuntimeError("synthetic source fell outside the inner skull")  # a layout bug
    return fwd["sol"]["data"].reshape(len(info.ch_names), len(positions), 3)


def _subject_layout(seed: int, subject: int, center: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, subject])
    kinds, pos, ori, freq, amp = [], [], [], [], []
    for kind, count, direction, depth, moment in _LAYOUT:
        for _ in range(count):
            d = np.asarray(direction, dtype=float)
            if kind == "pink":
                d = rng.normal(size=3)
                d[2] = abs(d[2]) + 0.3  # keep background sources in the upper (cortical) half
            elif kind == "beta":
                d = d * np.array([rng.choice([-1.0, 1.0]), 1.0, 1.0])
            d = d / np.linalg.norm(d) + (rng.normal(scale=0.15, size=3) if kind != "blink" else 0)
            d /= np.linalg.norm(d)
            pos.append(center + d * rng.uniform(*depth))
            if kind == "blink":
                o = np.array([0.0, 0.35, 1.0])  # the eye dipole swings vertically
            else:
                o = d + rng.normal(scale=0.5, size=3)  # mostly radial, like cortical columns
            ori.append(o / np.linalg.norm(o))
            freq.append(rng.uniform(*BANDS[kind]) if kind in BANDS else np.nan)
            amp.append(moment * rng.uniform(0.7, 1.3))
            kinds.append(kind)
    return {"kind": np.array(kinds), "pos": np.array(pos), "ori": np.array(ori),
            "freq": np.array(freq), "amp": np.array(amp)}


def _pink(rng: np.random.Generator, n_src: int, n_t: int) -> np.ndarray:
    """Unit-variance 1/f noise ``(n_src, n_t)`` by spectral shaping of white noise."""
    spec = np.fft.rfft(rng.normal(size=(n_src, n_t)), axis=1)
    f = np.arange(spec.shape[1], dtype=float)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[:, 0] = 0.0
    out = np.fft.irfft(spec, n=n_t, axis=1)
    return out / out.std(axis=1, keepdims=True)


def _trial_signals(seed: int, subject: int, trial: int, kind: np.ndarray, freq: np.ndarray,
                   amp: np.ndarray, n_t: int, sfreq: float, n_ch: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source time courses ``(K_s, n_t)`` nAm, sensor noise ``(n_t, n_ch)`` µV, blink times (s)."""
    rng = np.random.default_rng([seed, subject, trial])
    t = np.arange(n_t) / sfreq
    tc = np.zeros((len(kind), n_t))
    osc = np.flatnonzero(np.isfinite(freq))
    # slow amplitude modulation: waxing and waning rhythms, plus a per-trial state gain
    depth = rng.uniform(0.3, 0.9, size=len(osc))
    fmod = rng.uniform(0.05, 0.5, size=len(osc))
    phase_mod = rng.uniform(0, 2 * np.pi, size=len(osc))
    phase = rng.uniform(0, 2 * np.pi, size=len(osc))
    gain = rng.uniform(0.6, 1.4, size=len(osc))
    env = 1.0 + depth[:, None] * np.sin(2 * np.pi * fmod[:, None] * t + phase_mod[:, None])
    tc[osc] = (amp[osc] * gain)[:, None] * env * np.sin(
        2 * np.pi * freq[osc][:, None] * t + phase[:, None])
    n_blinks = rng.poisson(BLINK_RATE_HZ * n_t / sfreq)
    blink_t = np.sort(rng.uniform(0.2, n_t / sfreq - 0.2, size=n_blinks))
    blink_amp = rng.uniform(0.7, 1.3, size=n_blinks)
    bump = (blink_amp[:, None] * np.exp(-0.5 * ((t - blink_t[:, None]) / BLINK_SIGMA_S) ** 2)).sum(0)
    for k in np.flatnonzero(kind == "blink"):
        tc[k] = amp[k] * bump
    pink = np.flatnonzero(kind == "pink")
    tc[pink] = amp[pink][:, None] * _pink(rng, len(pink), n_t)
    noise = rng.normal(scale=NOISE_UV, size=(n_t, n_ch))
    return tc, noise, blink_t


def make_synthetic(n_subjects: int = 4, trials_per_subject: int = 10,
                   seconds_per_trial: float = 30.0, sfreq: float = 128.0,
                   seed: int = 0) -> EEGData:
    """Generate the synthetic EEG set.

    Parameters
    ----------
    n_subjects, trials_per_subject, seconds_per_trial, sfreq
        Size of the set; ``N = n_subjects * trials_per_subject * round(seconds * sfreq)``.
    seed
        Everything is a deterministic function of it.

    Returns
    -------
    EEGData
        ``values (N, 32)`` float32 µV in biosemi32 order, with ``ground_truth``.
    """
    if n_subjects < 1 or trials_per_subject < 1 or seconds_per_trial <= 0 or sfreq <= 0:
        raise DataError(f"impossible synthetic size: {n_subjects} subjects, {trials_per_subject} "
                        f"trials, {seconds_per_trial} s, {sfreq} Hz")
    ch_names, _, _, center = _head_model()
    n_ch = len(ch_names)
    n_t = int(round(seconds_per_trial * sfreq))
    layouts = [_subject_layout(seed, s, center) for s in range(n_subjects)]
    all_pos = np.concatenate([lay["pos"] for lay in layouts])
    all_ori = np.concatenate([lay["ori"] for lay in layouts])
    gain = _gain(all_pos)
    topo = np.einsum("nkc,kc->kn", gain, all_ori) * 1e-3  # V/(A·m) -> µV per nAm
    topo -= topo.mean(axis=1, keepdims=True)  # average reference, as the data below
    values = np.empty((n_subjects * trials_per_subject * n_t, n_ch), dtype=np.float32)
    subject = np.repeat(np.arange(n_subjects, dtype=np.int16), trials_per_subject * n_t)
    trial = np.tile(np.repeat(np.arange(trials_per_subject, dtype=np.int32), n_t), n_subjects)
    blinks: list[tuple[int, int, float]] = []
    offset = 0
    row = 0
    for s, lay in enumerate(layouts):
        k = len(lay["kind"])
        t_s = topo[offset:offset + k]
        for tr in range(trials_per_subject):
            tc, noise, blink_t = _trial_signals(seed, s, tr, lay["kind"], lay["freq"],
                                                lay["amp"], n_t, sfreq, n_ch)
            x = tc.T @ t_s + noise
            x -= x.mean(axis=1, keepdims=True)
            values[row:row + n_t] = x
            row += n_t
            blinks.extend((s, tr, float(b)) for b in blink_t)
        offset += k
    truth: dict[str, Any] = {
        "generator": "eegmi.synthetic", "version": GENERATOR_VERSION, "seed": int(seed),
        "sfreq": float(sfreq), "noise_uv": NOISE_UV, "n_subjects": int(n_subjects),
        "trials_per_subject": int(trials_per_subject),
        "seconds_per_trial": float(seconds_per_trial), "units": "uV",
        "src_subject": np.repeat(np.arange(n_subjects, dtype=np.int16),
                                 [len(lay["kind"]) for lay in layouts]),
        "src_kind": np.concatenate([lay["kind"] for lay in layouts]).astype("<U8"),
        "src_pos": all_pos, "src_ori": all_ori,
        "src_freq": np.concatenate([lay["freq"] for lay in layouts]),
        "src_amp": np.concatenate([lay["amp"] for lay in layouts]),
        "src_topography": topo.astype(np.float32),
        "blink_subject": np.array([b[0] for b in blinks], dtype=np.int16),
        "blink_trial": np.array([b[1] for b in blinks], dtype=np.int32),
        "blink_time_s": np.array([b[2] for b in blinks], dtype=np.float64),
    }
    provenance = {"path": "synthetic", "loader": "synthetic", "units": "uV",
                  "original_sfreq": float(sfreq), "montage": "biosemi32",
                  "montage_channels": list(ch_names), "seed": int(seed)}
    return EEGData(values, ch_names, float(sfreq), subject, trial, provenance, truth)


def source_time_courses(ground_truth: dict[str, Any], subject: int, trial: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Regenerate one trial's source activity from ``ground_truth``.

    Returns
    -------
    tc
        ``(K_s, T)`` dipole moments in nAm of the subject's sources (in the order
        of ``ground_truth["src_subject"] == subject``).
    noise
        ``(T, n)`` sensor noise in µV added before average referencing.

    The recorded trial equals ``tc.T @ topography + noise``, average referenced.
    """
    sel = np.asarray(ground_truth["src_subject"]) == subject
    sfreq = float(ground_truth["sfreq"])
    n_t = int(round(float(ground_truth["seconds_per_trial"]) * sfreq))
    n_ch = np.asarray(ground_truth["src_topography"]).shape[1]
    tc, noise, _ = _trial_signals(int(ground_truth["seed"]), subject, trial,
                                  np.asarray(ground_truth["src_kind"])[sel],
                                  np.asarray(ground_truth["src_freq"])[sel],
                                  np.asarray(ground_truth["src_amp"])[sel], n_t, sfreq, n_ch)
    return tc, noise


def save_ground_truth(truth: dict[str, Any], npz_path: Path, json_path: Path) -> None:
    """Write the arrays of ``truth`` to ``npz_path`` and its scalars to ``json_path`` (no pickle)."""
    from eegmi.paths import atomic_path

    arrays = {k: np.asarray(v) for k, v in truth.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in truth.items() if not isinstance(v, np.ndarray)}
    with atomic_path(npz_path) as tmp:
        with open(tmp, "wb") as fh:
            # numpy's stub lets a ``**`` dict fill ``allow_pickle: bool``; every value is an array
            np.savez(fh, **arrays)  # type: ignore[arg-type]
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(scalars, indent=1))


def load_ground_truth(npz_path: Path, json_path: Path) -> dict[str, Any]:
    """Read what :func:`save_ground_truth` wrote (``allow_pickle=False``)."""
    try:
        truth: dict[str, Any] = json.loads(Path(json_path).read_text())
        with np.load(npz_path, allow_pickle=False) as z:
            truth.update({k: z[k] for k in z.files})
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read synthetic ground truth: {exc}", npz_path) from exc
    return truth


def cache_dir() -> Path:
    """``EEGMI_CACHE`` or ``~/.cache/eegmi``."""
    return Path(os.environ.get("EEGMI_CACHE") or Path.home() / ".cache" / "eegmi")


def write_synthetic(data: EEGData, out_dir: str | Path, stem: str = "synthetic") -> dict[str, str]:
    """Write ``data`` as ``stem.npz`` (read back by :func:`eegmi.data.loaders.load_eeg`) plus
    ``stem.truth.npz`` and ``stem.truth.json`` holding ``data.ground_truth``.

    Returns
    -------
    dict
        The written paths by role (``data``, ``truth_npz``, ``truth_json``).
    """
    from eegmi.data.loaders import save_npz

    out = Path(out_dir)
    paths = {"data": out / f"{stem}.npz", "truth_npz": out / f"{stem}.truth.npz",
             "truth_json": out / f"{stem}.truth.json"}
    if data.ground_truth is not None:
        save_ground_truth(data.ground_truth, paths["truth_npz"], paths["truth_json"])
    save_npz(data, paths["data"])  # last, so a present data file implies its truth files
    return {k: str(v) for k, v in paths.items()}


@functools.lru_cache(maxsize=1)
def default_dataset() -> EEGData:
    """The embedded default: ``make_synthetic()`` (4 subjects x 10 trials x 30 s at 128 Hz,
    153,600 frames), cached in :func:`cache_dir` as ``.npz`` after the first call."""
    from eegmi.data.loaders import load_eeg

    path = cache_dir() / f"synthetic_default_v{GENERATOR_VERSION}.npz"
    if path.exists():
        try:
            data = load_eeg(path)
            if data.ground_truth is not None:
                data.provenance.update(path="synthetic", loader="synthetic", cache=str(path))
                return data
        except DataError:
            pass  # a damaged cache is simply rebuilt
    data = make_synthetic()
    try:
        write_synthetic(data, path.parent, path.stem)
    except OSError:
        pass  # a read-only home is no reason to fail; the set is regenerated next time
    return data
