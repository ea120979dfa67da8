"""The training loop: a generator of per-batch and per-epoch :class:`Progress` reports.

Reports: one after every training batch (``payload`` = ``batch``, ``batches``, ``eta_s``;
cheap: the worker and the CLI bar thin them to their display rate) and one after
every epoch with the record :data:`EPOCH_KEYS` (``keep=True``: never thinned).  The
fraction counts batches over the whole run; the ETA is the measured time per batch of
this invocation (validation and checkpointing included once an epoch has ended) times
the batches left.  A consumer pausing at a report parks the run between two batches;
cancel is checked before every training and validation batch.

A run cancelled mid-epoch keeps the checkpoint of the last completed epoch (the
half-done epoch is not saved), so ``resume`` redoes that epoch from its start and
gives the same weights as an uninterrupted run.

Evaluation hygiene: everything training *decides* reads the **validation** split
only: the learning-rate schedule (``ReduceLROnPlateau`` on the validation loss), the
checkpoint kept in ``model.safetensors`` (the epoch with the lowest validation loss,
``best_epoch`` in the card), early stopping (``training.early_stop`` epochs without a
better validation loss; 0 = never) and the per-epoch progress and ``history.jsonl``
(``val_*`` figures only).  The **test** split is evaluated once, when the run ends, on
the weights exactly as saved (float16-rounded when so written); those ``test_*``
figures go into the card's ``metrics`` and nowhere else.  ``eegmi evaluate`` recomputes
them.  A run continued with ``--resume`` ends again and so evaluates the test split
again, on the then best weights; the test figures never feed back into training.

Determinism: the global torch RNG and the batch order are re-seeded from
``(seed, epoch)`` at the start of every epoch, so an epoch's result depends only on
the weights and optimizer state it starts from.  That is what makes ``resume``
exact: the state saved after epoch *k* (one atomic safetensors file) plus the seed
reproduce epoch *k + 1* bit for bit on the same machine.

Across processes (``torchrun ... -m eegmi train``, ``ranks`` given) the same loop runs on
every rank with the model in DDP, each rank on its share of every step's frames, the
figures summed over ranks and the folder written by rank 0 alone: see
:mod:`eegmi.training.distributed`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eegmi.devices import pick_device
from eegmi.errors import CheckpointError, ConfigError
from eegmi.jobs import CancelToken, Job, Progress
from eegmi.limits import one_line
from eegmi.models.hooks import HookedModel
from eegmi.models.pick import pick_initialise
from eegmi.models.vae import ConfiguredModel, ConvVAE, build_model
from eegmi.training.checkpoint import (
    CARD,
    STATE,
    WEIGHTS,
    load_state_into,
    read_weights,
    resolve_model,
    save_checkpoint,
)
from eegmi.training.distributed import ShardedBatches
from eegmi.training.evaluation import evaluate_batches, evaluate_steps, weight_norm
from eegmi.training.experiments import ExperimentConfig
from eegmi.training.history import (
    HISTORY,
    append_history,
    cut_history,
    read_history,
    truncate_history,
)
from eegmi.training.prepare import Prepared, prepare_data
from eegmi.training.rundir import RunLock, pending, recover
from eegmi.training.state import Best, resume_state, train_state
from eegmi.training.steps import (
    Checked,
    Eta,
    batch_reports,
    train_steps,
    train_sums,
    validation_reports,
)

if TYPE_CHECKING:
    from eegmi.training.distributed import Ranks


@dataclass
class TrainResult:
    """What :func:`train` returns: the checkpoint folder, final metrics and the history."""

    out_dir: Path
    epochs: int
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)


#: The per-epoch record (``history.jsonl`` line and Progress payload): validation only.
EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "val_mse", "val_mae", "val_ssim",
              "val_ssim_head", "lr", "weight_norm", "best_epoch")


def build_for_experiment(experiment: ExperimentConfig, prep: Prepared) -> ConfiguredModel:
    """Seeded model with the experiment's initialisation (pick / copied decoder / frozen)."""
    t = experiment.training
    torch.manual_seed(t.seed)
    model = build_model(experiment.model)
    if t.init == "pick":
        if not isinstance(model, ConvVAE):
            raise ConfigError("training.init: pick initialisation needs a vae model")
        pick_initialise(model, prep.operator.electrode_pixels)
    if t.decoder_from:
        src = resolve_model(t.decoder_from)
        load_state_into(model, read_weights(src / WEIGHTS), src / WEIGHTS, prefix="decoder.")
    if t.freeze_decoder:
        for p in model.decoder.parameters():
            p.requires_grad_(False)
    return model


