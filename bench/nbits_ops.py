"""One MatMul at a time: onnxruntime's 4-bit `MatMulNBits` (every block size x accuracy_level) against the dynamic
INT8 MatMul our INT8 bundles use, batch 1, 1 thread, interleaved. Answers whether any 4-bit setting reaches INT8's
speed, independent of the rest of the graph.

    .venv/bin/python -m bench.nbits_ops OUT [--runs 200]

Weights are random (speed does not depend on their values); both variants come from the export's own quantizers.
Prints one JSON object (also written to OUT/nbits_ops.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# (K, N) of the MatMuls in an ALBERT layer: attention projections, feed-forward in and out
SHAPES = {
    "default model": [(312, 312), (312, 1248), (1248, 312)],
    "albert-base": [(768, 768), (768, 3072), (3072, 768)],
}
BLOCKS, LEVELS, LENGTHS = (32, 64, 128), (0, 4), (32, 128)


def one_matmul(k: int, n: int, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from albert_edge_export.contract import INT4_IR_VERSION, INT4_OPSET

    weight = np.random.default_rng(k * n).standard_normal((k, n)).astype(np.float32) * 0.05
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")],
        "one_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "T", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", INT4_OPSET)])
    model.ir_version = INT4_IR_VERSION
    onnx.save(model, str(path))
    return path


def variants(k: int, n: int, out: Path) -> dict[str, Path]:
    """The INT8 graph and one 4-bit graph per block size and accuracy level, all from one fp32 MatMul."""
    import onnx

    from albert_edge_export.quantize import quantize_int4, quantize_int8

    from .int4 import with_accuracy_level

    fp32 = one_matmul(k, n, out / f"fp32-{k}x{n}.onnx")
    files = {"int8": quantize_int8(fp32, out / f"int8-{k}x{n}.onnx", False, False, [])}
    for block in BLOCKS:
        int4 = quantize_int4(fp32, out / f"int4-{k}x{n}-b{block}.onnx", block, block, True, [], [])
        for level in LEVELS:
            model = with_accuracy_level(onnx.load(str(int4)), level)
            files[f"b{block}-level{level}"] = out / f"int4-{k}x{n}-b{block}-level{level}.onnx"
            onnx.save(model, str(files[f"b{block}-level{level}"]))
    return files


def measure(k: int, n: int, out: Path, runs: int) -> dict:
    from .latency import interleaved, ort_runner

    runners = {name: ort_runner(str(path), 1) for name, path in variants(k, n, out).items()}
    table = {}
    for length in LENGTHS:
        feeds = {"x": np.random.default_rng(length).standard_normal((1, length, k)).astype(np.float32)}
        times = {name: t["p50_ms"] * 1000 for name, t in interleaved(runners, feeds, runs, warmup=20).items()}
        int8 = times.pop("int8")
        best = min(times, key=lambda name: times[name])
        ratios = {name: round(t / int8, 2) for name, t in times.items()}
        table[str(length)] = {"int8_us": round(int8, 1), "int4_over_int8": ratios, "best": best,
                              "best_over_int8": ratios[best]}  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per variant, shape and length")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {model: {f"{k}x{n}": measure(k, n, args.out, args.runs) for k, n in shapes}
              for model, shapes in SHAPES.items()}  # fmt: skip
    (args.out / "nbits_ops.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
