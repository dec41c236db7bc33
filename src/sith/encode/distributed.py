"""Many processes, one result: torch.distributed under ``torchrun`` (issue 10).

``torchrun --nproc_per_node N [--nnodes M ...] -m sith image-mean ...`` starts N×M copies
of the command with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set. :func:`distributed` joins
them into one process group (``gloo`` on CPU, ``nccl`` on CUDA, one GPU per local rank)
and yields a :class:`DistContext`; without torchrun it yields a single-process context
and touches nothing, so every command behaves as before.

Collectives must be called by every rank the same number of times. Each phase of a job
therefore ends with :func:`agree`: every rank reports its own user error (or none) and,
if any rank failed, all raise the same one-line :class:`SithError` instead of leaving
the others waiting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from sith.errors import ConfigError, SithError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job.

    Attributes:
        rank: global rank (0 writes the files).
        world_size: number of processes.
        device: this process's torch device (``cuda:LOCAL_RANK`` under torchrun on CUDA).
        backend: ``"gloo"``, ``"nccl"`` or ``None`` (single process).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        """Where collective buffers live (CUDA for nccl, CPU for gloo)."""
        return self.device if self.backend == "nccl" else torch.device("cpu")


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        value = os.environ["WORLD_SIZE"]
        raise SithError(f"WORLD_SIZE={value!r} is not an integer; fix the launcher") from None


def _local_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        raise ConfigError("device", "{name} cuda but CUDA is not available here; pass {name}=cpu")
    if dev.index is None:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        dev = torch.device("cuda", local % torch.cuda.device_count())
    torch.cuda.set_device(dev)
    return dev


def _attempt_store(world: int) -> dist.Store | None:
    """A store for this restart attempt of a torchrun job (``None``: let torch make one).

    After a rank dies, ``torchrun --max-restarts`` restarts every rank against the agent's
    store, which still holds the previous attempt's keys; a rank can then read a dead
    peer's address and fail to connect. Keys under ``sith/attempt_{n}`` are this attempt's only.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        return None
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    rank = int(os.environ.get("RANK", "0"))
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=not agent and rank == 0, timeout=timedelta(minutes=10))
    return dist.PrefixStore(f"sith/attempt_{attempt}", store)


@contextmanager
def distributed(device: str | torch.device = "cpu") -> Iterator[DistContext]:
    """Join the torchrun job (if any) for the duration of the block.

    A process group that already exists (the caller made it) is used and left open.
    """
    world = launched_world_size()
    if world <= 1 or not dist.is_available():
        yield DistContext(device=torch.device(device))
        return
    dev = _local_device(device)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    owned = not dist.is_initialized()
    if owned:
        store = _attempt_store(world)
        if store is None:
            dist.init_process_group(backend=backend)
        else:
            dist.init_process_group(backend=backend, store=store, rank=int(os.environ["RANK"]),
                                    world_size=world)
    try:
        yield DistContext(dist.get_rank(), dist.get_world_size(), dev, dist.get_backend())
    finally:
        if owned:
            dist.destroy_process_group()


def agree(ctx: DistContext, error: str | None) -> None:
    """Raise one SithError on every rank if any rank reports ``error`` (a message)."""
    if not ctx.active:
        if error:
            raise SithError(error)
        return
    errors: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(errors, error)
    for rank, message in enumerate(errors):
        if message:
            prefix = "" if rank == ctx.rank or ctx.world_size == 1 else f"rank {rank}: "
            raise SithError(prefix + message)


def checked(ctx: DistContext, step: Callable[[], T]) -> T:
    """Run ``step`` on this rank; if any rank raises SithError, all raise it (see :func:`agree`)."""
    try:
        result, error = step(), None
    except SithError as exc:
        result, error = None, str(exc)
    agree(ctx, error)
    return result  # type: ignore[return-value]


def all_reduce_sum(ctx: DistContext, tensor: Tensor) -> Tensor:
    """The elementwise sum of ``tensor`` over ranks (a new CPU tensor; the input when alone)."""
    if not ctx.active:
        return tensor
    buf = tensor.to(ctx.comm_device).clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.cpu()


def all_reduce_max(ctx: DistContext, value: int) -> int:
    """The largest ``value`` over ranks."""
    if not ctx.active:
        return value
    buf = torch.tensor([value], dtype=torch.int64, device=ctx.comm_device)
    dist.all_reduce(buf, op=dist.ReduceOp.MAX)
    return int(buf.item())


def all_gather_rows(ctx: DistContext, rows: Tensor) -> Tensor:
    """Concatenate every rank's ``(n_r, e)`` rows in rank order (ranks may differ in ``n_r``)."""
    if not ctx.active:
        return rows
    sizes: list[int] = [0] * ctx.world_size
    dist.all_gather_object(sizes, int(rows.shape[0]))
    width = int(rows.shape[1])
    padded = torch.zeros(max(sizes), width, dtype=rows.dtype, device=ctx.comm_device)
    padded[: rows.shape[0]] = rows.to(ctx.comm_device)
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n].cpu() for p, n in zip(parts, sizes)])


def gather_objects(ctx: DistContext, obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order (``[obj]`` alone)."""
    if not ctx.active:
        return [obj]
    out: list[T] = [obj] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(ctx: DistContext, obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.active:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, device=ctx.comm_device if ctx.backend == "nccl" else None)
    return box[0]  # type: ignore[return-value]


def broadcast_rows(ctx: DistContext, rows: Tensor | None) -> Tensor:
    """Rank 0's ``(n, e)`` float32 ``rows`` on every rank (``rows`` is ignored elsewhere)."""
    if not ctx.active:
        assert rows is not None
        return rows
    shape = broadcast_object(ctx, tuple(rows.shape) if ctx.is_main and rows is not None else None)
    buf = rows.float().to(ctx.comm_device) if ctx.is_main and rows is not None else torch.empty(
        shape, dtype=torch.float32, device=ctx.comm_device)
    dist.broadcast(buf, src=0)
    return buf.cpu()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def shard_slice(n: int, ctx: DistContext) -> tuple[int, int]:
    """Rank ``r``'s contiguous slice ``[lo, hi)`` of ``n`` items (sizes differ by at most 1)."""
    lo = n * ctx.rank // ctx.world_size
    hi = n * (ctx.rank + 1) // ctx.world_size
    return lo, hi
