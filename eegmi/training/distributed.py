"""Training across processes: ``torchrun --nproc-per-node N -m eegmi train ...``.

One process per rank; :func:`process_group` reads torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``), puts rank ``r`` on ``cuda:LOCAL_RANK`` (NCCL) or on
the CPU (gloo) and hands the loop a :class:`Ranks`.  Without torchrun none of this
runs: no process group, no DDP wrapper, the loop as it always was.

Batches.  ``--batch-size`` is **per process**: one optimiser step consumes
``world x batch_size`` frames (the global batch).  Every rank draws the same
permutation of the training split from ``(seed, epoch)`` (exactly the order a single
process draws), cuts it into global batches and takes every ``world``-th frame of each
(:class:`ShardedBatches`), so the frames of a step are the frames a single process
with ``--batch-size world x B`` would use in that step, whatever the world size.
Nothing is dropped or repeated: the last global batch may be short and is shared
as evenly as it goes, each rank's loss is weighted by its share (``Share.scale``) so
the averaged gradient is the gradient of the global batch's mean loss, and a rank
with no frame left in it runs one frame with weight 0 so every rank takes the same
number of steps (DDP needs every rank in every gradient exchange).  Validation and
test splits are cut into ``world`` contiguous parts, evaluated apart and summed
(:meth:`Ranks.reduce_means`), so the logged figures are those of the whole split.

Randomness.  Rank 0 seeds torch's generator with the epoch seed a single process
uses; other ranks derive theirs from it and their rank (their reparameterisation
noise and dropout must not repeat rank 0's).  For a model without sampling or dropout
(the decoder-only E1, or a VAE at evaluation) a run on ``W`` ranks with batch ``B``
is therefore the single-process run with batch ``W x B`` up to float summation
order; no model has batch statistics (no BatchNorm), so sharding changes nothing else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from eegmi.errors import ConfigError
from eegmi.limits import one_line

#: torchrun's variables that make a process one rank of a run.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process is a rank started by torchrun (its three variables are set)."""
    env = os.environ if env is None else env
    return all(env.get(k, "").strip() for k in TORCHRUN_ENV)


def _env_int(env: Mapping[str, str], key: str, lo: int) -> int:
    text = env.get(key, "").strip()
    try:
        value = int(text)
    except ValueError:
        value = lo - 1
    if value < lo:
        raise ConfigError(f"${key} is {text!r}, not a whole number >= {lo} (set by torchrun)")
    return value


def rank_device(requested: str | None, local_rank: int) -> torch.device:
    """The device of the rank with ``local_rank``: ``cuda:LOCAL_RANK`` when CUDA is present
    (or asked for with ``--device cuda``), the CPU with ``--device cpu`` or without CUDA.

    Raises
    ------
    ConfigError
        A device index (each rank's GPU is its local rank), a device that is neither CPU
        nor CUDA, CUDA asked for but absent, or fewer GPUs than local ranks.
    """
    spec = "auto" if requested is None else str(requested).strip().lower()
    if spec == "cpu":
        return torch.device("cpu")
    if spec not in ("auto", "cuda"):
        raise ConfigError(f"--device {requested}: with torchrun each process uses "
                          "cuda:LOCAL_RANK; pass --device cuda or cpu (CUDA_VISIBLE_DEVICES "
                          "chooses the GPUs)")
    if not torch.cuda.is_available():
        if spec == "cuda":
            raise ConfigError("device 'cuda' requested but CUDA is not available")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(f"LOCAL_RANK {local_rank} needs GPU {local_rank} but {count} "
                          f"GPU(s) are visible: start at most {count} processes per node")
    return torch.device("cuda", local_rank)


@dataclass
class Share:
    """This rank's part of one global batch.

    Attributes
    ----------
    batch
        The rendered frames (:class:`eegmi.data.dataset.Batch`, ``(b, ...)``).
    n
        Frames counted in the loss sums: ``b``, or 0 for a padding frame.
    scale
        Loss multiplier ``n * world / global frames``: DDP averages the ranks' gradients,
        so the step follows the mean loss of the whole global batch.
    """

    batch: Any
    n: int
    scale: float