def train(
    experiment: ExperimentConfig,
    data: Any,
    out_dir: str | Path,
    resume: bool = False,
    cancel: CancelToken | None = None,
    device: str | torch.device | None = None,
    command: str = "",
    weights_dtype: str = "float32",
    ranks: Ranks | None = None,
) -> Job[TrainResult]:
    """Train ``experiment`` on ``data``, checkpointing into ``out_dir`` after every epoch.

    The run folder is locked for the whole run (:class:`~eegmi.training.rundir.RunLock`):
    a second writer is refused.  A checkpoint interrupted by a kill is finished or
    discarded first.  A run that fails or is cancelled before its first checkpoint
    leaves nothing behind.  See :func:`_train` for the parameters and reports.

    With ``ranks`` (one process of a torchrun run, :mod:`eegmi.training.distributed`)
    only rank 0 locks and writes the folder; the others wait until it has recovered it.
    """
    out = Path(out_dir)
    main = ranks is None or ranks.main
    lock = RunLock(out) if main else None
    if lock is not None:
        lock.acquire()
    fresh = not (out / CARD).exists()
    done = False
    try:
        if lock is not None:
            recover(out)
        if ranks is not None:
            ranks.barrier()  # the others read the folder only once rank 0 has recovered it
        result = yield from _train(experiment, data, out, resume, cancel, device, command,
                                   weights_dtype, ranks)
        done = True
        return result
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else out
        raise CheckpointError(f"training stopped ({one_line(exc.strerror or exc)})",
                              where) from None
    finally:
        if lock is not None:
            discard = not done and fresh and not (out / CARD).exists()
            if discard:  # nothing committed: leave no trace of this run
                (out / HISTORY).unlink(missing_ok=True)
            lock.release(discard=discard)


