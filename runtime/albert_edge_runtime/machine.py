"""What this machine gives the runtime: usable cores (affinity and cgroup CPU quota), the memory limit, the CPU
features onnxruntime's INT8 and 4-bit kernels depend on, and which of those kernels will run. `albert-edge-run
doctor` prints it; the default thread count comes from `usable_cores`.

CPU features come from the CPU where the library can ask it: numpy's own CPUID / auxv probe on x86 and arm64 (an
emulator's /proc/cpuinfo shows the host's flags, the CPU's own answers do not), the kernel's auxiliary vector for
arm64 features numpy does not name, and /proc/cpuinfo only for the rest, marked as such.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CGROUP = Path("/sys/fs/cgroup")
X86_FROM_NUMPY = {"avx2": "AVX2", "avx512f": "AVX512F", "avx512_vnni": "AVX512VNNI"}
X86_FROM_CPUINFO = ("avx_vnni", "amx_int8")  # numpy does not probe these
ARM_HWCAP = {"asimddp": (16, 1 << 20), "sve": (16, 1 << 22), "i8mm": (26, 1 << 13), "sme": (26, 1 << 23)}
# (getauxval type, bit): AT_HWCAP = 16, AT_HWCAP2 = 26 (linux/arch/arm64/include/uapi/asm/hwcap.h)


def onnxruntime_missing(exc: ImportError) -> str:
    """Why onnxruntime cannot be imported here and what to do: it publishes wheels for 64-bit x86 and ARM only."""
    machine = platform.machine()
    if machine.lower().startswith(("armv6", "armv7", "armv8l", "armhf", "i386", "i686")):
        hint = "onnxruntime has no wheels for 32-bit systems: install a 64-bit OS (Raspberry Pi OS 64-bit, aarch64)"
    else:
        hint = "pip install onnxruntime (wheels exist for x86_64 and aarch64 on Linux, macOS and Windows)"
    return f"albert-edge-runtime needs onnxruntime, which is not importable on {machine} ({exc}); {hint}"


def usable_cores(root: Path = CGROUP) -> int:
    """Cores this process may use: its CPU affinity (taskset, cpusets), capped by a cgroup CPU quota rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def cgroup_cpu_quota(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup may use per period (cgroup v2 cpu.max, else v1 cfs quota/period); None: no quota."""
    v2 = _read(root / "cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    quota_us, period_us = _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_us and period_us and int(quota_us) > 0:
        return int(quota_us) / int(period_us)
    return None


def memory_limit(root: Path = CGROUP) -> int | None:
    """The cgroup's memory limit in bytes (v2 memory.max, else v1); None: no limit."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        value = _read(path)
        if value and value != "max" and int(value) < 1 << 60:  # v1 writes a huge number for "no limit"
            return int(value)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


CPU_NAME_KEYS = ("model name", "model", "hardware", "cpu part")  # in order of preference


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name from /proc/cpuinfo (x86 lists "model : 17", a family number, before "model name"; a Pi's
    "Model" is its board name)."""
    info: dict[str, str] = {}
    for line in (_read(cpuinfo) or "").splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip().lower(), value.strip())
    names = (info.get(k, "") for k in CPU_NAME_KEYS)
    return next((n for n in names if n and not n.isdigit()), "") or platform.processor() or "unknown"


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """{feature: where it was read} for the INT8-relevant features this CPU has."""
    arch = platform.machine().lower()
    found: dict[str, str] = {}
    if arch in ("x86_64", "amd64"):
        probed = _numpy_cpu_features()
        found |= {name: "cpuid" for name, key in X86_FROM_NUMPY.items() if probed.get(key)}
        flags = cpuinfo_flags(cpuinfo)
        # /proc/cpuinfo describes another CPU when it disagrees with CPUID (an emulator shows the host's flags):
        # then its word is not taken for the features CPUID was not asked about either.
        if all((name in flags) == bool(probed.get(key)) for name, key in X86_FROM_NUMPY.items()):
            found |= {name: "/proc/cpuinfo" for name in X86_FROM_CPUINFO if name in flags}
    elif arch in ("aarch64", "arm64"):
        found |= {name: "auxv" for name, (kind, bit) in ARM_HWCAP.items() if _getauxval(kind) & bit}
    return found


def _numpy_cpu_features() -> dict[str, bool]:
    import importlib

    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, numpy 1
        try:
            return dict(importlib.import_module(name).__cpu_features__)
        except (ImportError, AttributeError):
            continue
    return {}


def cpuinfo_flags(cpuinfo: Path) -> set[str]:
    for line in (_read(cpuinfo) or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def _getauxval(kind: int) -> int:
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):  # not glibc/musl Linux
        return 0
    getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
    return int(getauxval(kind))


def int8_kernel(arch: str, features: dict[str, str]) -> str:
    """Which of onnxruntime's (MLAS) u8/s8 GEMM kernels a dynamic-INT8 bundle's MatMuls take here."""
    if arch in ("x86_64", "amd64"):
        if "amx_int8" in features:
            return "AMX"
        if "avx512_vnni" in features or "avx_vnni" in features:
            return "VNNI (exact int8 dot products)"
        if "avx2" in features:
            return "AVX2 without VNNI (u8 x s8 pairs saturate at 16 bits: answers may move by ~1e-3)"
        return "SSE (slow)"
    if arch in ("aarch64", "arm64"):
        if "i8mm" in features:
            return "I8MM (smmla/ummla)"
        return "dot product (sdot/udot)" if "asimddp" in features else "NEON without dot product (slower)"
    return f"no tuned kernel known for {arch}"


def int8_saturates(arch: str, features: dict[str, str]) -> bool:
    """True where onnxruntime's u8 x s8 GEMM kernel adds pairs of products in saturating 16-bit arithmetic (x86
    without VNNI or AMX), so INT8 answers move from those of exact machines; `RuntimeOptions.exact_int8` then
    defaults to the bundle's exact graph."""
    return arch in ("x86_64", "amd64") and not {"avx512_vnni", "avx_vnni", "amx_int8"} & set(features)


