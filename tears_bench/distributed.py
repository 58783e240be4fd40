"""Several training processes under `torchrun`: the process group, who writes, and the sums over ranks.

`torchrun --nproc_per_node N -m tears_bench train|run ...` starts N copies of the command, each with
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment. `setup(device)` (the CLI
calls it) joins them into one process group: NCCL with one GPU per process (cuda:LOCAL_RANK) when the
device is CUDA, gloo on the CPU. With WORLD_SIZE unset or 1 nothing is set up and every function here
is a no-op that returns what one process would: single-process runs are unchanged.

What the group is for (docs/distributed.md):
- training (models.trainer.fit): each rank computes the gradient of its share of every global batch;
  `sum_gradients` adds them up, so every rank applies the single-process update;
- metrics: per-user values are gathered as sums and counts over ranks (`nanmeans`), never as a mean of
  per-rank means, which would weigh a rank's users by how few of them it holds;
- files: rank 0 alone writes caches, checkpoints and results; `main_first()` makes the other ranks
  wait until rank 0 has written what they then read.

Waiting for rank 0 (an LLM summarizing a dataset, the benchmark's tasks) can take hours, far beyond
a collective's usual timeout, so those waits go through a gloo group of their own with a long one.

torch is imported inside the functions: importing this module stays cheap (device.py uses it).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

from tears_bench.errors import TearsBenchError

if TYPE_CHECKING:
    import numpy as np
    import torch

# How long the other ranks wait for a rank-0-only stage (LLM summaries of a whole dataset included).
WAIT_TIMEOUT = timedelta(hours=24)
# Gradients go over the wire in buckets of about this many bytes (DDP's default bucket size).
BUCKET_BYTES = 25 * 2 ** 20
DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass
class _Group:
    rank: int
    world: int
    device: "torch.device"
    backend: str
    waits: object  # the gloo group of `barrier`, with WAIT_TIMEOUT


_GROUP: _Group | None = None
T = TypeVar("T")


def launched() -> bool:
    """Whether this process is one of several started by torchrun (WORLD_SIZE > 1)."""
    return _env_int("WORLD_SIZE", 1) > 1


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise TearsBenchError(f"WORLD_SIZE is set but {name} is not: start the processes with torchrun")
        return default
    try:
        return int(value)
    except ValueError:
        raise TearsBenchError(f"environment variable {name}={value!r} is not a whole number") from None


def setup(device: str = "auto") -> "torch.device | None":
    """Join the process group torchrun describes (once); this rank's device, or None for one process.

    device: auto | cpu | cuda (each rank then uses cuda:LOCAL_RANK); cuda:N is refused, since N
    processes on one GPU would fight over it."""
    global _GROUP
    if _GROUP is not None or not launched():
        return None if _GROUP is None else _GROUP.device
    import torch
    import torch.distributed as dist

    if str(device) not in DEVICE_CHOICES:
        raise TearsBenchError(f"--device {device} under torchrun: use auto, cpu or cuda "
                              "(each process takes the GPU of its LOCAL_RANK)")
    rank, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise TearsBenchError(f"WORLD_SIZE is set but {name} is not: start the processes with torchrun")
    cuda = str(device) == "cuda" or (str(device) == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise TearsBenchError("--device cuda: CUDA is not available on this machine")
        if local >= torch.cuda.device_count():
            raise TearsBenchError(f"LOCAL_RANK {local} has no GPU: this node has {torch.cuda.device_count()}; "
                                  "start at most that many processes per node (--nproc_per_node)")
        where = torch.device("cuda", local)
        torch.cuda.set_device(where)
    else:
        where = torch.device("cpu")
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world)
    waits = dist.new_group(backend="gloo", timeout=WAIT_TIMEOUT)
    _GROUP = _Group(rank, world, where, backend, waits)
    return where


def teardown() -> None:
    """Leave the process group (after the last collective of this process)."""
    global _GROUP
    if _GROUP is None:
        return
    import torch.distributed as dist

    _GROUP = None
    dist.destroy_process_group()


@contextmanager
def session(device: str = "auto") -> Iterator["torch.device | None"]:
    """`setup` on entry, `teardown` on exit (also after an error)."""
    owned = _GROUP is None
    try:
        yield setup(device)
    finally:
        if owned:
            teardown()


def active() -> bool:
    return _GROUP is not None


def check_joined() -> None:
    """Refuse to train in a process torchrun started that has not joined the group: it would train
    alone and write the same cache files as its siblings at the same time."""
    if _GROUP is None and launched():
        raise TearsBenchError("this process was started by torchrun (WORLD_SIZE > 1) but has not joined its "
                              "process group: call tears_bench.distributed.setup(device) first (the CLI does)")


def rank() -> int:
    return 0 if _GROUP is None else _GROUP.rank


def world_size() -> int:
    return 1 if _GROUP is None else _GROUP.world


def is_main() -> bool:
    """Rank 0, the one process that writes files and prints (also True for a single process)."""
    return rank() == 0


def rank_device() -> "torch.device | None":
    """This rank's device (cuda:LOCAL_RANK or cpu), None for a single process."""
    return None if _GROUP is None else _GROUP.device


# ---------------------------------------------------------------------------------------------
# Waiting for rank 0


