"""Where a run computes: `--device auto|cpu|cuda`, mixed precision on GPUs, and data-parallel processes started by
`torchrun` (PyTorch's own DDP: gloo on CPUs, nccl on GPUs). A plain process is a world of one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when PyTorch sees a GPU, else the CPU; cuda without one is refused, not silently the CPU."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda: PyTorch sees no CUDA device (torch.cuda.is_available() is False: a CPU build of torch, "
            "or no GPU here); use --device cpu or auto"
        )
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


@dataclass(frozen=True)
class Placement:
    """This process's device and place in the world (rank 0 of 1 without torchrun)."""

    device: torch.device = torch.device("cpu")
    rank: int = 0
    world: int = 1
    amp: torch.dtype | None = None  # autocast dtype on GPUs: bf16 where supported, else fp16 (with a grad scaler)

    @property
    def main(self) -> bool:
        """The one process that writes checkpoints and logs."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp)

    def scaler(self) -> torch.amp.GradScaler | None:
        """fp16 needs loss scaling; bf16 and fp32 do not."""
        return torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the processes (the values themselves in a world of one)."""
        if self.world == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def autocast_on(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPUs that have it (fine-tuning keeps no grad scaler), else full precision."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def start(device: str) -> Placement:
    """The placement of this process; under torchrun (WORLD_SIZE > 1) it joins the process group."""
    chosen = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(chosen)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    amp = None
    if chosen.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Placement(chosen, rank, world, amp)


def stop(place: Placement) -> None:
    if place.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def placed(device: str) -> Iterator[Placement]:
    place = start(device)
    try:
        yield place
    finally:
        stop(place)
