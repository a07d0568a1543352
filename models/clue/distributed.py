"""Running `clue train`, `clue pretrain` and `clue eval` under `torchrun` (PyTorch's own
distributed runtime), with the same commands and configs as a single process.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for every process it
starts; `session` reads them and joins the process group (`nccl` when the run is on CUDA,
`gloo` on the CPU). Without them (a plain `clue train`) nothing is initialised and every
helper here is the identity: a single-process run takes exactly the code path it always did.

The rules every command follows (docs/scaling.md):
- the *global* batch size is the config's; each rank takes `batch_size / world_size` of every
  global batch, cut from the same seeded, epoch-dependent order a single process uses;
- only rank 0 writes files (always temp file + os.replace), so a killed job leaves the last
  complete checkpoint and nothing half-written under a final name;
- metrics are computed once, on rank 0, from every rank's gathered predictions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from clue.errors import UserFacingError

T = TypeVar("T")

# The variables torchrun (and `srun torchrun`) sets for every worker.
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Runtime:
    """Where this process stands in the job; a single process is rank 0 of 1, no backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    # Object collectives (gathering predictions) go through gloo even when the tensors go
    # through NCCL: NCCL moves only CUDA tensors, and pickled predictions belong on the CPU.
    object_group: Any = None

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.world_size} process(es), backend {self.backend}" if self.distributed else "1 process"


SINGLE = Runtime()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def _device_for_rank(device: torch.device, local_rank: int) -> torch.device:
    """Under torchrun each process on a node drives its own GPU: `cuda` (or `auto` → cuda)
    becomes cuda:LOCAL_RANK. An explicit index is kept (the user chose it)."""
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@contextmanager
def session(device: torch.device) -> Iterator[tuple[Runtime, torch.device]]:
    """Join the torchrun job this process belongs to, if any, for the duration of a command;
    yields the runtime and the device this rank uses. Leaves an existing process group alone
    (a caller that set one up keeps it) and tears down only what it created."""
    if not launched_by_torchrun():
        yield SINGLE, device
        return
    local_rank = int(os.environ["LOCAL_RANK"])
    device = _device_for_rank(device, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    else:
        backend = str(dist.get_backend())
    object_group = dist.new_group(backend="gloo") if backend != "gloo" else None
    runtime = Runtime(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        backend=backend,
        object_group=object_group,
    )
    try:
        yield runtime, device
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def per_rank_batch(global_batch: int, runtime: Runtime, what: str = "batch_size") -> int:
    """The global batch is the config's; refuse one that the world size does not divide (an
    uneven split would change what one optimizer step sees compared with one process)."""
    if global_batch % runtime.world_size != 0:
        raise UserFacingError(
            f"{what} = {global_batch} does not divide among {runtime.world_size} processes; the config's "
            f"batch size is the global one (each process takes {what} / world size): choose a multiple of "
            f"{runtime.world_size} or run with a world size that divides {global_batch}"
        )
    return global_batch // runtime.world_size


def split_even(items: Sequence[T], parts: int) -> list[list[T]]:
    """`items` cut into `parts` contiguous pieces whose sizes differ by at most one (first
    pieces larger), the way a short last batch is shared among ranks."""
    size, extra = divmod(len(items), parts)
    pieces, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        pieces.append(list(items[start:end]))
        start = end
    return pieces


def all_reduce_sum(values: list[float], runtime: Runtime, device: torch.device) -> list[float]:
    """Element-wise sum over ranks (float64, so logged means do not lose digits)."""
    if not runtime.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def gather_to_main(value: T, runtime: Runtime) -> list[T] | None:
    """Every rank's `value` (picklable), in rank order, on rank 0; None on the others."""
    if not runtime.distributed:
        return [value]
    gathered: list[Any] | None = [None] * runtime.world_size if runtime.is_main else None
    dist.gather_object(value, gathered, dst=0, group=runtime.object_group)
    return gathered


def broadcast_from_main(value: T, runtime: Runtime) -> T:
    """Rank 0's `value` on every rank (what rank 0 decided: a threshold, the metrics rows)."""
    if not runtime.distributed:
        return value
    box: list[Any] = [value if runtime.is_main else None]
    dist.broadcast_object_list(box, src=0, group=runtime.object_group)
    return box[0]  # type: ignore[no-any-return]


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier(group=runtime.object_group)


class TrainableShell(torch.nn.Module):
    """What DDP wraps: a module whose registered parameters are *only* the trainable ones
    (`model.trainable_modules()`), whose forward is the whole model's. The frozen backbone is
    reached through a plain attribute, so DDP neither broadcasts it at start nor all-reduces
    anything of it; gradients flow to the shared Parameter objects as in the model itself."""

    def __init__(self, model: torch.nn.Module, trainable: dict[str, torch.nn.Module]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleDict(trainable)
        object.__setattr__(self, "_whole", model)  # not a submodule: invisible to DDP

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._whole(*args, **kwargs)  # type: ignore[operator]


def data_parallel(module: torch.nn.Module, runtime: Runtime, device: torch.device) -> torch.nn.Module:
    """DDP over `module` (gradients averaged over ranks in backward); the module itself when
    single-process. Buffers are synced once at start, not before every forward: the
    trainable parts hold only constants (token embeddings) that nothing changes."""
    if not runtime.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, forward_sync_buffers=False)


__all__ = [
    "Runtime",
    "SINGLE",
    "TrainableShell",
    "all_reduce_sum",
    "barrier",
    "broadcast_from_main",
    "data_parallel",
    "gather_to_main",
    "launched_by_torchrun",
    "per_rank_batch",
    "session",
    "split_even",
]
