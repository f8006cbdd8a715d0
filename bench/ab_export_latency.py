"""A/B of export variants: batch-1 latency at 1 thread against optimum's O1 int8 file, interleaved, same weights.

    .venv/bin/python -m bench.ab_export_latency albert-base /tmp/ab --runs 100 \
        --onnx before=/tmp/old_bundle/model.onnx

Exports the checkpoint with the current pipeline, adds any --onnx NAME=PATH files (e.g. a bundle exported on an
older commit: `git worktree add /tmp/old COMMIT` and export there, or `git show COMMIT:PATH` of a committed
bundle), builds optimum's O1 int8 file, and prints each file's median latency and its ratio to O1.
`python -m bench` is the full comparison; this is the quick one for a graph change. Differences of 1-2 % need
--runs 100 and two repeats to be told from noise; and a quiet machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from albert_edge_export.pipeline import ExportOptions, run_export
from bench.contenders import albert_base_checkpoint, optimum_o1_int8
from bench.latency import feeds_of_length, interleaved, ort_runner


def export_current(checkpoint: Path, out: Path, labelled: bool) -> Path:
    if not (out / "model.onnx").is_file():
        run_export(
            ExportOptions(
                checkpoint=checkpoint,
                out=out,
                max_drop=0.5 if labelled else 100.0,
                verify_data="reviews-dev" if labelled else "random",
                max_length=128,
                truncation="head+tail",
                command="bench/ab_export_latency.py",
            )
        )
    return out / "model.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder, or 'albert-base' for the albert-base-v2 shape")
    parser.add_argument("work", type=Path, help="folder for the exported files (reused when present)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--onnx", action="append", default=[], metavar="NAME=PATH", help="more files to time")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.checkpoint == "albert-base"
    checkpoint = albert_base_checkpoint(args.work / "base") if base else Path(args.checkpoint)
    files = {"ours now": export_current(checkpoint, args.work / "ours", not base)}
    files.update(dict(item.split("=", 1) for item in args.onnx))
    files["optimum O1"] = optimum_o1_int8(checkpoint, args.work)
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    runners = {name: ort_runner(str(path), 1) for name, path in files.items()}
    print("| seq | " + " | ".join(f"{n} ms (/ O1)" for n in files) + " |")
    print("|---" * (len(files) + 1) + "|")
    for length in (16, 32, 64, 128):
        result = interleaved(runners, feeds_of_length(length, vocab), args.runs, warmup=5)
        o1 = result["optimum O1"]["p50_ms"]
        cells = [f"{r['p50_ms']:.3f} ({r['p50_ms'] / o1:.3f})" for r in result.values()]
        print(f"| {length} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
