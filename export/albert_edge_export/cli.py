"""`albert-edge export`: checkpoint folder -> verified INT8 device bundle."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
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
    p.add_argument(
        "--variants",
        action="store_true",
        help="write the fp32, int8 and int4 exports into OUT/fp32, OUT/int8 and OUT/int4 in one call (--weights is "
        "ignored), for `albert-edge-run bench --recommend OUT/fp32 OUT/int8 OUT/int4` on the device",
    )
    p.set_defaults(handler=run_export_command)


VARIANTS = ("fp32", "int8", "int4")  # most precise first, as `bench --recommend` compares them


def run_export_command(args: argparse.Namespace) -> int:
    from .pipeline import run_export

    options = options_from_args(args, "albert-edge " + shlex.join(sys.argv[1:]))
    each = [replace(options, weights=w, out=Path(options.out) / w) for w in VARIANTS] if args.variants else [options]
    for one in each:  # one JSON line per bundle written
        out = run_export(one)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        print(json.dumps({"bundle": str(out), **manifest["metrics"]}), flush=True)
    return 0
