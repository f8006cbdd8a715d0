"""An x86 CPU without VNNI, emulated (qemu-x86_64-static -cpu Haswell-v4, Debian's qemu-user-static): answers are
the emulated CPU's, timings mean nothing. CI installs the emulator and sets ALBERT_EDGE_REQUIRE_EMULATOR=1, so
there a missing emulator fails the tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HASWELL = ["qemu-x86_64-static", "-cpu", "Haswell-v4"]
needs_emulator = pytest.mark.skipif(
    not shutil.which(HASWELL[0]) and not os.environ.get("ALBERT_EDGE_REQUIRE_EMULATOR"),
    reason="needs qemu-x86_64-static (apt-get install qemu-user-static); CI installs it",
)


def run_haswell(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python ARGS...` on the emulated Haswell; its output, checked for a zero exit status."""
    done = subprocess.run([*HASWELL, sys.executable, *args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stderr[-2000:]
    return done
