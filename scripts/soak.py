"""Soak the runtime: many predictions on one classifier, RSS sampled along the way.

    python scripts/soak.py --calls 100000 --json soak.json      # the full soak (about 5 minutes here)
    python scripts/soak.py --calls 5000                         # what the test suite runs

Imports only albert_edge_runtime, so it runs on a device with nothing but the runtime package installed.
The workload mixes batch-1 calls (lengths 1..~600 characters, emoji, long texts that get truncated) with a batch
of 16 every 10th call, because a leak in either path would hide behind the other.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.memory import current_rss_mib, peak_rss_mib

PHRASES = [
    "这个产品很好",
    "质量太差了",
    "物流很快，包装完好。",
    "客服态度恶劣！",
    "性价比高 👍",
    "一般般吧",
    "房间干净，早餐一般",
    "再也不买了……",
    "great value",
    "屏幕清晰，电池耐用",
]


def workload(rng: random.Random) -> list[str]:
    def text() -> str:
        return "".join(rng.choice(PHRASES) for _ in range(rng.choice([1, 2, 4, 8, 16, 60])))

    return [text() for _ in range(16)] if rng.random() < 0.1 else [text()]


def soak(bundle: str | None, calls: int, warmup: int, samples: int, seed: int) -> dict:
    clf = SentimentClassifier.load(bundle)
    rng = random.Random(seed)
    every = max(1, calls // samples)
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()
    for call in range(1, calls + 1):
        clf.predict(workload(rng))
        if call % every == 0 or call == warmup:
            curve.append((call, round(current_rss_mib(), 2)))
    at_warmup = next(rss for n, rss in curve if n >= warmup)
    after = [rss for n, rss in curve if n >= warmup]
    return {
        "calls": calls,
        "warmup": warmup,
        "seconds": round(time.perf_counter() - start, 1),
        "rss_at_warmup_mib": at_warmup,
        "rss_end_mib": curve[-1][1],
        "growth_after_warmup_mib": round(max(after) - at_warmup, 2),
        "peak_rss_mib": round(peak_rss_mib(), 2),
        "samples": curve,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the one shipped in the package)")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=2_000, help="calls before the growth baseline is taken")
    parser.add_argument("--samples", type=int, default=50, help="RSS samples along the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out", help="write the report (with the RSS curve) here")
    args = parser.parse_args()
    if not 0 < args.warmup < args.calls:
        print("soak: error: --warmup must be between 0 and --calls", file=sys.stderr)
        return 2
    report = soak(args.bundle, args.calls, args.warmup, args.samples, args.seed)
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
