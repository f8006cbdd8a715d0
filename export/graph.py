"""Graph facts and fixes that no library offers for ALBERT: merging identical initializers, and a coverage check
that cannot be fooled (every weight matrix int8, no weight re-quantized at run time, no duplicate bytes)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

WEIGHT_OPS = {"MatMul", "Gemm", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
LARGE_FP32_BYTES = 64 * 1024


def _content_key(init: onnx.TensorProto) -> tuple:
    """Identity of an initializer's value: dtype, shape and a hash of its bytes."""
    array = numpy_helper.to_array(init)
    return array.dtype.str, array.shape, hashlib.sha256(array.tobytes()).hexdigest()


def dedupe_initializers(model: onnx.ModelProto) -> int:
    """Merge initializers with identical dtype, shape and bytes into one; returns how many were dropped.

    Exporters and fusions copy a shared ALBERT weight per layer; hashing the bytes restores one copy.
    """
    keep: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    survivors = []
    for init in model.graph.initializer:
        key = _content_key(init)
        if key in keep:
            rename[init.name] = keep[key]
        else:
            keep[key] = init.name
            survivors.append(init)
    if not rename:
        return 0
    del model.graph.initializer[:]
    model.graph.initializer.extend(survivors)
    for node in _all_nodes(model.graph):
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    for out in model.graph.output:
        if out.name in rename:
            raise ValueError(f"graph output {out.name} is a duplicated initializer; cannot merge it")
    return len(rename)


def residual_adds_as_sum(model: onnx.ModelProto) -> int:
    """Write each residual Add that feeds only a LayerNormalization as Sum; returns how many.

    onnxruntime fuses Add + LayerNormalization into SkipLayerNormalization when it loads a model whose shapes it
    can infer, and that CPU kernel is ~6x slower than the two ops it replaces (measured, onnxruntime 1.32: 205 vs
    32 us at 128 x 312). Sum is the same arithmetic but not matched by the fusion.
    """
    inits = {i.name for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rewritten = 0
    for node in model.graph.node:
        users = consumers.get(node.output[0], []) if node.output else []
        if (node.op_type == "Add" and not inits.intersection(node.input)
                and len(users) == 1 and users[0].op_type == "LayerNormalization"):
            node.op_type = "Sum"
            rewritten += 1
    return rewritten


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)


@dataclass
class Coverage:
    weight_matmuls: int = 0
    int8_weight_matmuls: int = 0
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
                result.int8_weight_matmuls += 1
            elif numpy_helper.to_array(init).nbytes > LARGE_FP32_BYTES and init.name not in allowed_fp32:
                result.fp32_weights.append(init.name)
    seen: dict[tuple, str] = {}
    for init in inits.values():
        if np.prod(init.dims, dtype=np.int64) < 2:
            continue  # scalars (zero points, scales) legitimately repeat
        key = _content_key(init)
        if key in seen:
            result.duplicate_initializers.append((seen[key], init.name))
        seen.setdefault(key, init.name)
    return result


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


def compact_names(model: onnx.ModelProto) -> None:
    """Short tensor and node names. Exported names like '/albert/encoder/.../query/MatMul_output_0_quantized'
    cost ~0.3 MB on albert-base, a few % of an INT8 file; graph inputs and outputs keep their contract names."""
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    mapping: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return mapping.setdefault(name, _base36(len(mapping)))

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.name = ""  # optional in ONNX; exclusion patterns were applied before this step
        node.doc_string = ""
        for j, name in enumerate(node.input):
            node.input[j] = short(name)
        for j, name in enumerate(node.output):
            node.output[j] = short(name)
    del graph.value_info[:]  # recomputed by onnxruntime at load; only adds bytes here
    graph.doc_string = ""


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return "_" + out
