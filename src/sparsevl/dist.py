"""One distributed interface over torch.distributed and Horovod, chosen from the launcher's environment.

- `torchrun --nproc_per_node N -m sparsevl train ...` sets RANK / WORLD_SIZE / LOCAL_RANK:
  torch.distributed with NCCL on GPUs, Gloo on the CPU.
- `horovodrun -np N sparsevl train ...` sets HOROVOD_RANK / HOROVOD_SIZE (OMPI_* under mpirun):
  Horovod, whose DistributedOptimizer averages gradients.
- neither: a single process; every method is then a no-op.

The training loop only ever talks to a `Dist`: it averages gradients with `average_gradients` (or
Horovod's optimizer does), shards data with `shard`, gathers evaluation results with
`gather_lists`, and lets only `is_main` write.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any

import torch

HOROVOD_ENV = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK")  # set by horovodrun (Gloo) / by mpirun


def _launcher() -> str:
    if any(k in os.environ for k in HOROVOD_ENV):
        return "horovod"
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return "torch"
    return "single"


class Dist:
    """Single process. The subclasses below override what differs."""

    backend = "single"
    rank = 0
    world_size = 1
    local_rank = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        if requested == "auto":
            requested = "cuda" if uses_cuda(requested) else "cpu"
        if requested == "cuda" and self.world_size > 1:
            return torch.device("cuda", self.local_rank)  # one GPU per process
        return torch.device(requested)

    def prepare(self, model: torch.nn.Module, optimizer, grad_accum_steps: int):
        """Same starting weights everywhere; returns the optimizer to step."""
        return optimizer

    def average_gradients(self, model: torch.nn.Module) -> None:
        """Make every process's gradients the mean over processes (before clipping and stepping)."""

    def step_context(self):
        """Around the optimizer step (Horovod must not average a second time there)."""
        return contextlib.nullcontext()

    def all_reduce_mean(self, value: float) -> float:
        return value

    def gather_lists(self, items: list) -> list:
        """The lists each process got from `shard`, merged back into the original order."""
        return items

    def shard(self, items: list) -> list:
        """This process's share of `items`: every item exactly once over all processes, no padding."""
        return items[self.rank :: self.world_size]

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


def _interleave(parts: list[list]) -> list:
    """Undo `shard`: part r holds items r, r + n, r + 2n, ..."""
    out = []
    for i in range(max((len(p) for p in parts), default=0)):
        out.extend(p[i] for p in parts if i < len(p))
    return out


def _flat_grads(model: torch.nn.Module) -> tuple[list[torch.nn.Parameter], torch.Tensor]:
    # parameters without a gradient (unused by this task's loss) are the same on every process
    params = [p for p in model.parameters() if p.grad is not None]
    return params, torch.cat([p.grad.reshape(-1) for p in params]) if params else torch.zeros(0)


class TorchDist(Dist):
    backend = "torch"

    def __init__(self, requested_device: str = "auto", timeout_minutes: float = 30):
        import torch.distributed as td

        self.td = td
        self.rank = int(os.environ["RANK"])
        self.world_size = int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        # NCCL only for a run on GPUs: `--device cpu` on a GPU machine communicates with Gloo
        self.use_cuda = uses_cuda(requested_device)
        if self.use_cuda:
            torch.cuda.set_device(self.local_rank)
        td.init_process_group("nccl" if self.use_cuda else "gloo", timeout=datetime.timedelta(minutes=timeout_minutes))

    def prepare(self, model, optimizer, grad_accum_steps: int):
        for tensor in list(model.parameters()) + list(model.buffers()):
            self.td.broadcast(tensor.data, src=0)
        return optimizer

    def average_gradients(self, model) -> None:
        params, flat = _flat_grads(model)
        if not params:
            return
        self.td.all_reduce(flat)  # one collective for all gradients
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def all_reduce_mean(self, value: float) -> float:
        t = torch.tensor([value], dtype=torch.float64, device="cuda" if self.use_cuda else "cpu")
        self.td.all_reduce(t)
        return t.item() / self.world_size

    def gather_lists(self, items: list) -> list:
        parts: list[Any] = [None] * self.world_size
        self.td.all_gather_object(parts, items)
        return _interleave(parts)

    def barrier(self) -> None:
        self.td.barrier()

    def close(self) -> None:
        if self.td.is_initialized():
            self.td.destroy_process_group()


class HorovodDist(Dist):
    backend = "horovod"

    def __init__(self, requested_device: str = "auto"):
        try:
            import horovod.torch as hvd
        except ImportError as e:  # launched by horovodrun but Horovod's torch part is missing
            raise UserError(f"launched under Horovod but horovod.torch cannot be imported ({e}): "
                             "install it with `bash scripts/install_horovod.sh`")
        self.hvd = hvd
        hvd.init()
        self.rank, self.world_size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        if uses_cuda(requested_device):
            torch.cuda.set_device(self.local_rank)

    def prepare(self, model, optimizer, grad_accum_steps: int):
        hvd = self.hvd
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        hvd.broadcast_optimizer_state(optimizer, root_rank=0)
        self.optimizer = hvd.DistributedOptimizer(
            optimizer, named_parameters=model.named_parameters(), backward_passes_per_step=grad_accum_steps
        )
        return self.optimizer

    def average_gradients(self, model) -> None:
        # The optimizer started averaging during backward; wait for it here, so that unscaling and
        # clipping see averaged gradients, and step inside `step_context`.
        params = [p for p in model.parameters() if p.requires_grad]
        no_grad_here = torch.tensor([p.grad is None for p in params], dtype=torch.int32)
        self.optimizer.synchronize()
        # Horovod gives a parameter without a gradient a zero one, which AdamW would decay and move
        # by its momentum; torch (one process, or DDP) leaves its gradient None and the parameter
        # as it is. Drop those zeros where no process had a gradient, so both launchers agree.
        no_grad_anywhere = self.hvd.allreduce(no_grad_here, op=self.hvd.Sum) == self.world_size
        for p, none in zip(params, no_grad_anywhere.tolist()):
            if none:
                p.grad = None

    def step_context(self):
        return self.optimizer.skip_synchronize()

    def all_reduce_mean(self, value: float) -> float:
        return self.hvd.allreduce(torch.tensor([value], dtype=torch.float64), op=self.hvd.Average).item()

    def gather_lists(self, items: list) -> list:
        return _interleave(self.hvd.allgather_object(items))

    def barrier(self) -> None:
        self.hvd.join()

    def close(self) -> None:
        self.hvd.shutdown()


def uses_cuda(requested_device: str) -> bool:
    return requested_device.startswith("cuda") or (requested_device == "auto" and torch.cuda.is_available())


def init_distributed(requested_device: str = "auto") -> Dist:
    """The launcher's interface; `requested_device` (the config's `device`) picks the backend."""
    launcher = _launcher()
    if launcher == "horovod":
        return HorovodDist(requested_device)
    if launcher == "torch":
        return TorchDist(requested_device)
    return Dist()
