"""The accuracy guard of step 3: quantize, measure the drop against fp32 on held-out data, and while it exceeds
the allowed points keep the most sensitive shared weight one step wider (INT8 -> fp32, INT4 -> INT8)."""

from __future__ import annotations

from pathlib import Path

import onnx
from tqdm import tqdm

from .contract import INT4_EMBEDDING_BLOCK_SIZE
from .options import ExportOptions
from .quantize import nodes_matching, nodes_using, quantize_int4, quantize_int8
from .report import WeightFormat, weight_format
from .texts import describe
from .verify import Verification, compare, onnx_file_logits


class AccuracyGuardError(RuntimeError):
    """The quantized model lost more accuracy than allowed and the fallback could not recover it."""


def weight_candidates(model: onnx.ModelProto, fmt: WeightFormat) -> list[str]:
    """Initializers the guard may widen: MatMul weights, and with int4 the embedding tables too."""
    inits = {i.name for i in model.graph.initializer}
    index = {"MatMul": 1, "Gather": 0}
    return sorted({n.input[index[n.op_type]] for n in model.graph.node if n.op_type in fmt.guard_ops} & inits)


def quantize_keeping(options: ExportOptions, model: onnx.ModelProto, base: Path, out: Path, wider: list[str]) -> Path:
    """Quantize `base` as `options.weights` says, with the nodes using `wider` weights one step wider."""
    fp32_nodes = nodes_matching(model, options.keep_fp32)
    if weight_format(options.weights).blocks:
        if not options.quantize_embeddings:
            fp32_nodes += [n.name for n in model.graph.node if n.op_type == "Gather"]
        return quantize_int4(
            base,
            out,
            options.int4_block_size,
            INT4_EMBEDDING_BLOCK_SIZE,
            options.int4_symmetric,
            nodes_using(model, wider),
            fp32_nodes,
        )
    fp32_nodes += nodes_using(model, wider)
    return quantize_int8(base, out, options.per_channel, options.quantize_embeddings, fp32_nodes)


def guarded_quantize(
    options: ExportOptions,
    work: Path,
    base: Path,
    fp32_logits,
    encoded,
    truth,
    names: dict[str, str],
) -> tuple[Path, Verification, list[str]]:
    """Quantize the fp32 graph `base`; while the drop exceeds the guard, keep the most sensitive shared weight one
    step wider (the one whose wider copy recovers the most agreement). Returns (file, result, widened weights)."""
    model = onnx.load(str(base))
    fmt = weight_format(options.weights)
    weights = weight_candidates(model, fmt)
    kept: list[str] = []

    def attempt(extra: list[str], name: str) -> tuple[Path, Verification]:
        out = quantize_keeping(options, model, base, work / f"{name}.onnx", kept + extra)
        return out, compare(fp32_logits, onnx_file_logits(out, encoded), truth)

    path, result = attempt([], options.weights)
    while result.drop_points > options.max_drop and len(kept) < options.fallback_limit:
        candidates = [w for w in weights if w not in kept]
        if not candidates:
            break  # every weight already wider: nothing left to try
        trials = {
            w: attempt([w], f"try{i}")
            for i, w in enumerate(tqdm(candidates, desc=f"guard: drop {result.drop_points:.2f} pt, probing"))
        }
        best = min(trials, key=lambda w: (trials[w][1].drop_points, trials[w][1].max_logit_error))
        kept.append(best)
        path, result = trials[best]
    if result.drop_points > options.max_drop:
        wider = fmt.wider
        raise AccuracyGuardError(
            f"{fmt.name.upper()} loses {result.drop_points:.2f} accuracy points (allowed {options.max_drop}) "
            f"even with {len(kept)} weights kept {wider} ({', '.join(names.get(k, k) for k in kept) or 'none'}); "
            "raise --max-drop or --fallback-limit, or keep more nodes with --keep-fp32 "
            f"({describe(options.verify_data, len(encoded))})"
        )
    return path, result, kept
