"""What any runtime process costs before our model's weights: the floor under issue 4's memory goals.

    .venv/bin/python scripts/memory_floor.py [BUNDLE]

Prints peak RSS (VmHWM) of a fresh process after: the imports the runtime needs (numpy, onnxruntime, with
telemetry off as the runtime sets it); a trivial onnxruntime session (one Identity node) that has run once; the
bundle's tokenizer (the built-in WordPiece for WordPiece bundles) loaded and used once; then the bundle loaded by
SentimentClassifier and one prediction. The trivial model is written by
this (parent) process with onnx; the measuring child imports only what the runtime imports.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import os, sys
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import numpy as np, onnxruntime as ort
def peak_rss_mib():
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(f"imports numpy + onnxruntime                   {peak_rss_mib():6.1f} MiB")
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
session.run(None, {"x": np.ones(1, np.float32)})
print(f"+ trivial session, run once                   {peak_rss_mib():6.1f} MiB")
from albert_edge_runtime.bundle import read_bundle
from albert_edge_runtime.classifier import SentimentClassifier, default_bundle_path
from albert_edge_runtime.encoding import load_tokenizer_json
bundle = read_bundle(sys.argv[2] if sys.argv[2] != "-" else default_bundle_path())
load_tokenizer_json(bundle.tokenizer_json).encode("这个产品很好")
print(f"+ the bundle's tokenizer, used once           {peak_rss_mib():6.1f} MiB")
SentimentClassifier.load(None if sys.argv[2] == "-" else sys.argv[2]).predict(["这个产品很好"])
print(f"+ SentimentClassifier.load + one prediction   {peak_rss_mib():6.1f} MiB")
"""


def trivial_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "trivial", value[:1], value[1:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def main() -> None:
    bundle = sys.argv[1] if len(sys.argv) > 1 else "-"
    with tempfile.TemporaryDirectory() as tmp:
        model = trivial_model(Path(tmp) / "trivial.onnx")
        subprocess.run([sys.executable, "-c", CHILD, str(model), bundle], check=True, cwd=tmp)


if __name__ == "__main__":
    main()
