"""A/B of two runtime checkouts on the default bundle each ships: probabilities, cold start, time, peak RSS.

    git worktree add /tmp/old-main <commit>
    .venv/bin/python -m bench.ab_runtime /tmp/old-main/runtime runtime [--rounds 5] [--texts 1000]

The child below is its own code, not albert_edge_runtime.memory_probe: it must run against old checkouts too.
Fresh processes, A B A B ...; each imports `albert_edge_runtime` from the given folder, loads the package's
default bundle with default options, classifies the first N test reviews one call each and then in one call, and
reports: cold start (import + load + first prediction), both times, VmHWM, and the probabilities of the whole
test split (compared between A and B at the end). Medians per side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.memory import peak_rss_mib
clf = SentimentClassifier.load()
clf.predict(["这个产品很好"])
cold = time.perf_counter() - start
texts = open(sys.argv[2], encoding="utf-8").read().splitlines()
start = time.perf_counter()
for text in texts[: int(sys.argv[3])]:
    clf.predict([text])
run = time.perf_counter() - start
start = time.perf_counter()
clf.predict(texts[: int(sys.argv[3])])
batched = time.perf_counter() - start
peak = peak_rss_mib()  # before the probabilities below, which hold the whole split at once
import numpy as np
logits = np.array([[p.probabilities[label] for label in clf.labels] for p in clf.predict(texts)])
np.save(sys.argv[4], logits)
print(json.dumps({"cold_s": cold, "run_s": run, "batched_s": batched, "peak_mib": peak, "module": clf.__module__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="runtime source folder A (holds albert_edge_runtime/)")
    parser.add_argument("b", type=Path, help="runtime source folder B")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=1000)
    args = parser.parse_args()
    import numpy as np

    from albert_edge.data import load_reviews

    results: dict[str, list[dict]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        texts = Path(tmp) / "test.txt"
        texts.write_text("\n".join(load_reviews().test.texts), encoding="utf-8")
        for _ in range(args.rounds):
            for side, folder in (("A", args.a), ("B", args.b)):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        str(folder.resolve()),
                        str(texts),
                        str(args.texts),
                        str(Path(tmp) / f"{side}.npy"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tmp,
                )
                results[side].append(json.loads(out.stdout))
        diff = float(np.abs(np.load(Path(tmp) / "A.npy") - np.load(Path(tmp) / "B.npy")).max())
    for side in "AB":
        runs = results[side]
        print(
            f"{side}: cold start {statistics.median(r['cold_s'] for r in runs):.3f} s, "
            f"{args.texts} texts one by one {statistics.median(r['run_s'] for r in runs):.3f} s, "
            f"in one call {statistics.median(r['batched_s'] for r in runs):.3f} s, "
            f"peak {statistics.median(r['peak_mib'] for r in runs):.1f} MiB ({args.rounds} runs)"
        )
    for key, what in (("run_s", "one by one"), ("batched_s", "in one call")):
        ratio = statistics.median(b[key] / a[key] for a, b in zip(results["A"], results["B"]))
        print(f"B / A end-to-end time, {what}: {ratio:.3f} (median of paired rounds)")
    print(f"max abs logit difference on the test split: {diff:g}")


if __name__ == "__main__":
    main()
