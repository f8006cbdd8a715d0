"""`python -m bench [--skip-base]`: size and interleaved latency of our INT8 bundle vs optimum's best recipe and
PyTorch eager, for the default model and an albert-base-v2-shaped model. Writes bench/results/."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from albert_edge_runtime.bench import describe_machine

from .contenders import albert_base_checkpoint, optimum_o1_int8
from .latency import feeds_of_length, interleaved, ort_runner, torch_runner

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = (16, 32, 64, 128)


def export_ours(checkpoint: Path, out: Path, verify_data: str, max_drop: float) -> Path:
    from albert_edge_export.pipeline import ExportOptions, run_export

    return run_export(ExportOptions(checkpoint=checkpoint, out=out, max_drop=max_drop, verify_data=verify_data,
                                    max_length=256, truncation="head+tail", per_channel=True,
                                    quantize_embeddings=True, command="python -m bench"))


def measure(name: str, checkpoint: Path, bundle: Path, work: Path, threads: int, runs: int) -> dict:
    optimum = optimum_o1_int8(checkpoint, work)
    runners = {"ours int8": ort_runner(str(bundle / "model.onnx"), threads),
               "optimum O1 int8": ort_runner(str(optimum), threads),
               "pytorch fp32": torch_runner(str(checkpoint), threads)}
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    latency = {n: interleaved(runners, feeds_of_length(n, vocab), runs, warmup=5) for n in LENGTHS}
    return {"model": name, "threads": threads,
            "bytes": {"ours int8": (bundle / "model.onnx").stat().st_size, "optimum O1 int8": optimum.stat().st_size},
            "latency": latency}


def table(result: dict) -> str:
    b = result["bytes"]
    lines = [f"**{result['model']}**, {result['threads']} thread(s): file size ours {b['ours int8'] / 1e6:.2f} MB, "
             f"optimum O1 int8 {b['optimum O1 int8'] / 1e6:.2f} MB", "",
             "| seq | ours int8 p50 ms | optimum O1 int8 p50 ms | PyTorch fp32 p50 ms | ours / optimum |",
             "|---:|---:|---:|---:|---:|"]
    for n, row in result["latency"].items():
        ours, opt, pt = row["ours int8"]["p50_ms"], row["optimum O1 int8"]["p50_ms"], row["pytorch fp32"]["p50_ms"]
        verdict = "" if ours <= opt else " (slower: goal not met)"
        lines.append(f"| {n} | {ours:.2f} | {opt:.2f} | {pt:.2f} | {ours / opt:.2f}x{verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per contender and length (default 30)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--skip-base", action="store_true", help="only the default model (faster)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="albert-edge-bench-") as tmp:
        work = Path(tmp)
        default = ROOT / "models" / "default"
        results.append(measure("default model", default, ROOT / "runtime" / "albert_edge_runtime" / "default_bundle",
                               work, args.threads, args.runs))
        if not args.skip_base:
            base = albert_base_checkpoint(work / "base")
            results.append(measure("albert-base-v2 shape (random weights)", base,
                                   # random weights: every prediction sits near 0.5, so the accuracy guard has
                                   # nothing to protect and its fp32 fallback would only distort the size figure
                                   export_ours(base, work / "base_bundle", "random", max_drop=100.0), work,
                                   args.threads, args.runs))
    report = {"machine": describe_machine(args.threads), "results": results}
    (args.out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = "\n\n".join(table(r) for r in results)
    (args.out / "latency.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