def barrier() -> None:
    """Every rank waits here until all have arrived (up to WAIT_TIMEOUT)."""
    if _GROUP is not None:
        import torch.distributed as dist

        dist.barrier(group=_GROUP.waits)


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (computing and writing what is missing); the others run it after
    rank 0 finished, so that they read what it wrote instead of writing it again. When rank 0 fails
    the others are left waiting: torchrun stops them when rank 0 exits with an error."""
    if _GROUP is not None and _GROUP.rank != 0:
        barrier()
    yield
    if _GROUP is not None and _GROUP.rank == 0:
        barrier()


def from_main_object(make: Callable[[], T]) -> T:
    """make() run by rank 0 alone and its result sent to every rank (pickled): for what must be the
    same on every rank and must not be made twice (summaries an LLM writes)."""
    if _GROUP is None:
        return make()
    import torch.distributed as dist

    box = [make() if _GROUP.rank == 0 else None]
    dist.broadcast_object_list(box, src=0, group=_GROUP.waits)
    return box[0]


# ---------------------------------------------------------------------------------------------
# Sums over ranks


def _all_reduce(values: "torch.Tensor", op: str = "sum") -> "torch.Tensor":
    import torch.distributed as dist

    moved = values.to(_GROUP.device)
    dist.all_reduce(moved, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
    return moved.to(values.device)


def sum_over_ranks(values: Iterable[float]) -> "np.ndarray":
    """The element-wise sum over ranks of a vector of numbers (float64), the same on every rank."""
    import numpy as np
    import torch

    array = np.asarray(list(values), dtype=np.float64)
    if _GROUP is None:
        return array
    return _all_reduce(torch.from_numpy(array)).numpy()


def nanmeans(per_user: dict[str, "np.ndarray"]) -> dict[str, float]:
    """{name: mean over every rank's users} of per-user values (NaN: a user without targets, left
    out), from the sums and counts of all ranks in one all-reduce. For one process this is
    np.nanmean of each array, the computation it replaces."""
    import numpy as np

    if _GROUP is None:
        return {name: float(np.nanmean(values)) if len(values) else float("nan") for name, values in per_user.items()}
    arrays = [np.asarray(values, dtype=np.float64) for values in per_user.values()]
    sums = [float(np.nansum(a)) for a in arrays]
    counts = [float(np.count_nonzero(~np.isnan(a))) for a in arrays]
    totals = sum_over_ranks(sums + counts)
    n = len(arrays)
    return {name: float(totals[i] / totals[n + i]) if totals[n + i] else float("nan")
            for i, name in enumerate(per_user)}


def agree(value: float, what: str) -> None:
    """Raise on every rank when the ranks hold different values of `what` (a decision they must
    share, such as whether a cached model exists or whether training stops): better one clear error
    than ranks that go separate ways and wait for each other forever."""
    if _GROUP is None:
        return
    import torch

    both = _all_reduce(torch.tensor([float(value), -float(value)], dtype=torch.float64), "max")
    if both[0].item() != -both[1].item():
        raise TearsBenchError(f"the {_GROUP.world} processes disagree on {what} (rank {_GROUP.rank}: {value}); "
                              "do they share one TEARS_BENCH_HOME?")


def from_main(value: float) -> float:
    """Rank 0's value of a number every rank computed (a decision taken from it is then the same
    on every rank, to the last bit)."""
    if _GROUP is None:
        return value
    import torch

    return float(broadcast_tensors([torch.tensor([float(value)], dtype=torch.float64)])[0].item())


# ---------------------------------------------------------------------------------------------
# Shares of a batch, gradients and parameters


def share_bounds(n: int, rank_: int | None = None, world: int | None = None) -> tuple[int, int]:
    """[start, stop) of a rank's contiguous share of n items: the first n % world ranks hold one more."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    base, extra = divmod(n, world)
    start = rank_ * base + min(rank_, extra)
    return start, start + base + (1 if rank_ < extra else 0)


def my_rows(n: int) -> "np.ndarray":
    """The positions (of n users) this rank evaluates: all of them for a single process."""
    import numpy as np

    start, stop = share_bounds(n)
    return np.arange(start, stop)


def sum_gradients(params: Iterable["torch.nn.Parameter"]) -> None:
    """Replace each gradient by its sum over ranks (in buckets, as DDP does). Every rank must hold a
    gradient for the same parameters; a parameter without one on every rank is left without one (an
    optimizer then skips it, as it does in one process)."""
    if _GROUP is None:
        return
    import torch

    params = list(params)
    have = _all_reduce(torch.tensor([float(p.grad is not None) for p in params], dtype=torch.float64))
    if ((have != 0) & (have != _GROUP.world)).any():
        raise TearsBenchError("the processes computed gradients for different parameters")
    grads = [p.grad for p in params if p.grad is not None]
    for bucket in _buckets(grads):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        flat = _all_reduce(flat)
        for g, part in zip(bucket, flat.split([g.numel() for g in bucket])):
            g.copy_(part.view_as(g))


def _buckets(tensors: list["torch.Tensor"]) -> Iterator[list["torch.Tensor"]]:
    bucket, size = [], 0
    for t in tensors:
        if bucket and (size + t.numel() * t.element_size() > BUCKET_BYTES or t.dtype != bucket[0].dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel() * t.element_size()
    if bucket:
        yield bucket


def broadcast_tensors(tensors: Iterable["torch.Tensor"]) -> list["torch.Tensor"]:
    """Overwrite each tensor in place with rank 0's (every rank starts training from rank 0's
    weights); returns them."""
    tensors = list(tensors)
    if _GROUP is None:
        return tensors
    import torch.distributed as dist

    for t in tensors:
        moved = t.data.to(_GROUP.device)
        dist.broadcast(moved, src=0)
        t.data.copy_(moved)
    return tensors
