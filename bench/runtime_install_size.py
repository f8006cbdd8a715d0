"""Size of a runtime-only install: `pip install --target` of ./runtime (and its extras) into empty folders.

    .venv/bin/python -m bench.runtime_install_size [--extras serve,tokenizers]

Prints MB on disk and the distributions installed, per variant. Needs the package index (pip downloads the
wheels for this machine's platform; the sizes are for x86_64 Linux, an aarch64 install is of the same order).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"


def install_size(target: Path, spec: str) -> tuple[float, list[str]]:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--target", str(target), spec], check=True
    )
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    dists = sorted(d.name.split("-")[0] for d in target.glob("*.dist-info"))
    return size / 1e6, dists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="", help="comma-separated extras to measure too, e.g. serve,tokenizers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for extra in ["", *filter(None, args.extras.split(","))]:
            spec = f"{RUNTIME}[{extra}]" if extra else str(RUNTIME)
            size, dists = install_size(Path(tmp) / (extra or "core"), spec)
            print(
                f"runtime{f'[{extra}]' if extra else ''}: {size:.0f} MB, {len(dists)} distributions: {', '.join(dists)}"
            )


if __name__ == "__main__":
    main()
