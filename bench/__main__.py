"""`python -m bench`: our INT8 (and 4-bit) bundles against what a user would pick instead, same weights, one run.

Contenders: PyTorch fp32 eager (transformers), optimum's default recipe (optimum-cli export -> ORTQuantizer arm64
preset), optimum's best recipe (O1 -> arm64 int8), our INT8 and INT4 bundles through albert_edge_runtime (the INT4
one exported here, guarded on the dev split within 1 point); for accuracy also the
char TF-IDF + LogisticRegression baseline. Models: the default model and an albert-base-v2-shaped one (random
weights). Writes bench/results/{report.md,results.json,latency.png,summary.png} and the README's headline table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np

from albert_edge_runtime.bench import describe_machine
from bench.model import measure as judge_model

from .contenders import (
    BEST,
    DEFAULT,
    FLOOR,
    OURS,
    OURS4,
    TORCH,
    albert_base_checkpoint,
    hf_folder,
    int8_coverage,
    optimum_default_int8,
    optimum_o1_int8,
)
from .fresh import fresh_run
from .gemm_floor import floor_for, floor_runner
from .latency import feeds_of_length, interleaved, ort_runner, torch_runner
from .report import markdown_report, plot, update_readme

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = (16, 32, 64, 128)
BASE_INT4_GOAL_MB = 6.5  # the 4-bit issue's size goal for the albert-base-v2 shape


def export_ours(checkpoint: Path, out: Path, verify_data: str, max_drop: float, weights: str = "int8") -> Path:
    from albert_edge_export.pipeline import ExportOptions, run_export

    return run_export(
        ExportOptions(
            checkpoint=checkpoint,
            out=out,
            max_drop=max_drop,
            verify_data=verify_data,
            max_length=128,
            truncation="head+tail",
            weights=weights,
            command="python -m bench",
        )
    )


def latency_table(files: dict[str, Path], checkpoint: Path, threads: int, runs: int, floor: Path) -> dict:
    """p50/p90 per length of every contender and of the shape's INT8 GEMM floor (bench.gemm_floor), interleaved."""
    runners = {name: ort_runner(str(path), threads) for name, path in files.items()}
    runners[TORCH] = torch_runner(str(checkpoint), threads)
    runners[FLOOR] = floor_runner(floor, threads)
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    return {str(n): interleaved(runners, feeds_of_length(n, vocab), runs, warmup=5) for n in LENGTHS}


def fresh_table(folders: dict[str, tuple[str, Path]], texts_file: Path, rounds: int) -> dict:
    """Each contender in new processes, interleaved round by round; medians of cold start, throughput, RSS."""
    runs: dict[str, list[dict]] = {name: [] for name in folders}
    for _ in range(rounds):
        for name, (kind, path) in folders.items():
            runs[name].append(fresh_run(kind, path, texts_file, 1, 128))
    return {
        name: {
            key: statistics.median(r[key] for r in reports) for key in ("cold_start_s", "texts_per_s", "peak_rss_mib")
        }
        | {"labels": reports[0]["labels"]}
        for name, reports in runs.items()
    }


def stored_bytes(model: Path) -> int:
    """A graph file and its external weights (`<name>.data`, as our bundles store them since format 3)."""
    return sum(f.stat().st_size for f in (model, model.with_name(model.name + ".data")) if f.is_file())


def measure(
    name: str,
    checkpoint: Path,
    bundles: tuple[Path, Path],
    work: Path,
    texts: list[str],
    labels: list[int] | None,
    int4_goal_mb: float,
    args: argparse.Namespace,
) -> dict:
    bundle, bundle4 = bundles
    files = {
        OURS: bundle / "model.onnx",
        OURS4: bundle4 / "model.onnx",
        BEST: optimum_o1_int8(checkpoint, work),
        DEFAULT: optimum_default_int8(checkpoint, work),
    }
    texts_file = work / "texts.txt"
    texts_file.write_text("\n".join(texts), encoding="utf-8")
    floor = floor_for(json.loads((checkpoint / "config.json").read_text()), work)
    folders = {
        OURS: ("ours", bundle),
        OURS4: ("ours", bundle4),
        BEST: ("optimum", hf_folder(checkpoint, files[BEST], work / "best")),
        DEFAULT: ("optimum", hf_folder(checkpoint, files[DEFAULT], work / "default")),
        TORCH: ("pytorch", hf_folder(checkpoint, None, work / "torch")),
    }
    result = {
        "model": name,
        "texts": len(texts),
        "int4_goal_mb": int4_goal_mb,
        "bytes": {k: stored_bytes(p) for k, p in files.items()},
        "int8_coverage": {k: int8_coverage(p) for k, p in files.items()},
        "latency": {"1": latency_table(files, checkpoint, 1, args.runs, floor)},
        "fresh": fresh_table(folders, texts_file, args.rounds),
    }
    if args.all_cores:
        cores = os.cpu_count() or 1
        result["latency"][str(cores)] = latency_table(files, checkpoint, cores, args.runs, floor)
    if labels is not None:
        id2label = json.loads((checkpoint / "config.json").read_text())["id2label"]
        truth = np.asarray([id2label[str(y)] for y in labels])
        result["accuracy"] = {k: float(np.mean(np.asarray(v["labels"]) == truth)) for k, v in result["fresh"].items()}
    for report in result["fresh"].values():
        report.pop("labels")
    return result