def _train(
    experiment: ExperimentConfig,
    data: Any,
    out_dir: str | Path,
    resume: bool = False,
    cancel: CancelToken | None = None,
    device: str | torch.device | None = None,
    command: str = "",
    weights_dtype: str = "float32",
    ranks: Ranks | None = None,
) -> Job[TrainResult]:
    """Train ``experiment`` on ``data``, checkpointing into ``out_dir`` after every epoch.

    Parameters
    ----------
    experiment
        The experiment settings.
    data
        :class:`eegmi.data.recording.EEGData` (channels matched to the montage by name).
    out_dir
        Checkpoint folder: ``model.safetensors``, ``model.json``, ``history.jsonl``,
        ``train_state.safetensors``.
    resume
        Continue from ``train_state.safetensors`` (same settings; ``epochs`` may grow).
    cancel
        Polled between batches.
    device
        Defaults to CUDA when present, else CPU.
    command
        The command line, recorded in the model card.
    weights_dtype
        ``"float32"`` or ``"float16"`` for the saved model weights (the training state
        stays float32); with float16 the final test metrics are those of the rounded model.
    ranks
        This process's place in a torchrun run (None: one process, no DDP).  Its device
        replaces ``device``; ``batch_size`` is per process.

    Yields
    ------
    Progress
        One per training batch (``payload``: ``batch``, ``batches``, ``eta_s``) and one
        per epoch (``payload`` = the validation-only record :data:`EPOCH_KEYS`,
        ``keep=True``); ``done``/``total`` count batches of the whole run.

    Returns
    -------
    TrainResult
        ``metrics`` = the card's: the best epoch's record plus ``test_*`` figures.
    """
    out = Path(out_dir)  # locked by train()
    t = experiment.training
    if not resume and ((out / STATE).exists() or (out / CARD).exists()):
        raise ConfigError("already holds a training run (use --resume or another --out)", out)
    if weights_dtype not in ("float32", "float16"):
        raise ConfigError(f"weights dtype {weights_dtype!r} is not float32 or float16")
    main = ranks is None or ranks.main
    dev = pick_device(device) if ranks is None else ranks.device
    prep = prepare_data(experiment, data)
    model = build_for_experiment(experiment, prep).to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=t.factor,
                                                       patience=t.patience)
    start, history = 0, []
    best = Best()
    if resume and (out / STATE).exists():
        start, tensors, state = resume_state(out, experiment, model, opt, sched,
                                             1 if ranks is None else ranks.world)
        history = (truncate_history(out, start) if main  # rank 0 writes; the others read
                   else [r for r in read_history(out) if int(r.get("epoch", 0)) <= start])
        try:
            best = Best.restore(model, tensors, state, history, out / STATE)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"training state is incomplete or foreign ({one_line(exc)})",
                                  out / STATE) from None
    if main:
        out.mkdir(parents=True, exist_ok=True)
    if start == 0 and main:  # a stale log of a run that never checkpointed; made on epoch 1
        (out / HISTORY).unlink(missing_ok=True)
    mask = None if prep.loss_mask is None else torch.from_numpy(prep.loss_mask.copy()).to(dev)
    head = torch.from_numpy(np.array(prep.operator.head_mask, dtype=bool)).to(dev)
    amp = bool(t.amp and dev.type == "cuda")
    from eegmi.data.dataset import TopomapBatches

    def batches(indices: np.ndarray, shuffle: bool, seed: int) -> TopomapBatches:
        return TopomapBatches(prep.values, indices, prep.operator, prep.scaler, prep.injection,
                              batch_size=t.batch_size, shuffle=shuffle, seed=seed, device=dev)

    def part(indices: np.ndarray) -> np.ndarray:  # this rank's share of an evaluation split
        return indices if ranks is None else ranks.part(indices)

    def train_batches(seed: int) -> Any:
        whole = batches(prep.split.train, True, seed)
        return whole if ranks is None else ShardedBatches(whole, ranks.rank, ranks.world)

    net = model if ranks is None else ranks.wrap(model)  # after resume: DDP starts in step
    val_batches = batches(part(prep.split.val), False, 0)
    meta_base = _card_meta(experiment, data, prep, command)
    if ranks is not None:
        meta_base["distributed"] = {"world_size": ranks.world, "backend": ranks.backend,
                                    "batch_size_per_process": t.batch_size,
                                    "frames_per_step": t.batch_size * ranks.world}
    meta_base["commands"] = _previous_commands(out) if start > 0 else []
    meta_base["commands"].append(command)  # every invocation that built these weights
    metrics: dict[str, Any] = {}
    per_epoch = len(train_batches(0))
    clock = Eta(start * per_epoch, t.epochs * per_epoch)
    for epoch in range(start + 1, t.epochs + 1):
        epoch_seed = t.seed * 1_000_003 + epoch
        if ranks is None:
            torch.manual_seed(epoch_seed)
            steps = train_steps(model, train_batches(epoch_seed), opt, mask, t.beta, amp, cancel)
            train_loss = float((yield from batch_reports(steps, clock, epoch, t.epochs,
                                                         per_epoch)))
        else:
            torch.manual_seed(ranks.seed(epoch_seed))
            sums = train_sums(net, train_batches(epoch_seed), opt, mask, t.beta, amp, cancel)
            mine, n = yield from batch_reports(sums, clock, epoch, t.epochs, per_epoch)
            total, count = ranks.all_sum([mine, float(n)])
            train_loss = total / max(count, 1.0)
        if cancel is not None:
            cancel.raise_if_cancelled()
        val = yield from validation_reports(
            evaluate_steps(model, Checked(val_batches, cancel), mask, t.beta, head),
            clock, epoch, t.epochs, per_epoch, len(val_batches))
        if ranks is not None:
            val = ranks.reduce_means(val)
        sched.step(val["loss"])
        best.update(model, epoch, val["loss"])
        best_model = best.model
        assert best_model is not None  # update() keeps a copy from the first epoch on
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"],
                  "val_mse": val["mse"], "val_mae": val["mae"], "val_ssim": val["ssim"],
                  "val_ssim_head": val["ssim_head"], "lr": opt.param_groups[0]["lr"],
                  "weight_norm": weight_norm(model), "best_epoch": best.epoch}
        history.append(record)
        stop = t.early_stop > 0 and epoch - best.epoch >= t.early_stop
        final = stop or epoch == t.epochs
        best_record = next((r for r in history if r.get("epoch") == best.epoch), record)
        metrics = {**best_record, "epoch": epoch, "best_epoch": best.epoch}
        if final:
            metrics.update(_test_metrics(best_model, batches(part(prep.split.test), False, 0),
                                         head, weights_dtype,
                                         None if ranks is None else ranks.reduce_means))
        if main:
            # history before the checkpoint: a crash in between makes resume redo (and
            # re-log) this epoch, since the history is cut back to the saved state's epoch
            # (a Ctrl-C landing in the save is treated like a failed save, so an
            # interrupted folder's history and checkpoint end at the same epoch)
            logged = None
            try:
                logged = append_history(out, record)
                save_checkpoint(out, best_model, {**meta_base, "epochs": epoch,
                                                  "stopped_early": stop, "metrics": metrics},
                                dtype=weights_dtype,
                                state=train_state(model, opt, sched, experiment, epoch, best,
                                                  ranks))
            except (CheckpointError, KeyboardInterrupt):
                if logged is not None and not pending(out):  # not saved: not logged either
                    cut_history(out, logged)
                raise
        if ranks is not None:
            ranks.barrier()  # no rank runs ahead of (or returns before) rank 0's checkpoint
        clock.mark(epoch * per_epoch)
        yield Progress(epoch * per_epoch, t.epochs * per_epoch,
                       f"epoch {epoch}/{t.epochs} val loss {val['loss']:.3g} "
                       f"val ssim {val['ssim']:.3f} (head {val['ssim_head']:.3f}) "
                       f"best epoch {best.epoch}{clock.text()}", payload=record, keep=True)
        if stop:
            break
    return TrainResult(out, len(history), metrics, history)


