"""The INT8 GEMM floor of an ALBERT shape: its weight GEMMs alone, chained, as onnxruntime's dynamic INT8 runs them.

One graph: the embedding mapping (E -> H), then per layer query, key, value and output (H -> H), the feed-forward
in (H -> I) and out (I -> H), chained so each feeds the next, with ONE set of weights reused by every layer as
ALBERT shares them; quantized by onnxruntime's `quantize_dynamic` with the export's settings (int8 symmetric
per-tensor weights). Everything else a model computes (attention's activation products, softmax, GELU, LayerNorm,
transposes) is what a whole model spends above this floor.

    .venv/bin/python -m bench.gemm_floor runtime/albert_edge_runtime/default_bundle [--runs 200]

times the bundle's graph against the floor of its shape, interleaved, at 16 / 32 / 64 / 128 tokens.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

LENGTHS = (16, 32, 64, 128)


def floor_graph(embedding: int, hidden: int, intermediate: int, layers: int, out: Path) -> Path:
    """The chained weight GEMMs of the shape, fp32, then dynamic INT8 (written to `out`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    shapes = {"map": (embedding, hidden), "q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden),
              "o": (hidden, hidden), "ffn": (hidden, intermediate), "ffn_out": (intermediate, hidden)}  # fmt: skip
    weights = [numpy_helper.from_array((rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32), n)
               for n, s in shapes.items()]  # fmt: skip
    nodes, x = [helper.make_node("MatMul", ["x", "map"], ["h0"])], "h0"
    for layer in range(layers):
        for name in ("q", "k", "v", "o", "ffn", "ffn_out"):
            y = f"{name}{layer}"
            nodes.append(helper.make_node("MatMul", [x, name], [y]))
            x = y
    graph = helper.make_graph(
        nodes,
        "gemm_floor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", embedding])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, "T", hidden])],
        weights,
    )
    fp32 = out.with_suffix(".fp32.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(fp32))
    quantize_dynamic(str(fp32), str(out), per_channel=False, reduce_range=False, weight_type=QuantType.QInt8,
                     extra_options={"MatMulConstBOnly": True, "WeightSymmetric": True})  # fmt: skip
    fp32.unlink()
    return out


def floor_runner(path: Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # DynamicQuantizeMatMul fusion
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    embedding = session.get_inputs()[0].shape[-1]

    def run(feeds: dict) -> object:
        length = feeds["input_ids"].shape[1]
        return session.run(None, {"x": np.ones((1, length, embedding), np.float32)})

    return run


def floor_for(config: dict, work: Path) -> Path:
    """The floor graph of a Hugging Face config.json's shape, built once into `work`."""
    shape = [config[k] for k in ("embedding_size", "hidden_size", "intermediate_size", "num_hidden_layers")]
    path = work / f"gemm-floor-{'x'.join(map(str, shape))}.onnx"
    return path if path.is_file() else floor_graph(*shape, path)


def main() -> None:
    from bench.latency import feeds_of_length, interleaved, ort_runner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a bundle folder (its config.json gives the shape)")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    config = json.loads((args.bundle / "config.json").read_text())
    floor = floor_for(config, Path(tempfile.mkdtemp(prefix="gemm-floor-")))
    runners = {"model": ort_runner(str(args.bundle / "model.onnx"), 1), "floor": floor_runner(floor)}
    rows = {}
    for length in LENGTHS:
        times = interleaved(runners, feeds_of_length(length, config["vocab_size"]), args.runs, warmup=10)
        model, gemms = times["model"]["p50_ms"], times["floor"]["p50_ms"]
        rows[str(length)] = {"model_ms": model, "floor_ms": gemms, "model_over_floor": model / gemms}
    print(json.dumps({"bundle": str(args.bundle), "shape": config.get("hidden_size"), "by_length": rows}, indent=2))


if __name__ == "__main__":
    main()
