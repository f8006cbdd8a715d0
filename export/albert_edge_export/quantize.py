"""Step 3: dynamic INT8 with onnxruntime's quantizer, every argument spelled out."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from .graph import dedupe_initializers


def nodes_matching(model: onnx.ModelProto, patterns: list[str]) -> list[str]:
    """Node names matching any fnmatch pattern, e.g. '*classifier*' or '/albert/pooler/*'."""
    return [n.name for n in model.graph.node if any(fnmatch.fnmatch(n.name, p) for p in patterns)]


def nodes_using(model: onnx.ModelProto, initializers: list[str]) -> list[str]:
    """Every node that consumes one of `initializers`: a shared weight is kept fp32 in all its uses or none."""
    wanted = set(initializers)
    return [n.name for n in model.graph.node if wanted.intersection(n.input)]


def quantize(
    in_path: Path, out_path: Path, per_channel: bool, quantize_embeddings: bool, keep_fp32_nodes: list[str]
) -> Path:
    """INT8 weights for MatMul (and Gather = embeddings, if chosen); activations quantized per call (dynamic)."""
    op_types = ["MatMul", "Gather"] if quantize_embeddings else ["MatMul"]
    quantize_dynamic(
        model_input=str(in_path),
        model_output=str(out_path),
        op_types_to_quantize=op_types,
        per_channel=per_channel,
        reduce_range=False,  # VNNI/ARM dot-product kernels handle the full int8 range
        weight_type=QuantType.QInt8,  # signed weights: the fast path for onnxruntime's ARM and x86 kernels
        nodes_to_quantize=None,
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