def _test_metrics(model: HookedModel, test_batches: Any, head: torch.Tensor,
                  weights_dtype: str, reduce: Any = None) -> dict[str, Any]:
    """The one test-split evaluation of a run, on the weights as saved.

    ``reduce`` (ranks: :meth:`~eegmi.training.distributed.Ranks.reduce_means`) turns this
    process's part of the split into the whole split's figures."""
    evaluated = model
    if weights_dtype == "float16":
        evaluated = copy.deepcopy(model)
        with torch.no_grad():
            for p in evaluated.parameters():
                p.copy_(p.half().float())
    res = evaluate_batches(evaluated, test_batches, None, 0.0, head)
    if reduce is not None:
        res = reduce(res)
    out: dict[str, Any] = {f"test_{k}": res[k] for k in ("mse", "mae", "ssim", "ssim_head")}
    out["test_n"] = int(res["n"])
    if weights_dtype == "float16":
        f32 = evaluate_batches(model, test_batches, None, 0.0, head)
        if reduce is not None:
            f32 = reduce(f32)
        out["float32_test"] = {k: f32[k] for k in ("mse", "mae", "ssim", "ssim_head")}
    return out


def _previous_commands(out: Path) -> list[str]:
    """The command lines recorded by earlier invocations of a resumed run."""
    try:
        card = json.loads((out / CARD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    cmds = card.get("commands") or ([card["command"]] if card.get("command") else [])
    return [str(c) for c in cmds]


def _card_meta(experiment: ExperimentConfig, data: Any, prep: Prepared,
               command: str) -> dict[str, Any]:
    op = prep.operator
    prov = dict(data.provenance) if isinstance(data.provenance, dict) else {}
    return {
        "name": experiment.name,
        "experiment": experiment.to_dict(),
        "scaler": prep.scaler.to_dict(),
        "injection": {"marks": experiment.injection.marks,
                      "occlusion": experiment.injection.occlusion,
                      "mark_value": experiment.injection.mark_value,
                      "layout": experiment.injection.layout},
        # positions too: a custom montage's file is never read back from a card
        "montage": {"name": op.montage.name, "ch_names": list(op.montage.ch_names),
                    "pos": [[float(v) for v in p] for p in op.montage.pos]},
        "operator": {"size": op.size, "method": op.method},
        "data": {**prov, "n_frames": int(data.n_frames), "sfreq": float(data.sfreq)},
        "split": {"by": experiment.data.split_by, "fractions": list(experiment.data.fractions),
                  "seed": experiment.data.split_seed, "max_frames": experiment.data.max_frames,
                  "sizes": {"train": len(prep.split.train), "val": len(prep.split.val),
                            "test": len(prep.split.test)}},
        "loss": {"mask": experiment.training.loss_mask, "beta": experiment.training.beta},
        "command": command,
    }
