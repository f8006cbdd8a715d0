"""Step 5b: the exact-INT8 graph, for x86 CPUs without VNNI.

There onnxruntime's u8 x s8 GEMM kernel adds pairs of products with a saturating 16-bit instruction (vpmaddubsw),
so a dynamic-INT8 bundle's answers move from those of VNNI and ARM machines, whose integer dot products are exact.
Its u8 x u8 kernel widens before multiplying and is exact everywhere. This graph is the bundle's own graph with
each int8 GEMM weight W and zero point Z fed through Cast to uint8 -> Add 128: the same integers shifted,
so the same products. Those nodes read only constants, so onnxruntime folds them when it loads the graph
(optimisation level basic): the weights stay once in the shared weights file, the graph file adds a few KiB, and
only a runtime on such a CPU loads it (`RuntimeOptions.exact_int8`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.machine import this_cpu_int8_saturates
from albert_edge_runtime.parity import contract

from .reference import EndToEndError, outputs_of, spread_sample

# Integer-GEMM ops of quantized graphs: input index of the weight and of its zero point.
INTEGER_GEMMS = {"DynamicQuantizeMatMul": (1, 3), "MatMulIntegerToFloat": (1, 5), "MatMulInteger": (1, 3)}
SHIFT, ZERO_POINT = "exact_int8_shift", "exact_int8_zero_point"


def _to_unsigned(name: str, nodes: list[onnx.NodeProto]) -> str:
    """Nodes that turn int8 constant `name` into uint8 `name` + 128 (folded at load); returns the new name. The
    cast wraps (-1 becomes 255) and so does the uint8 addition, which gives v + 128 for every v in -128..127, with
    no intermediate wider than the weight (folding keeps each intermediate in memory for a moment)."""
    wrapped, out = f"{name}__wrapped", f"{name}__u8"
    nodes += [
        helper.make_node("Cast", [name], [wrapped], to=TensorProto.UINT8, name=f"{name}__to_u8"),
        helper.make_node("Add", [wrapped, SHIFT], [out], name=f"{name}__plus_128"),
    ]
    return out


def exact_int8_graph(graph_path: Path, out_path: Path) -> int:
    """Write the exact form of `graph_path` (its external weights files keep their names, so the two graphs share
    them when side by side); returns how many GEMMs it changed. Nothing is written when none has int8 weights."""
    model = onnx.load(str(graph_path), load_external_data=False)
    int8 = {i.name for i in model.graph.initializer if i.data_type == TensorProto.INT8}
    converted: dict[str, str] = {}  # int8 constant -> its uint8 form, once however many GEMMs share it
    nodes: list[onnx.NodeProto] = []
    changed = 0
    for node in model.graph.node:
        if node.op_type not in INTEGER_GEMMS or node.input[1] not in int8:
            continue
        weight, zero = INTEGER_GEMMS[node.op_type]
        while len(node.input) <= zero:
            node.input.append("")
        for index in (weight, zero):
            name = node.input[index]
            if name and name not in converted:
                converted[name] = _to_unsigned(name, nodes)
            node.input[index] = converted[name] if name else ZERO_POINT  # none means 0, which is 128 shifted
        changed += 1
    if not changed:
        return 0
    constants = [numpy_helper.from_array(np.array(128, np.uint8), SHIFT)]
    if any(ZERO_POINT in node.input for node in model.graph.node):
        constants.append(numpy_helper.from_array(np.array(128, np.uint8), ZERO_POINT))
    model.graph.initializer.extend(constants)
    ordered = nodes + list(model.graph.node)  # the conversions first: a graph's nodes are in topological order
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    onnx.save(model, str(out_path))
    return changed


EXACT_SAMPLE = 256  # verify texts both graphs answer, spread over the list


def compare_graphs(bundle_dir: Path, texts: list[str]) -> dict[str, Any]:
    """Both graphs of a staged bundle through the runtime on a spread sample of `texts`, judged by the parity
    contract that holds two machines to each other (`albert_edge_runtime.parity`). Where this CPU's kernel is exact
    the two must meet it (they are bit-identical in practice); where it saturates, the end-to-end guard has judged
    the exact graph against transformers already and these figures show what the default kernel moves."""
    sample = [texts[i] for i in spread_sample(len(texts), EXACT_SAMPLE)]
    answers = []
    for exact in (False, True):
        clf = SentimentClassifier.load(bundle_dir, exact_int8=exact)
        answers.append(outputs_of(list(clf.iter_predict(sample)), clf.labels, clf.problem_type))
    figures = contract(answers[0], answers[1], "int8")
    figures["this_cpu_saturates"] = this_cpu_int8_saturates()
    if not figures["passed"] and not figures["this_cpu_saturates"]:
        raise EndToEndError(
            f"the bundle's exact-INT8 graph answers differently from its graph on this exact-INT8 CPU (largest "
            f"difference {figures['max_abs']:.3g} over {len(sample)} texts); this is a bug: please report it with "
            "the checkpoint"
        )
    return figures
