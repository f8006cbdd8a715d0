"""`albert-edge export`: checkpoint folder -> verified INT8 device bundle."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from albert_edge.record import DEFAULT_SPLIT_SEED, TrainingRecord

from .contract import BATCH_TOLERANCE, INT4_AUTO_BLOCK, WEIGHTS


def add_export_parser(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "export",
        help="export a checkpoint to a shared-weight INT8 (or 4-bit) ONNX bundle, with an accuracy guard",
        description="Steps: export_fp32 (checked against PyTorch) -> optimize (fold, fuse, merge "
        "identical weights) -> quantize (dynamic INT8, or 4-bit blocks) -> verify (fp32 vs quantized on held-out "
        "data; guard with fallback) -> bundle (model.onnx, tokenizer.json, manifest.json, "
        "config.json) -> end-to-end guard (raw text through the runtime vs transformers' "
        "tokenizer + PyTorch model, alone and in mixed-length batches).",
    )
    p.add_argument("checkpoint", type=Path, help="HF-style folder: config.json, model.safetensors, tokenizer files")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to create (must not exist or be empty)")
    p.add_argument(
        "--verify-data",
        default="auto",
        help="held-out real text the quantized model is judged on: reviews-dev, probes (built-in sentences "
        "in eight languages), a CSV/TSV/JSONL file with text and label columns, or a UTF-8 file with one text per "
        "line ('label<TAB>text' lines give accuracy); random (word soups) only where quality does not matter. "
        "auto: the dev data the checkpoint was trained with (training.json), else probes",
    )
    p.add_argument(
        "--max-drop",
        type=float,
        default=0.5,
        help="allowed accuracy drop of the quantized model in points (default 0.5)",
    )
    p.add_argument(
        "--fallback-limit",
        type=int,
        default=4,
        help="at most this many shared weights the guard keeps one step wider (fp32; INT8 with --weights int4) "
        "before failing (default 4)",
    )
    p.add_argument(
        "--keep-fp32",
        action="append",
        default=[],
        metavar="PATTERN",
        help="node name pattern (fnmatch) kept fp32, e.g. '*classifier*'; repeatable",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per text, specials included (default: the length the checkpoint was trained with, "
        "from training.json; else its max_position_embeddings, at most 512)",
    )
    p.add_argument(
        "--truncation",
        choices=["head", "head+tail"],
        default=None,
        help="default: the checkpoint's training setting (training.json), else head, as transformers truncates",
    )
    p.add_argument(
        "--languages",
        default=None,
        help="comma-separated languages the model reads, recorded in the manifest (the runtime warns "
        "on texts without them); default: zh for checkpoints trained by albert-edge, else none",
    )
    p.add_argument(
        "--weights",
        choices=list(WEIGHTS),
        default="int8",
        help="int8 (default): dynamic INT8, guarded; int4: 4-bit blocks for MatMul weights and embedding tables "
        "(about half of INT8's bytes), guarded with fallback to INT8 per weight; fp32: the optimised graph "
        "unquantised (about 4x larger; answers like transformers to float precision)",
    )
    p.add_argument(
        "--int4-block-size",
        type=block_size,
        default=INT4_AUTO_BLOCK,
        help="with --weights int4: MatMul weights per 4-bit scale, a power of two >= 16, or auto (default): 128 "
        "when the model's embedding, hidden and feed-forward widths are multiples of 128, else 64",
    )
    p.add_argument(
        "--int4-asymmetric",
        action="store_true",
        help="with --weights int4: blocks with zero points (default: symmetric, smaller)",
    )
    p.add_argument(
        "--batch-tolerance",
        type=float,
        default=BATCH_TOLERANCE,
        help="largest change of a text's probability its batch neighbours may cause before the bundle is "
        f"refused (default {BATCH_TOLERANCE}: dynamic INT8 picks activation scales per batch)",
    )
    p.add_argument(
        "--per-channel",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="per-output-channel weight scales (default off: slower at batch 1 for the same dev accuracy on "
        "the default model; docs/measurements.md)",
    )
    p.add_argument(
        "--quantize-embeddings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store embedding tables as INT8 too (default on; they are most of a small model)",
    )
    p.add_argument(
        "--fuse-attention",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="onnxruntime attention fusion (off: it copies QKV weights per layer)",
    )
    p.set_defaults(handler=run_export_command)


def block_size(text: str) -> int:
    """`--int4-block-size`: auto, or a number (the pipeline checks it is a power of two >= 16)."""
    if text == "auto":
        return INT4_AUTO_BLOCK
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a block size; give auto, 64 or 128")
    return int(text)


def _languages(flag: str | None, record: TrainingRecord | None) -> list[str]:
    if flag is None:  # the built-in reviews are Chinese; a user's own data may be in any language
        return ["zh"] if record is not None and record.builtin_reviews else []
    return [lang.strip() for lang in flag.split(",") if lang.strip()]


def _verify_data(flag: str, record: TrainingRecord | None) -> tuple[str, tuple[str, str]]:
    """auto: the dev file the checkpoint was trained with, the built-in reviews' dev split, or the probes."""
    columns = record.columns if record is not None else ("text", "label")
    if flag != "auto":
        return flag, columns
    if record is None:
        return "probes", columns
    return record.files.get("dev", "reviews-dev" if record.builtin_reviews else "probes"), columns


def run_export_command(args: argparse.Namespace) -> int:
    from albert_edge.checkpoint import text_settings

    from .pipeline import ExportOptions, run_export

    # A missing folder falls through to run_export, whose error names it.
    trained_length, trained_truncation = text_settings(args.checkpoint) if args.checkpoint.is_dir() else (512, "head")
    record = TrainingRecord.load(args.checkpoint) if args.checkpoint.is_dir() else None
    verify_data, verify_columns = _verify_data(args.verify_data, record)
    options = ExportOptions(
        checkpoint=args.checkpoint,
        out=args.out,
        max_drop=args.max_drop,
        verify_data=verify_data,
        verify_columns=verify_columns,
        max_length=args.max_length or trained_length,
        truncation=args.truncation or trained_truncation,
        per_channel=args.per_channel,
        quantize_embeddings=args.quantize_embeddings,
        keep_fp32=args.keep_fp32,
        fallback_limit=args.fallback_limit,
        fuse_attention=args.fuse_attention,
        weights=args.weights,
        int4_block_size=args.int4_block_size,
        int4_symmetric=not args.int4_asymmetric,
        languages=_languages(args.languages, record),
        split_seed=record.split_seed if record is not None else DEFAULT_SPLIT_SEED,
        batch_tolerance=args.batch_tolerance,
        command="albert-edge " + shlex.join(sys.argv[1:]),
    )
    out = run_export(options)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(json.dumps({"bundle": str(out), **manifest["metrics"]}))
    return 0
