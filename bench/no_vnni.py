"""`python -m bench.no_vnni [--texts 200]`: INT8 answers on an x86 CPU without VNNI, emulated (qemu-x86_64-static
-cpu Haswell-v4, from Debian's qemu-user-static: correct answers, meaningless timings), against this host's.

Rows: the default bundle's graph on onnxruntime's fast u8 x s8 kernel (`exact_int8=False`, which saturates there);
what the runtime loads there by default (its exact-INT8 graph); and on this host, interleaved, what the exact graph
costs in latency at 32 and 128 tokens (the emulator's timings mean nothing, so that cost is this CPU's), and in
memory (fresh processes, as the memory-budget tests measure).
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
EMULATOR = ["qemu-x86_64-static", "-cpu", "Haswell-v4"]
CHOICES = {"auto": None, "on": True, "off": False}


def child(texts_file: Path, out: Path, exact: str) -> None:
    """Probabilities of the default bundle on the texts, one text per run as the runtime runs them."""
    from albert_edge_runtime import SentimentClassifier

    clf = SentimentClassifier.load(exact_int8=CHOICES[exact])
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    probabilities = [[p.probabilities[label] for label in clf.labels] for p in clf.predict(texts)]
    np.save(out, np.asarray(probabilities))
    print(json.dumps({"exact_int8_graph": clf.exact_int8}))


def emulated(texts_file: Path, out: Path, exact: str) -> dict:
    command = [*EMULATOR, sys.executable, "-m", "bench.no_vnni", "--child", str(texts_file), str(out), exact]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def latency_ratio(runs: int = 60) -> dict:
    """The exact graph's batch-1 latency over the fast graph's on this host, A B A B..., medians."""
    from albert_edge_runtime import SentimentClassifier

    sessions = [SentimentClassifier.load(exact_int8=exact).session for exact in (False, True)]
    result = {}
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


def added_memory() -> list[float]:
    """What the runtime adds over the import floor classifying 1 000 test reviews, either graph (memory_probe,
    the measurement the memory-budget tests use)."""
    from albert_edge.data import load_reviews
    from albert_edge_runtime.memory_probe import measure

    texts = Path(tempfile.mkdtemp(prefix="no-vnni-memory-")) / "reviews.txt"
    texts.write_text("\n".join(t.replace("\n", " ") for t in load_reviews().test.texts[:1000]), encoding="utf-8")
    return [round(measure(None, texts, exact_int8=exact)["added_mib"], 1) for exact in (False, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]), args.child[2])
    if not shutil.which(EMULATOR[0]):
        raise SystemExit("needs qemu-x86_64-static: apt-get install qemu-user-static")
    from albert_edge.data import load_reviews
    from albert_edge_runtime.parity import contract

    work = Path(tempfile.mkdtemp(prefix="no-vnni-"))
    texts = work / "texts.txt"
    texts.write_text("\n".join(t.replace("\n", " ") for t in load_reviews().test.texts[: args.texts]), "utf-8")
    child(texts, work / "host.npy", "auto")
    host = np.load(work / "host.npy")
    rows = {}
    for name, exact in (("fast kernel (exact_int8=False)", "off"), ("runtime default there (exact graph)", "auto")):
        chosen = emulated(texts, work / f"{exact}.npy", exact)
        rows[name] = chosen if "failed" in chosen else chosen | contract(host, np.load(work / f"{exact}.npy"), "int8")
    rows["exact graph's latency on this host, / fast graph, at 32 and 128 tokens"] = latency_ratio()
    rows["MiB added over the import floor, 1 000 test reviews, fresh process: fast / exact graph"] = added_memory()
    print(json.dumps({"texts": args.texts, "against_this_host": rows}, indent=2))


if __name__ == "__main__":
    main()
