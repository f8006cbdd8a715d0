"""Where a run computes: `--device auto|cpu|cuda`, `--precision auto|fp32|bf16` (autocast), and data-parallel
processes started by `torchrun` (PyTorch's own DDP: gloo on CPUs, nccl on GPUs). A plain process is a world of one."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
HWCAP2_BF16 = 1 << 14  # arm64 AT_HWCAP2 bit (linux/arch/arm64/include/uapi/asm/hwcap.h)


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
    amp: torch.dtype | None = None  # autocast dtype (`amp_dtype`); fp16 comes with a grad scaler

    @property
    def main(self) -> bool:
        """The one process that writes checkpoints and logs."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp)

    @property
    def precision(self) -> str:
        """What the run computes in, for its records: fp32, bf16 or fp16."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]

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


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (x86 AVX512-BF16 or AMX, arm64 BF16), asked of the CPU itself: without
    them oneDNN emulates bf16 and an autocast step is slower than fp32, not faster."""
    arch = platform.machine().lower()
    if arch in ("x86_64", "amd64"):
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own CPUID probes, private
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    if arch in ("aarch64", "arm64"):
        from albert_edge_runtime.machine import _getauxval

        return bool(_getauxval(26) & HWCAP2_BF16)  # 26 = AT_HWCAP2
    return False


def amp_dtype(device: torch.device, precision: str, fp16: bool = True) -> torch.dtype | None:
    """The autocast dtype of `--precision` on `device` (None: full fp32).

    auto is bf16 on GPUs that have it, else fp16 where the caller scales the loss (`fp16`), else fp32; on CPUs auto
    is fp32, so a recipe run on a CPU repeats its published figures; bf16 on a CPU is asked for by name."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if gpu_bf16 else (torch.float16 if fp16 else None)
    if device.type == "cuda" and not gpu_bf16:
        raise ValueError(
            "--precision bf16: this GPU has no bf16 (torch.cuda.is_bf16_supported() is False); "
            "use --precision auto or fp32"
        )
    if device.type == "cpu" and not cpu_has_bf16():
        raise ValueError(
            "--precision bf16: this CPU has no bf16 instructions (x86 AVX512-BF16 or AMX, arm64 BF16), so bf16 would "
            "be emulated and slower than fp32; use --precision fp32 (or auto)"
        )
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on `device`, or nothing for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def start(device: str, precision: str = "auto") -> Placement:
    """The placement of this process; under torchrun (WORLD_SIZE > 1) it joins the process group."""
    chosen = resolve_device(device)
    amp = amp_dtype(chosen, precision)  # refused before any process group exists
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(chosen)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return Placement(chosen, rank, world, amp)


def stop(place: Placement) -> None:
    if place.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def placed(device: str, precision: str = "auto") -> Iterator[Placement]:
    place = start(device, precision)
    try:
        yield place
    finally:
        stop(place)
