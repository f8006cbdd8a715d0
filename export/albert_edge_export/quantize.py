"""Step 3: dynamic INT8, or 4-bit blocks, with onnxruntime's quantizers, every argument spelled out."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

from .contract import INT4_ACCURACY_LEVEL, INT4_ARM_BLOCK_SIZES, INT4_BLOCK_SIZES, INT4_IR_VERSION, INT4_OPSET
from .graph import dedupe_initializers, gemm_as_matmul


def nodes_matching(model: onnx.ModelProto, patterns: list[str]) -> list[str]:
    """Node names matching any fnmatch pattern, e.g. '*classifier*' or '/albert/pooler/*'."""
    return [n.name for n in model.graph.node if any(fnmatch.fnmatch(n.name, p) for p in patterns)]


def nodes_using(model: onnx.ModelProto, initializers: list[str]) -> list[str]:
    """Every node that consumes one of `initializers`: a shared weight is kept fp32 in all its uses or none."""
    wanted = set(initializers)
    return [n.name for n in model.graph.node if wanted.intersection(n.input)]


def quantize_int8(
    in_path: Path,
    out_path: Path,
    per_channel: bool,
    quantize_embeddings: bool,
    keep_fp32_nodes: list[str],
    only_nodes: list[str] | None = None,
) -> Path:
    """INT8 weights for MatMul (and Gather = embeddings, if chosen); activations quantized per call (dynamic).
    `only_nodes`: quantize these nodes only (None: every node of those types)."""
    op_types = ["MatMul", "Gather"] if quantize_embeddings else ["MatMul"]
    quantize_dynamic(
        model_input=str(in_path),
        model_output=str(out_path),
        op_types_to_quantize=op_types,
        per_channel=per_channel,
        reduce_range=False,  # VNNI/ARM dot-product kernels handle the full int8 range
        weight_type=QuantType.QInt8,  # signed weights: the fast path for onnxruntime's ARM and x86 kernels
        nodes_to_quantize=only_nodes,
        nodes_to_exclude=keep_fp32_nodes,
        use_external_data_format=False,
        extra_options={
            "MatMulConstBOnly": True,  # never quantize activation x activation (attention) MatMuls
            "EnableSubgraph": False,
            "ForceQuantizeNoInputCheck": False,
            "WeightSymmetric": True,
            "ActivationSymmetric": False,
            # Fused com.microsoft ops (BiasGelu, SkipLayerNormalization) defeat ONNX shape inference; their outputs
            # are fp32, so say so instead of failing.
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
    model = onnx.load(str(out_path))
    if dedupe_initializers(model):
        onnx.save(model, str(out_path))
    return out_path


def int4_ready(in_path: Path, out_path: Path) -> Path:
    """The fp32 graph in the form the 4-bit quantizer takes: Gemm as MatMul (it quantizes MatMul only), and
    opset 21 / IR 10, the first with 4-bit tensors (converted here, not forced by the quantizer)."""
    model = onnx.load(str(in_path))
    gemm_as_matmul(model)
    model = version_converter.convert_version(model, INT4_OPSET)
    model.ir_version = max(model.ir_version, INT4_IR_VERSION)
    onnx.save(model, str(out_path))
    return out_path


def arm_block_size(weights_by_k: dict[int, int]) -> int:
    """The block of INT4_ARM_BLOCK_SIZES that divides the K of the most weights (`weights_by_k`: K -> weights
    with that K), the larger on a tie: those MatMuls take KleidiAI's int8 kernels on ARM with dot product."""
    ready = {b: sum(n for k, n in weights_by_k.items() if k % b == 0) for b in INT4_ARM_BLOCK_SIZES}
    return max(INT4_ARM_BLOCK_SIZES, key=lambda b: (ready[b], b))


