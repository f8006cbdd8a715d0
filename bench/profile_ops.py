"""Where a model's batch-1 time goes: onnxruntime's profiler, kernel time summed per op type, 1 thread.

.venv/bin/python -m bench.profile_ops runtime/albert_edge_runtime/default_bundle/model.onnx --length 128
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "profile")
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(5, 100, size=(1, args.length), dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    names = {i.name for i in session.get_inputs()}
    for _ in range(args.runs):
        session.run(None, {k: v for k, v in feeds.items() if k in names})
    events = json.loads(Path(session.end_profiling()).read_text())
    micros, calls = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            micros[event["args"]["op_name"]] += event["dur"]
            calls[event["args"]["op_name"]] += 1
    total = sum(micros.values())
    for op, us in micros.most_common():
        print(f"{op:28s} {us / args.runs / 1000:8.3f} ms {100 * us / total:5.1f} %  {calls[op] // args.runs} per run")
    print(f"{'total kernel time':28s} {total / args.runs / 1000:8.3f} ms")


if __name__ == "__main__":
    main()
