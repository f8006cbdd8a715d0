"""How much the default INT8 model moves on ONE machine when onnxruntime's fusions are switched on or off: the
yardstick for the ARM parity contract (docs/arm.md).

    .venv/bin/python -m bench.int8_fusion_noise [--commit 09e7d61] [--texts 400]

Takes the unfused INT8 graph of a format-2 default bundle from git (bundles since format 3 are fused at export),
runs the first N test reviews one text per run with graph optimisation `all` and `disable`, and prints the
largest and median per-text logit difference and how many texts move by more than 1e-3.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = "runtime/albert_edge_runtime/default_bundle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default="09e7d61", help="a commit whose default bundle is format 2")
    parser.add_argument("--texts", type=int, default=400)
    args = parser.parse_args()
    from albert_edge.data import load_reviews
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.session import RuntimeOptions, logits_alone, make_session

    clf = SentimentClassifier.load()  # its tokenizer and settings equal the old bundle's
    rows = clf.encoder.encode_batch(load_reviews().test.texts[: args.texts])
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.onnx"
        model.write_bytes(
            subprocess.run(
                ["git", "show", f"{args.commit}:{BUNDLE}/model.onnx"], cwd=ROOT, check=True, capture_output=True
            ).stdout
        )
        logits = {}
        for level in ("all", "disable"):
            session = make_session(str(model), RuntimeOptions(optimization=level))
            logits[level] = np.concatenate([logits_alone(session, [r]) for r in rows])
    per_text = np.abs(logits["all"] - logits["disable"]).max(axis=1)
    print(
        f"INT8 default model, fusions on vs off, {len(rows)} texts one per run: max {per_text.max():.1e}, "
        f"median {np.median(per_text):.1e}, texts over 1e-3: {int((per_text > 1e-3).sum())}"
    )


if __name__ == "__main__":
    main()
