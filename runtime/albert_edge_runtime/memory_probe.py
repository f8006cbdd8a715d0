"""Peak memory of classifying a file of texts in a fresh process, against the import floor of that same process.

Run as a script (`python -I .../memory_probe.py BUNDLE|- TEXTS OPTIONS_JSON`, which `measure` does), never
imported first: it measures the floor after numpy + onnxruntime and before anything of this package, so what the
runtime adds is counted apart from the libraries' pages, whose size depends on the page cache. Prints one JSON
object: floor_mib, load_mib, peak_mib, added_mib (peak - floor), texts, and the banned and optional modules that
got imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BANNED = ("torch", "transformers", "optimum", "onnx", "albert_edge", "albert_edge_export")


def measure(bundle: str | Path | None, texts_file: Path, tune_malloc: bool = False, **load_options: bool) -> dict:
    """Run this file in a fresh interpreter (-I: no script folder or user site on sys.path) and return its JSON.
    `load_options`: `SentimentClassifier.load` switches (prepacking, arena)."""
    import json
    import subprocess

    args = [sys.executable, "-I", __file__, "-" if bundle is None else str(bundle), str(texts_file),
            json.dumps({"tune_malloc": tune_malloc, **load_options})]
    done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=texts_file.parent)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status: the probe needs Linux")


def _probe(bundle: str, texts_file: str, tune_malloc: bool, **load_options: bool) -> dict:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as the runtime sets it, before onnxruntime loads
    import numpy  # noqa: F401 - the floor: the two libraries every runtime process needs
    import onnxruntime  # noqa: F401

    floor = _hwm_mib()
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.memory import tune_glibc_malloc

    if tune_malloc:
        tune_glibc_malloc()
    clf = SentimentClassifier.load(None if bundle == "-" else bundle, **load_options)
    load = _hwm_mib()
    texts = Path(texts_file).read_text(encoding="utf-8").splitlines()
    predictions = clf.predict(texts)
    peak = _hwm_mib()
    return {"floor_mib": round(floor, 1), "load_mib": round(load, 1), "peak_mib": round(peak, 1),
            "added_mib": round(peak - floor, 1), "texts": len(predictions),
            "banned": [m for m in BANNED if m in sys.modules], "tokenizers_imported": "tokenizers" in sys.modules}


if __name__ == "__main__":
    import json  # only small modules before the floor; json's own is counted in it, as in any real process

    print(json.dumps(_probe(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3]))))
