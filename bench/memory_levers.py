"""Peak RSS of classifying real reviews with the memory levers the runtime offers, on and off.

    .venv/bin/python -m bench.memory_levers [BUNDLE] [--texts 1000] [--rounds 2]

Each figure is a fresh process (`albert_edge_runtime.memory_probe`) that imports numpy + onnxruntime, loads the
bundle (default: the one shipped in the runtime) and classifies the first N test reviews; VmHWM at the end, and
the import floor of that process.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

LEVERS = {
    "as shipped": {},
    "glibc malloc tuned": {"tune_malloc": True},
    "pre-packing off": {"prepacking": False},
    "arena off": {"arena": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", default=None)
    parser.add_argument("--texts", type=int, default=1000, help="first N test reviews (default 1000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from albert_edge.data import load_reviews
    from albert_edge_runtime.memory_probe import measure

    with tempfile.TemporaryDirectory() as tmp:
        texts = Path(tmp) / "texts.txt"
        texts.write_text("\n".join(load_reviews().test.texts[: args.texts]), encoding="utf-8")
        for name, lever in LEVERS.items():
            runs = [measure(args.bundle, texts, **lever) for _ in range(args.rounds)]
            print(
                f"{name:20s}: peak {' / '.join(str(r['peak_mib']) for r in runs)} MiB "
                f"(floor {' / '.join(str(r['floor_mib']) for r in runs)})"
            )


if __name__ == "__main__":
    main()
