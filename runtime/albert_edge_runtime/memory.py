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
    when that was larger (measured: a child of a process that imported torch showed 227 MiB instead of 88).
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