def nbits_matmuls(model: onnx.ModelProto) -> list[dict[str, int]]:
    """The graph's MatMulNBits grouped by (bits, K, block_size), with how many of each: what decides the kernel
    a device runs them on (`albert-edge-run doctor --bundle`)."""
    counts: dict[tuple[int, int, int], int] = {}
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            a = {attr.name: attr.i for attr in node.attribute}
            key = (a["bits"], a["K"], a["block_size"])
            counts[key] = counts.get(key, 0) + 1
    return [{"bits": b, "K": k, "block_size": blk, "count": n} for (b, k, blk), n in sorted(counts.items())]


def int4_block_size(widths: list[int]) -> int:
    """The largest of INT4_BLOCK_SIZES that divides every MatMul's K (`widths`), else the smallest: fewer scales
    where no block needs padding, little padding where none divides."""
    fitting = [b for b in INT4_BLOCK_SIZES if all(w % b == 0 for w in widths)]
    return max(fitting) if fitting else min(INT4_BLOCK_SIZES)


def quantize_int4(
    in_path: Path,
    out_path: Path,
    block_size: int,
    embedding_block_size: int,
    symmetric: bool,
    int8_nodes: list[str],
    keep_fp32_nodes: list[str],
) -> Path:
    """4-bit block-quantized weights: MatMul -> MatMulNBits (blocks of `block_size` along K), embedding Gather ->
    GatherBlockQuantized (blocks of `embedding_block_size` along the row). `int8_nodes` get 8 bits instead (the
    guard's fallback): MatMuls as 8-bit MatMulNBits, embeddings as dynamic INT8's Gather + DequantizeLinear."""
    model = onnx.load(str(in_path))
    int8_gathers = nodes_of_type(model, "Gather", int8_nodes)
    source = in_path
    if int8_gathers:  # first, on the plain graph: the INT8 quantizer cannot infer the shapes of contrib ops
        source = out_path.with_suffix(".int8-gathers.tmp.onnx")
        quantize_int8(in_path, source, False, True, keep_fp32_nodes, only_nodes=int8_gathers)
        model = onnx.load(str(source))
    skipped = set(int8_nodes) | set(keep_fp32_nodes)
    model = _nbits(model, 4, "MatMul", block_size, symmetric, exclude=skipped)
    model = _nbits(model, 4, "Gather", embedding_block_size, symmetric, exclude=skipped)
    if nodes_of_type(model, "MatMul", int8_nodes):  # what 4 bits skipped, less what stays fp32, gets 8 bits
        model = _nbits(model, 8, "MatMul", block_size, symmetric, exclude=set(keep_fp32_nodes))
    dedupe_initializers(model)
    onnx.save(model, str(out_path))
    if source != in_path:
        source.unlink()
    return out_path


def nodes_of_type(model: onnx.ModelProto, op_type: str, names: list[str]) -> list[str]:
    wanted = set(names)
    return [n.name for n in model.graph.node if n.op_type == op_type and n.name in wanted]


def _nbits(
    model: onnx.ModelProto,
    bits: int,
    op_type: str,
    block_size: int,
    symmetric: bool,
    exclude: set[str],
) -> onnx.ModelProto:
    """One pass of onnxruntime's MatMulNBitsQuantizer over `op_type` nodes with a constant weight."""
    config = DefaultWeightOnlyQuantConfig(
        block_size=block_size,
        is_symmetric=symmetric,
        accuracy_level=INT4_ACCURACY_LEVEL,
        quant_format=QuantFormat.QOperator,  # contrib ops that keep the packed weights (QDQ would unpack them)
        op_types_to_quantize=(op_type,),
        quant_axes=(("MatMul", 0), ("Gather", 1)),  # MatMul: blocks along K; embeddings: along each row
        bits=bits,
        channel_wised_quantize=False,
    )
    quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=sorted(exclude), nodes_to_include=None, algo_config=config)
    log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = log.level
    log.setLevel(logging.WARNING)  # it logs every node it visits at INFO
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero block (a padding row) has scale 0
            quantizer.process()
    finally:
        log.setLevel(level)
    return quantizer.model.model