class ShardedBatches:
    """This rank's share of every global batch of an epoch (see the module docstring).

    Parameters
    ----------
    batches
        A :class:`eegmi.data.dataset.TopomapBatches` over the whole split with the
        per-rank ``batch_size``, its ``shuffle`` and ``seed``: it renders this rank's
        frames; the order is the one it would draw itself.
    rank, world
        This process's rank and the number of ranks.
    """

    def __init__(self, batches: Any, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, int(rank), int(world)
        self.global_size = batches.batch_size * self.world
        self.epoch = 0

    @property
    def indices(self) -> np.ndarray:
        return np.asarray(self.batches.indices)

    def __len__(self) -> int:
        return -(-len(self.batches.indices) // self.global_size)

    def order(self) -> np.ndarray:
        """``(M,)`` this pass's frame order, the same on every rank (TopomapBatches')."""
        order = np.asarray(self.batches.indices, dtype=np.int64)
        if self.batches.shuffle:
            rng = np.random.default_rng([self.batches.seed, self.epoch])
            order = order[rng.permutation(len(order))]
        return order

    def shares(self) -> Iterator[tuple[np.ndarray, int, float]]:
        """``(frames, n, scale)`` of each step, without rendering (see :class:`Share`)."""
        order = self.order()
        self.epoch += 1
        for k in range(len(self)):
            step = order[k * self.global_size:(k + 1) * self.global_size]
            mine = step[self.rank::self.world]
            n = len(mine)
            if n == 0:  # the last step has fewer frames than ranks: take part, weigh nothing
                mine = step[:1]
            yield mine, n, n * self.world / len(step)

    def __iter__(self) -> Iterator[Share]:
        for frames, n, scale in self.shares():
            yield Share(self.batches.make_batch(frames), n, scale)


@dataclass
class Ranks:
    """This process's place in a run across processes.

    Attributes
    ----------
    rank, world
        Global rank and number of ranks; rank 0 writes the run folder.
    local_rank, local_world
        Rank and number of ranks on this machine.
    device
        ``cuda:LOCAL_RANK`` or the CPU.
    backend
        ``"nccl"`` or ``"gloo"``.
    """

    rank: int
    world: int
    local_rank: int
    local_world: int
    device: torch.device
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index or 0])
        else:
            dist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (float64; the same result on every rank)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.cpu().tolist()]

    def reduce_means(self, res: Mapping[str, float]) -> dict[str, float]:
        """Per-split means from each rank's means over its part (``res["n"]`` frames):
        the means over all parts, as one process evaluating the whole split reports."""
        n = int(res["n"])
        keys = sorted(k for k in res if k != "n")
        sums = self.all_sum([float(res[k]) * n if n else 0.0 for k in keys] + [float(n)])
        total = sums[-1]
        out = {k: (s / total if total else float("nan")) for k, s in zip(keys, sums, strict=False)}
        return {**out, "n": int(total)}

    def part(self, indices: np.ndarray) -> np.ndarray:
        """This rank's contiguous part of an evaluation split (empty when the split is
        smaller than the world)."""
        return np.array_split(np.asarray(indices, dtype=np.int64), self.world)[self.rank]

    def seed(self, epoch_seed: int) -> int:
        """Torch's seed for this rank's epoch: rank 0 keeps the single-process seed."""
        if self.rank == 0:
            return int(epoch_seed)
        return int((epoch_seed + self.rank * 0x9E3779B97F4A7C15) % (1 << 63))

    def wrap(self, model: torch.nn.Module) -> DistributedDataParallel:
        """The model in DDP (its gradients averaged over the ranks in ``backward``)."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def describe(self, batch_size: int) -> str:
        """One line for the log: processes, backend, device and the batch semantics."""
        where = "cuda:LOCAL_RANK" if self.device.type == "cuda" else "cpu"
        return (f"training on {self.world} processes ({self.backend}, {where}): batch size "
                f"{batch_size} per process, {batch_size * self.world} frames per step")

    def first_failure(self) -> bool:
        """True for the first rank to call this in the run: the one that reports an error
        (a rank failing because a peer died stays quiet)."""
        try:
            store = dist.distributed_c10d._get_default_store()
            return int(store.add("eegmi/failures", 1)) == 1
        except Exception:  # noqa: BLE001 - no store left: better a line too many than none
            return True


def ranks_from_env(device: str | None, env: Mapping[str, str] | None = None) -> Ranks:
    """This process's :class:`Ranks` from torchrun's variables and ``--device``.

    Every check here gives the same answer on every rank (so one rank may report it).

    Raises
    ------
    ConfigError
        Malformed torchrun variables or an unusable device (see :func:`rank_device`).
    """
    env = os.environ if env is None else env
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local_rank = _env_int(env, "LOCAL_RANK", 0)
    local_world = _env_int(env, "LOCAL_WORLD_SIZE", 1) if env.get("LOCAL_WORLD_SIZE") else world
    if rank >= world or local_rank >= local_world:
        raise ConfigError(f"rank {rank} (local {local_rank}) does not fit a world of {world} "
                          f"({local_world} on this node)")
    # the node's last rank decides whether the GPUs suffice, so every rank agrees
    rank_device(device, local_world - 1)
    dev = rank_device(device, local_rank)
    return Ranks(rank, world, local_rank, local_world, dev,
                 "nccl" if dev.type == "cuda" else "gloo")


@contextmanager
def process_group(ranks: Ranks) -> Iterator[Ranks]:
    """Join the run torchrun started (``MASTER_ADDR``/``MASTER_PORT`` from the
    environment); leave the process group on the way out, error or not.

    Raises
    ------
    ConfigError
        The group cannot form.
    """
    if ranks.device.type == "cuda":
        torch.cuda.set_device(ranks.device)
    try:
        dist.init_process_group(ranks.backend, rank=ranks.rank, world_size=ranks.world,
                                device_id=ranks.device if ranks.device.type == "cuda" else None)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot join the {ranks.world}-process run ({one_line(exc)})") \
            from None
    try:
        yield ranks
    finally:
        # an error here must not hide the one that brought us here
        try:
            dist.destroy_process_group()
        except Exception as exc:  # noqa: BLE001
            sys.stderr.write(f"eegmi: warning: leaving the process group: {one_line(exc)}\n")


def threads_per_rank(cores: int, local_world: int) -> int:
    """CPU threads for each of ``local_world`` ranks sharing ``cores``: at least one."""
    return max(1, cores // max(1, local_world))
