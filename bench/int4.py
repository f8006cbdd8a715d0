"""4-bit bundles against INT8, measured: the block-size / symmetry sweep on the default model (bytes, test accuracy
through the runtime), the albert-base shape's bytes, batch-1 latency at 1 thread interleaved INT4 vs INT8, and
peak RSS classifying 1 000 test reviews in fresh processes.

    .venv/bin/python -m bench.int4 runs/int4 [--runs 200] [--no-sweep] [--rounds 3] [--accuracy-levels]

Prints one JSON object (also written to OUT/int4.json). Bundles are built into OUT and reused by later calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = [(32, True), (64, True), (128, True), (64, False)]


def export(checkpoint: Path, out: Path, weights: str, verify_data: str, max_drop: float, **int4) -> Path:
    from albert_edge_export.pipeline import ExportOptions, run_export

    if not (out / "manifest.json").is_file():
        options = ExportOptions(checkpoint=checkpoint, out=out, weights=weights, verify_data=verify_data,
                                max_drop=max_drop, max_length=128, truncation="head+tail", per_channel=False,
                                batch_tolerance=0.05, **int4)  # fmt: skip
        run_export(options)
    return out


def base_bytes(out: Path) -> dict[str, int]:
    """The albert-base-v2 shape (random weights, 30 000-piece vocabulary) exported both ways."""
    from bench.shapes import albert_base_with_vocabulary, vocabulary_texts

    checkpoint = out / "base"
    if not (checkpoint / "config.json").is_file():
        albert_base_with_vocabulary(checkpoint)
    verify = out / "verify-base.txt"
    verify.write_text("\n".join(vocabulary_texts(checkpoint, 20, seed=1)), encoding="utf-8")
    # random weights: every prediction sits near 0.5, so the accuracy guard has nothing to protect
    return {w: model_bytes(export(checkpoint, out / f"base-{w}", w, str(verify), 100.0)) for w in ("int8", "int4")}


def runtime_test_accuracy(bundle: Path) -> float:
    from albert_edge.data import load_reviews
    from albert_edge_runtime import SentimentClassifier

    test = load_reviews().test
    clf = SentimentClassifier.load(bundle)
    labels = [clf.labels.index(p.label) for p in clf.predict(test.texts)]
    return round(100 * sum(a == b for a, b in zip(labels, test.labels)) / len(labels), 2)


def model_bytes(bundle: Path) -> int:
    return json.loads((bundle / "manifest.json").read_text())["metrics"]["model_bytes"]


def latency(bundles: dict[str, Path], runs: int) -> dict:
    from .latency import ort_runner

    runners = {name: ort_runner(str(b / "model.onnx"), 1) for name, b in bundles.items()}
    table = by_length(runners, bundles["int4"], runs)
    for result in table.values():
        result["int4_over_int8"] = round(result["int4"]["p50_ms"] / result["int8"]["p50_ms"], 3)
    return table


def by_length(runners: dict, bundle: Path, runs: int) -> dict:
    """Batch-1 latency of `runners` interleaved at seq 32 and 128, on token ids from `bundle`'s vocabulary."""
    from .latency import feeds_of_length, interleaved

    vocab = json.loads((bundle / "config.json").read_text())["vocab_size"]
    return {str(n): interleaved(runners, feeds_of_length(n, vocab), runs, warmup=10) for n in (32, 128)}


def accuracy_levels(bundle: Path, out: Path, runs: int) -> dict:
    """The default 4-bit graph with MatMulNBits' `accuracy_level` set to 0, 1 (fp32 compute) and 4 (int8),
    batch-1 latency at 1 thread, interleaved: does another compute type make 4 bits fast?"""
    import onnx

    from .latency import ort_runner

    runners = {}
    for level in (0, 1, 4):
        model = with_accuracy_level(onnx.load(str(bundle / "model.onnx")), level)
        path = out / f"accuracy-level-{level}" / "model.onnx"
        path.parent.mkdir(exist_ok=True)
        onnx.save(model, str(path), save_as_external_data=True, location="model.onnx.data")
        runners[str(level)] = ort_runner(str(path), 1)
    return by_length(runners, bundle, runs)


def with_accuracy_level(model, level: int):
    """`model` (an onnx.ModelProto) with every MatMulNBits computing at `accuracy_level` = `level`."""
    for node in (n for n in model.graph.node if n.op_type == "MatMulNBits"):
        next(a for a in node.attribute if a.name == "accuracy_level").i = level
    return model


def memory(bundles: dict[str, Path], texts: Path, rounds: int) -> dict:
    from albert_edge_runtime.memory_probe import measure

    runs: dict[str, list[dict]] = {name: [] for name in bundles}
    for _ in range(rounds):  # interleaved rounds: page-cache state drifts alike for both
        for name, bundle in bundles.items():
            runs[name].append(measure(bundle, texts))
    keys = ("peak_mib", "floor_mib", "added_mib")
    return {name: {k: statistics.median(r[k] for r in reports) for k in keys} for name, reports in runs.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=200, help="timed batch-1 runs per bundle and length")
    parser.add_argument("--rounds", type=int, default=3, help="fresh-process memory rounds per bundle")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false", help="skip the block-size sweep")
    parser.add_argument("--no-timing", dest="timing", action="store_false", help="sizes and accuracy only")
    parser.add_argument("--accuracy-levels", action="store_true", help="also time accuracy_level 0 / 1 / 4")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from albert_edge.data import load_reviews

    default = ROOT / "models" / "default"
    bundles = {
        "int8": export(default, args.out / "int8", "int8", "reviews-dev", 0.5),
        "int4": export(default, args.out / "int4", "int4", "reviews-dev", 1.0),
    }
    report: dict = {"default": {name: {"bytes": model_bytes(b), "test_accuracy": runtime_test_accuracy(b)}
                                for name, b in bundles.items()}}  # fmt: skip
    if args.sweep:
        report["sweep"] = []
        for block, symmetric in SWEEP:
            name = f"int4-b{block}-{'sym' if symmetric else 'asym'}"
            bundle = export(default, args.out / name, "int4", "reviews-dev", 100.0, int4_block_size=block,
                            int4_symmetric=symmetric)  # fmt: skip
            report["sweep"].append({"block_size": block, "symmetric": symmetric, "bytes": model_bytes(bundle),
                                    "test_accuracy": runtime_test_accuracy(bundle)})  # fmt: skip
    report["albert_base_bytes"] = base_bytes(args.out)
    if args.timing:  # on a quiet machine: the other figures do not care, these do
        report["latency_ms_1_thread"] = latency(bundles, args.runs)
        texts = args.out / "texts-default.txt"
        texts.write_text("\n".join(load_reviews().test.texts[:1000]), encoding="utf-8")
        report["memory_1000_reviews"] = memory(bundles, texts, args.rounds)
    if args.timing and args.accuracy_levels:
        report["accuracy_level_ms_1_thread"] = accuracy_levels(bundles["int4"], args.out, args.runs)
    (args.out / ("int4.json" if args.timing else "int4-sizes.json")).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
