"""The resumable training state: what ``train_state.safetensors`` holds and how a run
continues from it (same settings, same frames per step, any number of processes).

The state stores the unwrapped model's weights (never DDP's ``module.`` names), the
optimizer's tensors and scalars, the scheduler, the epoch and the best epoch's copy, so
one process or many resume it alike.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from eegmi.errors import CheckpointError, ConfigError
from eegmi.limits import MAX_EPOCHS, one_line
from eegmi.models.hooks import HookedModel
from eegmi.models.vae import ConfiguredModel
from eegmi.training.checkpoint import STATE, load_state_into, load_train_state
from eegmi.training.experiments import ExperimentConfig

if TYPE_CHECKING:
    from eegmi.training.distributed import Ranks


def optim_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimizer's state as ``optim.{param}.{key}`` tensors plus JSON scalars."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optim(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                  saved: dict) -> None:
    """Put :func:`optim_tensors`' output back into ``opt``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in saved["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def resume_state(out: Path, experiment: ExperimentConfig, model: HookedModel,
                 opt: torch.optim.Optimizer, sched: Any, world: int = 1
                 ) -> tuple[int, dict[str, torch.Tensor], dict[str, Any]]:
    """Load the saved training state into ``model``/``opt``/``sched``.

    ``world`` processes now share each step; the saved run's steps must have had as
    many frames (``world_size x batch_size``, a state without ``world_size`` is one
    process's), however many processes drew them.
    Returns its epoch and the raw tensors and scalars (the best-epoch copy lives there).
    """
    tensors, state = load_train_state(out)
    try:
        check_global_batch(state, experiment, world, out / STATE)
        if comparable(state["experiment"]) != comparable(experiment.to_dict()):
            raise ConfigError("resume with different settings than the saved run", out / STATE)
        load_state_into(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                        out / STATE)
        restore_optim(opt, tensors, state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if experiment.training.lr != state["experiment"]["training"]["lr"]:
            for group in opt.param_groups:  # an explicit new lr replaces the schedule's
                group["lr"] = experiment.training.lr
        start = state["epoch"]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(f"training state is incomplete or foreign ({one_line(exc)})",
                              out / STATE) from None
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start <= MAX_EPOCHS:
        raise CheckpointError(f"training state epoch {str(start)[:40]!r} is not an epoch",
                              out / STATE)
    return start, tensors, state


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    """An experiment's settings as a resume compares them (see :func:`resume_state`)."""
    d = ExperimentConfig.from_dict(copy.deepcopy(d)).to_dict()  # settings added later: defaults
    # a resumed run may extend the epoch count or continue at a new learning rate
    d["training"].pop("epochs", None)
    d["training"].pop("lr", None)
    # the frames per step are compared by check_global_batch (per process x processes)
    d["training"].pop("batch_size", None)
    return d


def check_global_batch(state: dict[str, Any], experiment: ExperimentConfig, world: int,
                        path: Path) -> None:
    """Refuse a resume whose steps would take another number of frames than the saved
    run's (``batch_size`` is per process; the saved ``world_size`` defaults to 1)."""
    saved_world = state.get("world_size", 1)
    if not isinstance(saved_world, int) or isinstance(saved_world, bool) or saved_world < 1:
        raise CheckpointError(f"training state world size {str(saved_world)[:40]!r} is not a "
                              "process count", path)
    saved_batch = int(ExperimentConfig.from_dict(copy.deepcopy(state["experiment"]))
                      .training.batch_size)
    now = experiment.training.batch_size
    if saved_batch * saved_world == now * world:
        return
    hint = (f"; pass --batch-size {saved_batch * saved_world // world}"
            if (saved_batch * saved_world) % world == 0 else "")
    raise ConfigError(f"resume with different settings than the saved run: it took "
                      f"{saved_batch * saved_world} frames per step ({saved_world} process(es) "
                      f"x batch size {saved_batch}), this run would take {now * world} "
                      f"({world} x {now}){hint}", path)


class Best:
    """The epoch with the lowest validation loss so far and a copy of its weights."""

    def __init__(self) -> None:
        self.epoch = 0
        self.val_loss = float("inf")
        self.model: ConfiguredModel | None = None

    def update(self, model: ConfiguredModel, epoch: int, val_loss: float) -> bool:
        if self.model is not None and not val_loss < self.val_loss:
            return False
        self.epoch, self.val_loss = epoch, float(val_loss)
        if self.model is None:
            self.model = copy.deepcopy(model)
        else:
            self.model.load_state_dict(model.state_dict())
        self.model.eval()
        return True

    @classmethod
    def restore(cls, model: ConfiguredModel, tensors: dict[str, torch.Tensor], state: dict,
                history: list[dict[str, Any]], path: Path) -> Best:
        best = cls()
        saved = state.get("best")
        best_tensors = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        best.model = copy.deepcopy(model)
        if saved and best_tensors:
            load_state_into(best.model, best_tensors, path)
            best.epoch, best.val_loss = int(saved["epoch"]), float(saved["val_loss"])
        else:  # a state written before best tracking: its last epoch is all there is
            best.epoch = int(state["epoch"])
            best.val_loss = float(history[-1]["val_loss"]) if history else float("inf")
        best.model.eval()
        return best


def train_state(model: HookedModel, opt: torch.optim.Optimizer, sched: Any,
                experiment: ExperimentConfig, epoch: int, best: Best,
                ranks: Ranks | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The resumable state: ``model`` unwrapped (never DDP's ``module.`` names), so any
    number of processes resumes it; ``world_size`` is recorded for a run across processes
    (a state without it is one process's)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best.model is not None:
        tensors.update({f"best.{k}": v for k, v in best.model.state_dict().items()})
    opt_tensors, opt_scalars = optim_tensors(opt)
    tensors.update(opt_tensors)
    scalars = {"epoch": epoch, "experiment": experiment.to_dict(),
               "optimizer": opt_scalars, "scheduler": sched.state_dict(),
               "best": {"epoch": best.epoch, "val_loss": best.val_loss}}
    if ranks is not None:
        scalars["world_size"] = ranks.world
    return tensors, scalars
