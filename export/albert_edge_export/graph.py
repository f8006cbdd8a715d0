"""Graph rewrites that no library offers for ALBERT: merging identical initializers (shared layers stored once),
residual adds as Sum, constant reshapes, compact names. The check of the result is coverage.py."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import numpy_helper


def content_key(init: onnx.TensorProto) -> tuple:
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
        key = content_key(init)
        if key in keep:
            rename[init.name] = keep[key]
        else:
            keep[key] = init.name
            survivors.append(init)
    if not rename:
        return 0
    del model.graph.initializer[:]
    model.graph.initializer.extend(survivors)
    for node in all_nodes(model.graph):
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
    can infer, and that CPU kernel is several times slower than the two ops it replaces (docs/measurements.md).
    Sum is the same arithmetic but not matched by the fusion.
    """
    inits = {i.name for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rewritten = 0
    for node in model.graph.node:
        users = consumers.get(node.output[0], []) if node.output else []
        if (
            node.op_type == "Add"
            and not inits.intersection(node.input)
            and len(users) == 1
            and users[0].op_type == "LayerNormalization"
        ):
            node.op_type = "Sum"
            rewritten += 1
    return rewritten


def all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(attr.g)


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


def constant_reshapes(model: onnx.ModelProto) -> int:
    """Reshape targets that the exporter computes on every run (Shape -> Gather -> Unsqueeze -> Concat of batch,
    length, heads, head size) written as constants: 0 keeps the input's dim, -1 takes the rest. Returns how many.

    Why: ~20 tiny nodes per layer run on every call; without them batch-1 latency drops ~0.5-1.5 % (README,
    `scripts/ab_export_latency.py`). Which dims are equal comes from onnxruntime's symbolic shape inference, so a dim
    is only written as 0 when it provably is the input's dim at that position. The chains left unused are removed.
    """
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    graph = inferred.graph
    dims = {
        v.name: [
            d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in v.type.tensor_type.shape.dim
        ]
        for v in list(graph.value_info) + list(graph.input) + list(graph.output)
    }
    inits = {i.name for i in model.graph.initializer}
    rewritten = 0
    for node in model.graph.node:
        allow_zero = any(a.name == "allowzero" and a.i for a in node.attribute)  # 0 would mean a real 0 there
        if node.op_type != "Reshape" or node.input[1] in inits or allow_zero:
            continue
        target = _constant_target(dims.get(node.input[0]), dims.get(node.output[0]))
        if target is None:
            continue
        name = f"{node.output[0]}_target"
        model.graph.initializer.append(numpy_helper.from_array(np.array(target, dtype=np.int64), name))
        node.input[1] = name
        rewritten += 1
    if rewritten:
        _drop_dead_nodes(model.graph)
    return rewritten


def _constant_target(source: list | None, result: list | None) -> list[int] | None:
    if not source or not result or None in result:
        return None
    target = []
    for i, dim in enumerate(result):
        if i < len(source) and source[i] is not None and source[i] == dim:
            target.append(0)  # the input's own dim at this position (symbolic: batch, length)
        elif isinstance(dim, int) and dim > 0:
            target.append(dim)
        else:
            target.append(-1)
    return target if target.count(-1) <= 1 else None


def _drop_dead_nodes(graph: onnx.GraphProto) -> None:
    """Remove nodes none of whose outputs is used, until none is left; then initializers nothing reads.

    The last walk found nothing dead, so its `used` set is the final graph's: it also decides the initializers."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in all_nodes(graph) for name in node.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def gemm_as_matmul(model: onnx.ModelProto) -> int:
    """Write each Gemm with a constant weight (the pooler and classifier Linears on 2-D input) as MatMul + Add;
    returns how many. onnxruntime's 4-bit quantizer only takes MatMul; the arithmetic is the same."""
    from onnx import helper

    inits = {i.name: i for i in model.graph.initializer}
    nodes, rewritten = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        if node.op_type != "Gemm" or node.input[1] not in inits or not plain:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        weight = weight.T.copy() if attrs.get("transB", 0) else weight
        name = f"{node.input[1]}.as_matmul"
        model.graph.initializer.append(numpy_helper.from_array(weight, name))
        product = f"{node.output[0]}.matmul"
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}.matmul"))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}.add"))
        else:
            nodes[-1].output[0] = node.output[0]
        rewritten += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    _drop_dead_nodes(model.graph)  # the Gemm weights nothing reads any more
    return rewritten
