"""`albert-edge export`: checkpoint folder -> verified INT8 device bundle."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .options import add_option_flags, options_from_args


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint to a shared-weight INT8 (or 4-bit) ONNX bundle, with an accuracy guard",
        description="Steps: export_fp32 (checked against PyTorch) -> optimize (fold, fuse, merge "
        "identical weights) -> quantize (dynamic INT8, or 4-bit blocks) -> verify (fp32 vs quantized on held-out "
        "real text; guard with fallback) -> bundle (model.onnx, tokenizer.json, manifest.json, "
        "config.json) -> end-to-end guard (raw text through the runtime vs transformers' "
        "tokenizer + PyTorch model; the graph in padded mixed-length batches).",
    )
    p.add_argument("checkpoint", type=Path, help="HF-style folder: config.json, model.safetensors, tokenizer files")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to create (must not exist or be empty)")
    add_option_flags(p)
    p.set_defaults(handler=run_export_command)


def run_export_command(args: argparse.Namespace) -> int:
    from .pipeline import run_export

    out = run_export(options_from_args(args, "albert-edge " + shlex.join(sys.argv[1:])))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(json.dumps({"bundle": str(out), **manifest["metrics"]}))
    return 0
