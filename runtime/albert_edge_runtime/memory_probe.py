"""The one "fresh process, peak memory" probe, used by the tests, `albert-edge-run bench` and `python -m bench`.

Each probe runs this file as a script in a new interpreter (`python -I memory_probe.py MODE ...`, which the
functions below do), never imported first:
- `measure`: classify a file of texts; peak against the import floor of that same process, measured after numpy +
  onnxruntime and before anything of this package, so what the runtime adds is counted apart from the libraries'
  pages, whose size depends on the page cache. Also the cold start: interpreter start to first answer.
- `import_floor`: the memory of a process that only imports the given modules (e.g. the web stack of `serve`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

START = time.perf_counter()  # the probe's cold start counts from here, before numpy and onnxruntime load
BANNED = ("torch", "transformers", "optimum", "onnx", "albert_edge", "albert_edge_export")


def _run(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-I", __file__, *args], capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def measure(bundle: str | Path | None, texts_file: Path, tune_malloc: bool = False, **load_options: Any) -> dict:
    """Load `bundle` (None: the default) with `SentimentClassifier.load(**load_options)` in a fresh interpreter
    (-I: no script folder or user site on sys.path), answer the first text, then classify the whole file.
    Returns floor_mib, load_mib, peak_mib, added_mib (peak - floor), first_answer_s, texts, and the banned and
    optional modules that got imported."""
    import json

    texts_file = texts_file.resolve()  # the child runs in the texts' folder: relative paths must not reach it
    return _run(
        "classify",
        "-" if bundle is None else str(Path(bundle).resolve()),
        str(texts_file),
        json.dumps({"tune_malloc": tune_malloc, **load_options}),
        cwd=texts_file.parent,
    )


def import_floor(modules: list[str]) -> dict[str, float]:
    """rss_mib and peak_mib of a fresh interpreter after importing `modules` (and numpy + onnxruntime)."""
    return _run("floor", *modules)


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {key} in /proc/self/status: the probe needs Linux")


def _libraries() -> float:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as the runtime sets it, before onnxruntime loads
    import numpy  # noqa: F401 - the floor: the two libraries every runtime process needs
    import onnxruntime  # noqa: F401

    return _status_mib("VmHWM")


def _classify(bundle: str, texts_file: str, tune_malloc: bool, **load_options: Any) -> dict:
    floor = _libraries()
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.memory import tune_glibc_malloc

    if tune_malloc:
        tune_glibc_malloc()
    texts = Path(texts_file).read_text(encoding="utf-8").splitlines()
    clf = SentimentClassifier.load(None if bundle == "-" else bundle, **load_options)
    load = _status_mib("VmHWM")
    clf.predict(texts[:1])
    first = time.perf_counter() - START
    predictions = clf.predict(texts)
    peak = _status_mib("VmHWM")
    return {
        "floor_mib": round(floor, 1),
        "load_mib": round(load, 1),
        "peak_mib": round(peak, 1),
        "added_mib": round(peak - floor, 1),
        "first_answer_s": first,
        "texts": len(predictions),
        "banned": [m for m in BANNED if m in sys.modules],
        "tokenizers_imported": "tokenizers" in sys.modules,
    }


def _floor(*modules: str) -> dict:
    import importlib

    _libraries()
    for name in modules:
        importlib.import_module(name)
    return {"rss_mib": _status_mib("VmRSS"), "peak_mib": _status_mib("VmHWM")}


if __name__ == "__main__":
    import json  # only small modules before the floor; json's own is counted in it, as in any real process

    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "classify":
        print(json.dumps(_classify(rest[0], rest[1], **json.loads(rest[2]))))
    else:
        print(json.dumps(_floor(*rest)))
