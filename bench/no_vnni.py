"""`python -m bench.no_vnni [--texts 200]`: INT8 answers on an x86 CPU without VNNI, emulated (qemu-x86_64-static
-cpu Haswell-v4, from Debian's qemu-user-static: correct answers, meaningless timings), against this host's.

Rows: the default bundle as shipped; the same with onnxruntime's documented remedy (`session.x64quantprecision=1`,
which only acts at graph optimisation level "extended" or above); the exact form the ARM check's reference uses
(int8 weights stored as uint8 + 128, so onnxruntime takes its exact u8 x u8 kernel) and what that form costs in
latency on this host, interleaved.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "runtime" / "albert_edge_runtime" / "default_bundle"
EMULATOR = ["qemu-x86_64-static", "-cpu", "Haswell-v4"]


def session(model: Path, precise: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    level = "ORT_ENABLE_EXTENDED" if precise else "ORT_DISABLE_ALL"  # the remedy is a level-2 graph transformer
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if precise:
        options.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def child(model: Path, texts_file: Path, out: Path, precise: bool) -> None:
    """Probabilities of `model` on the texts, one text per run as the runtime runs them."""
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.session import logits_alone, softmax

    encoder = SentimentClassifier.load(BUNDLE).encoder
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    run = session(model, precise)
    np.save(out, softmax(logits_alone(run, [encoder.encode(t) for t in texts])))


def emulated(model: Path, texts_file: Path, out: Path, precise: bool = False) -> dict:
    command = [*EMULATOR, sys.executable, "-m", "bench.no_vnni", "--child", str(model), str(texts_file), str(out)]
    done = subprocess.run(command + (["--precise"] if precise else []), capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1][:300]}
    return {}


def difference(a: np.ndarray, b: np.ndarray) -> dict:
    per_text = np.abs(a - b).max(1)
    return {"max": float(per_text.max()), "median": float(np.median(per_text)),
            "labels_equal": float(np.mean(a.argmax(1) == b.argmax(1)))}  # fmt: skip


def latency_ratio(a: Path, b: Path, runs: int = 60) -> dict:
    sessions, result = [session(a), session(b)], {}
    for length in (32, 128):
        ones, zeros = np.ones((1, length), np.int64), np.zeros((1, length), np.int64)
        feeds = {"input_ids": np.random.default_rng(0).integers(5, 1000, (1, length)), "attention_mask": ones,
                 "token_type_ids": zeros}  # fmt: skip
        times: list[list[float]] = [[], []]
        for i in range(runs):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                start = time.perf_counter()
                sessions[k].run(None, feeds)
                times[k].append(time.perf_counter() - start)
        result[str(length)] = float(np.median(times[1][5:]) / np.median(times[0][5:]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--precise", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.precise)
    if not shutil.which(EMULATOR[0]):
        raise SystemExit("needs qemu-x86_64-static: apt-get install qemu-user-static")
    sys.path.insert(0, str(ROOT / "scripts"))
    from device_logits import unsigned_weights

    from albert_edge.data import load_reviews

    work = Path(tempfile.mkdtemp(prefix="no-vnni-"))
    texts = work / "texts.txt"
    texts.write_text("\n".join(t.replace("\n", " ") for t in load_reviews().test.texts[: args.texts]), "utf-8")
    model, exact = BUNDLE / "model.onnx", work / "exact.onnx"
    unsigned_weights(model, exact)
    child(model, texts, work / "host.npy", False)
    host = np.load(work / "host.npy")
    rows = {}
    for name, path, precise in (("as shipped", model, False), ("x64quantprecision + extended", model, True),
                                ("uint8 + 128 weights (exact)", exact, False)):  # fmt: skip
        failure = emulated(path, texts, work / f"{len(rows)}.npy", precise)
        rows[name] = failure or difference(host, np.load(work / f"{len(rows)}.npy"))
    rows["exact form's latency on this host, / as shipped, at 32 and 128 tokens"] = latency_ratio(model, exact)
    print(json.dumps({"texts": args.texts, "against_this_host": rows}, indent=2))


if __name__ == "__main__":
    main()
