"""Peak RSS of classifying real reviews with the memory levers onnxruntime offers, on and off (issue 4).

    .venv/bin/python scripts/memory_levers.py BUNDLE [--texts 1000] [--rounds 2]

Levers: pre-packing (SentimentClassifier.load(prepacking=...)) and the weights stored as ONNX external data,
which onnxruntime memory-maps instead of copying (tried on a temporary copy of the bundle; the export does not
write such bundles). Each figure is a fresh process that imports only the runtime, loads, and classifies the
first N test reviews; VmHWM at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
import json, sys
from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.memory import peak_rss_mib
clf = SentimentClassifier.load(sys.argv[1], prepacking=sys.argv[2] == "on")
clf.predict(open(sys.argv[3], encoding="utf-8").read().splitlines())
print(json.dumps(round(peak_rss_mib(), 1)))
"""


def external_data_copy(bundle: Path, out: Path) -> Path:
    """The bundle with model.onnx's weights moved to model.weights (the manifest's sha256 updated)."""
    import onnx

    from albert_edge_runtime.bundle import file_sha256

    shutil.copytree(bundle, out)
    model = onnx.load(str(out / "model.onnx"))
    onnx.save(model, str(out / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.weights", size_threshold=1024)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["model.onnx"]["sha256"] = file_sha256(out / "model.onnx")
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--texts", type=int, default=1000, help="first N test reviews (default 1000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from albert_edge.data import load_reviews

    with tempfile.TemporaryDirectory() as tmp:
        texts = Path(tmp) / "texts.txt"
        texts.write_text("\n".join(load_reviews().test.texts[:args.texts]), encoding="utf-8")
        source = args.bundle.resolve()
        bundles = {"as exported": source, "external data": external_data_copy(source, Path(tmp) / "ext")}
        for name, bundle in bundles.items():
            for prepacking in ("on", "off"):
                peaks = [json.loads(subprocess.run([sys.executable, "-c", PROBE, str(bundle), prepacking, str(texts)],
                                                   capture_output=True, text=True, check=True, cwd=tmp).stdout)
                         for _ in range(args.rounds)]
                print(f"{name:14s} pre-packing {prepacking:3s}: peak RSS {' / '.join(map(str, peaks))} MiB")


if __name__ == "__main__":
    main()
