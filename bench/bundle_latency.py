"""`python -m bench.bundle_latency BASE OTHER [OTHER ...]`: batch-1 latency of bundles against the first one.

Each bundle's model.onnx at one thread, interleaved (A B C, B C A, ...) on the same token ids, medians per length,
and each bundle's ratio to BASE: how a model change (more layers, a wider layer) is judged against "<= 2x today's
default at 128 tokens". Ratios hold on a busy machine better than times do; a quiet one is still better.

    .venv/bin/python -m bench.bundle_latency runtime/albert_edge_runtime/default_bundle /tmp/b8 --runs 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LENGTHS = (32, 128)


def compare(bundles: list[Path], lengths: tuple[int, ...] = LENGTHS, runs: int = 200) -> dict:
    """Median ms per bundle and length, and each bundle's ratio to the first."""
    from bench.latency import feeds_of_length, interleaved, ort_runner

    names = [str(b) for b in bundles]
    if len(set(names)) != len(names):
        raise ValueError("the same bundle was given twice; pass each bundle once")
    vocab = min(json.loads((b / "config.json").read_text())["vocab_size"] for b in bundles)
    runners = {name: ort_runner(str(b / "model.onnx"), 1) for name, b in zip(names, bundles)}
    rows = {}
    for length in lengths:
        times = interleaved(runners, feeds_of_length(length, vocab), runs, warmup=10)
        base = times[names[0]]["p50_ms"]
        rows[str(length)] = {n: {"p50_ms": t["p50_ms"], "over_base": t["p50_ms"] / base} for n, t in times.items()}
    return {"base": names[0], "runs": runs, "threads": 1, "by_length": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", type=Path, nargs="+", help="bundle folders; the first is the base")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per bundle and length")
    args = parser.parse_args(argv)
    if len(args.bundles) < 2:
        parser.error("give a base bundle and at least one other")
    print(json.dumps(compare(args.bundles, runs=args.runs), indent=2))


if __name__ == "__main__":
    main()
