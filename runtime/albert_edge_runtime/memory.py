"""Peak and current memory of this process, measured the same way by bench, tests and docs."""

from __future__ import annotations

import sys
from pathlib import Path


def _status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux: VmHWM from /proc/self/status, because ru_maxrss survives fork+exec and so reports the PARENT's peak
    when that was larger (a child of a process that imported torch showed the torch process's peak).
    """
    peak = _status_mib("VmHWM")
    if peak is not None:
        return peak
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0


def current_rss_mib() -> float:
    """VmRSS now (Linux); 0.0 where /proc is missing."""
    return _status_mib("VmRSS") or 0.0


# glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
MMAP_THRESHOLD_BYTES = 128 * 1024


def tune_glibc_malloc() -> bool:
    """For a process albert-edge owns (the CLI, the server): keep glibc's heap from holding freed memory.

    Two settings (their effect on the default bundle: docs/serving.md): a FIXED mmap threshold of 128 KiB (glibc
    otherwise raises it to the size of each large block freed, e.g. the bundle's bytes at load, after which large
    activations come from the heap and fragment it), and one malloc arena (the model's worker thread otherwise gets
    a heap of its own next to the event loop's).
    Not applied by the library API: malloc is the embedding application's to tune. A setting the user made in the
    environment (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX) is left alone. Returns False off glibc or if glibc
    refused a setting.
    """
    import os
    import platform

    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    settings = {
        "MALLOC_MMAP_THRESHOLD_": (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        "MALLOC_ARENA_MAX": (M_ARENA_MAX, 1),
    }
    return all(mallopt(param, value) == 1 for env, (param, value) in settings.items() if env not in os.environ)