def run(args: argparse.Namespace) -> dict:
    from albert_edge.data import load_reviews

    test = load_reviews().test
    results = []
    with tempfile.TemporaryDirectory(prefix="albert-edge-bench-") as tmp:
        work = Path(tmp)
        bundle4 = export_ours(args.checkpoint, work / "int4", args.int4_verify, args.int4_max_drop, weights="int4")
        results.append(
            measure(
                args.name,
                args.checkpoint,
                (args.bundle, bundle4),
                work / "default",
                test.texts[: args.texts],
                test.labels[: args.texts],
                args.int4_goal_mb,
                args,
            )
        )
        if args.base:
            base = albert_base_checkpoint(work / "base")
            # random weights: every prediction sits near 0.5, so the accuracy guard has nothing to protect
            bundle = export_ours(base, work / "base_bundle", "random", max_drop=100.0)
            bundle4 = export_ours(base, work / "base_int4", "random", max_drop=100.0, weights="int4")
            results.append(
                measure(
                    "albert-base-v2 shape (random weights)",
                    base,
                    (bundle, bundle4),
                    work / "base_run",
                    test.texts[: args.base_texts],
                    None,
                    BASE_INT4_GOAL_MB,
                    args,
                )
            )
    # Per review set beside char TF-IDF + LR on the same data and the published table (bench.model).
    model = judge_model(args.bundle, args.checkpoint) if args.tfidf else None
    return {
        "machine": describe_machine(1),
        "runs": args.runs,
        "rounds": args.rounds,
        "results": results,
        "tfidf_test_accuracy": model["baseline_on_the_same_data"]["snownlp"] if model else None,
        "model": model,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per contender and length (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="fresh-process rounds per contender (default 2)")
    parser.add_argument("--texts", type=int, default=1732, help="test reviews for throughput/accuracy (default all)")
    parser.add_argument("--base-texts", type=int, default=300, help="reviews for the albert-base throughput")
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--bundle", type=Path, default=ROOT / "runtime" / "albert_edge_runtime" / "default_bundle")
    parser.add_argument("--name", default="default model")
    parser.add_argument("--int4-max-drop", type=float, default=1.0, help="the INT4 export's guard, points (default 1)")
    parser.add_argument("--int4-goal-mb", type=float, default=2.0, help="the INT4 file's size goal (default 2.0)")
    parser.add_argument("--int4-verify", default="reviews-dev", help="the INT4 export's held-out data (default dev)")
    parser.add_argument("--no-base", dest="base", action="store_false", help="skip the albert-base-v2 shape")
    parser.add_argument("--no-all-cores", dest="all_cores", action="store_false", help="1-thread latency only")
    parser.add_argument(
        "--no-tfidf", dest="tfidf", action="store_false", help="skip the TF-IDF baselines and bench.model's table"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README whose table is updated")
    parser.add_argument("--render-only", action="store_true", help="rewrite report, plots, README from OUT's json")
    args = parser.parse_args(argv)
    if args.render_only:  # a change of the report's form needs no new measurement
        if not (args.out / "results.json").is_file():
            parser.error(f"--render-only needs {args.out / 'results.json'}; run python -m bench without it first")
        report = json.loads((args.out / "results.json").read_text())
    else:
        report = run(args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = markdown_report(report)
    (args.out / "report.md").write_text(markdown + "\n")
    plot(report, args.out)
    update_readme(args.readme, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
