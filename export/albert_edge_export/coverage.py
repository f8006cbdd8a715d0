"""A coverage check of the final graph that cannot be fooled: every weight matrix int8 (or kept fp32 by the
guard), no weight re-quantized at run time, no duplicate bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from .graph import content_key

WEIGHT_OPS = {"MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits"}
# The quantizers name a weight's quantized copy after it: the suffix leads back to the fp32 weight's name.
QUANTIZED_SUFFIXES = ("_quantized", "_Q4", "_Q8")
LARGE_FP32_BYTES = 64 * 1024


@dataclass
class Coverage:
    weight_matmuls: int = 0
    quantized_weight_matmuls: int = 0
    fp32_weights: list[str] = field(default_factory=list)  # fp32 weight matrices above LARGE_FP32_BYTES
    dynamic_quantized_weights: list[str] = field(default_factory=list)
    duplicate_initializers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.fp32_weights or self.dynamic_quantized_weights or self.duplicate_initializers)


def coverage(model: onnx.ModelProto, allowed_fp32: set[str] = frozenset()) -> Coverage:
    """Inspect every weight-consuming node. `allowed_fp32`: weights deliberately kept fp32 by the accuracy guard."""
    inits = {i.name: i for i in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    result = Coverage()
    for node in model.graph.node:
        if node.op_type not in WEIGHT_OPS:
            continue
        weights = [_weight_source(name, inits, producers) for name in node.input[1:2]]
        for weight in weights:
            if weight is None:
                continue  # activation x activation (attention scores): not a weight
            result.weight_matmuls += 1
            kind, init = weight
            if kind == "dynamic":
                result.dynamic_quantized_weights.append(init.name)
            elif init.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
                result.quantized_weight_matmuls += 1
            elif numpy_helper.to_array(init).nbytes > LARGE_FP32_BYTES and init.name not in allowed_fp32:
                result.fp32_weights.append(init.name)
    seen: dict[tuple, str] = {}
    for init in inits.values():
        if np.prod(init.dims, dtype=np.int64) < 2:
            continue  # scalars (zero points, scales) legitimately repeat
        key = content_key(init)
        if key in seen:
            result.duplicate_initializers.append((seen[key], init.name))
        seen.setdefault(key, init.name)
    return result


def weight_precisions(model: onnx.ModelProto) -> dict[str, str]:
    """fp32 weight name -> the precision the final graph stores it in: int4 / int8 / fp32 (MatMul weights and
    embedding tables), read from the graph itself, not from what the quantizer was asked."""
    inits = {i.name: i for i in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    found: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            bits = next(a.i for a in node.attribute if a.name == "bits")
            found[_fp32_name(node.input[1])] = f"int{bits}"
        elif node.op_type == "GatherBlockQuantized":
            found[_fp32_name(node.input[0])] = "int4"
        elif node.op_type in WEIGHT_OPS | {"Gather"}:
            position = 0 if node.op_type == "Gather" else 1
            source = _weight_source(node.input[position], inits, producers)
            if source is not None and source[0] == "const" and len(source[1].dims) == 2:
                quantized = source[1].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
                found[_fp32_name(source[1].name)] = "int8" if quantized else "fp32"
    return dict(sorted(found.items()))


def _fp32_name(name: str) -> str:
    return next((name[: -len(s)] for s in QUANTIZED_SUFFIXES if name.endswith(s)), name)


def _weight_source(name, inits, producers, depth: int = 0):
    """Follow Identity/Transpose/Cast/DequantizeLinear back to an initializer; flag DynamicQuantizeLinear."""
    if name in inits:
        return ("const", inits[name])
    node = producers.get(name)
    if node is None or depth > 4:
        return None
    if node.op_type == "DynamicQuantizeLinear":
        source = _weight_source(node.input[0], inits, producers, depth + 1)
        return ("dynamic", source[1]) if source else None
    if node.op_type in ("Identity", "Transpose", "Cast", "DequantizeLinear", "Reshape"):
        return _weight_source(node.input[0], inits, producers, depth + 1)
    return None