def this_cpu_int8_saturates() -> bool:
    return int8_saturates(platform.machine().lower(), cpu_features())


def int4_kernel(arch: str, features: dict[str, str]) -> str:
    """The path a 4-bit (MatMulNBits) bundle takes here."""
    if arch in ("aarch64", "arm64"):
        if "asimddp" in features or "i8mm" in features:
            return "int8 compute (KleidiAI) where the block length is a multiple of 32 dividing K, else fp32 compute"
        return "fp32 compute (no dot product on this CPU)"
    if arch in ("x86_64", "amd64"):
        return "MLAS 4-bit kernels: slower than INT8 on x86 (docs/measurements.md), they save bytes only"
    return "onnxruntime's reference kernels"


def nbits_path(arch: str, features: dict[str, str], k: int, block_size: int) -> str:
    """The path MatMulNBits with this K and block length takes here (mlas sqnbitgemm: KleidiAI's kernels need
    a block length that is a multiple of 32 and divides K)."""
    if arch in ("aarch64", "arm64"):
        if not ("asimddp" in features or "i8mm" in features):
            return "fp32 compute (no dot product on this CPU)"
        if block_size % 32 == 0 and k % block_size == 0:
            return "int8 compute (KleidiAI)"
        return "not KleidiAI (it takes blocks that are multiples of 32 dividing K), onnxruntime's own kernels"
    return int4_kernel(arch, features)


def bundle_paths(arch: str, features: dict[str, str], exact_int8_model: str, matmuls: list[dict]) -> list[str]:
    """One line per kind of weight GEMM of a bundle: the kernel it takes on this CPU."""
    lines = []
    if exact_int8_model:
        graph = "the exact-INT8 graph (u8 x u8)" if int8_saturates(arch, features) else "its own graph"
        lines.append(f"INT8 GEMMs: {int8_kernel(arch, features)}; loads {graph}")
    for m in matmuls:
        lines.append(
            f"{m['count']} MatMulNBits ({m['bits']}-bit, K {m['K']}, blocks of {m['block_size']}): "
            + nbits_path(arch, features, m["K"], m["block_size"])
        )
    return lines


@dataclass
class Machine:
    arch: str
    cpu: str
    features: dict[str, str] = field(default_factory=dict)
    cores_online: int = 1
    usable_cores: int = 1
    cpu_quota: float | None = None
    memory_limit_bytes: int | None = None
    onnxruntime: str = ""
    providers: list[str] = field(default_factory=list)
    int8_kernel: str = ""
    int4_kernel: str = ""
    advice: str = ""
    bundle: list[str] = field(default_factory=list)  # with `doctor --bundle`: the path of each of its GEMM kinds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect(root: Path = CGROUP, cpuinfo: Path = Path("/proc/cpuinfo")) -> Machine:
    import onnxruntime as ort

    arch = platform.machine().lower()
    features = cpu_features(cpuinfo)
    machine = Machine(
        arch=arch,
        cpu=cpu_name(cpuinfo),
        features=features,
        cores_online=os.cpu_count() or 1,
        usable_cores=usable_cores(root),
        cpu_quota=cgroup_cpu_quota(root),
        memory_limit_bytes=memory_limit(root),
        onnxruntime=ort.__version__,
        providers=list(ort.get_available_providers()),
        int8_kernel=int8_kernel(arch, features),
        int4_kernel=int4_kernel(arch, features),
    )
    machine.advice = advice(machine)
    return machine


def advice(m: Machine) -> str:
    if m.usable_cores < m.cores_online:
        limit = f"a CPU quota of {m.cpu_quota:g}" if m.cpu_quota else "its CPU affinity"
        lead = f"this process may use {m.usable_cores} of {m.cores_online} cores ({limit}); --threads 0 uses them all. "
    else:
        lead = ""
    if int8_saturates(m.arch, m.features):
        return lead + (
            "INT8 bundles load their exact graph here (u8 x u8 kernel: the same answers as VNNI and ARM machines, "
            "slower GEMMs); --no-exact-int8 trades that for speed (answers move by ~1e-3, labels rarely)."
        )
    if "without dot product" in m.int8_kernel:
        return lead + (
            "INT8 runs on NEON without dot product (a Pi 4's Cortex-A72): slower than on a Pi 5; 4-bit bundles "
            "compute in fp32 here, so prefer INT8."
        )
    if "fp32 compute (no dot" in m.int4_kernel or "save bytes only" in m.int4_kernel:
        return lead + "INT8 bundles run on their fast path; pick a 4-bit bundle only for its smaller download."
    return lead + "INT8 bundles run on their fast path here."


def render(m: Machine) -> str:
    limit = f"{m.memory_limit_bytes / 2**20:.0f} MiB" if m.memory_limit_bytes else "none"
    return "\n".join(
        [
            f"cpu          {m.cpu} ({m.arch})",
            f"features     {', '.join(f'{k} ({v})' for k, v in m.features.items()) or 'none of the INT8 ones'}",
            f"cores        {m.usable_cores} usable of {m.cores_online} online"
            + (f" (cgroup quota {m.cpu_quota:g} CPUs)" if m.cpu_quota else ""),
            f"memory limit {limit}",
            f"onnxruntime  {m.onnxruntime} ({', '.join(m.providers)})",
            f"INT8 kernel  {m.int8_kernel}",
            f"4-bit kernel {m.int4_kernel}",
            f"advice       {m.advice}",
            *(f"bundle       {line}" for line in m.bundle),
        ]
    )
