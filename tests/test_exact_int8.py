"""The exact-INT8 graph: on x86 CPUs without VNNI the runtime loads it, and its answers are those of VNNI and ARM
machines (the parity contract), where onnxruntime's fast u8 x s8 kernel saturates and moves them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from emulated import needs_emulator, run_haswell

from albert_edge_export.exact import INTEGER_GEMMS
from albert_edge_runtime import SentimentClassifier, classifier
from albert_edge_runtime.bundle import BundleError, file_sha256
from albert_edge_runtime.machine import this_cpu_int8_saturates
from albert_edge_runtime.parity import contract
from albert_edge_runtime.session import RuntimeOptions

TEXTS = ["这个产品很好", "质量太差了，再也不买了", "物流很快但是包装一般，客服态度还可以", "质量不错👍"]
# The child on the emulated CPU: which graph the runtime chose by itself, and its probabilities.
CHILD = """
import json, sys
from albert_edge_runtime import SentimentClassifier
clf = SentimentClassifier.load(sys.argv[1] if sys.argv[1] != "-" else None)
texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")
answers = [[p.probabilities[label] for label in clf.labels] for p in clf.predict(texts)]
print(json.dumps({"exact_int8_graph": clf.exact_int8, "answers": answers}))
"""


def probabilities(clf: SentimentClassifier, texts: list[str]) -> np.ndarray:
    return np.array([[p.probabilities[label] for label in clf.labels] for p in clf.predict(texts)])


def test_every_int8_gemm_weight_is_shifted_to_uint8_by_nodes_onnxruntime_folds():
    bundle = SentimentClassifier.load().bundle
    assert bundle.exact_int8_path is not None
    graph = onnx.load(str(bundle.exact_int8_path), load_external_data=False).graph
    made_by = {out: node for node in graph.node for out in node.output}
    gemms = [n for n in graph.node if n.op_type in INTEGER_GEMMS]
    assert len(gemms) == SentimentClassifier.load().bundle.manifest.quantization["quantized_weight_matmuls"]
    for node in gemms:
        for index in INTEGER_GEMMS[node.op_type]:
            add = made_by[node.input[index]]  # weight and zero point: Add(Cast(int8 -> uint8), 128)
            cast = made_by[add.input[0]]
            assert add.op_type == "Add" and cast.op_type == "Cast" and cast.attribute[0].i == onnx.TensorProto.UINT8
    # The weights stay in the one shared file: the exact graph adds its conversion nodes and two scalars, no bytes
    # of weights.
    assert bundle.exact_int8_path.stat().st_size - bundle.model_path.stat().st_size < 4096


def test_both_graphs_give_this_machines_exact_answers():
    fast, exact = (SentimentClassifier.load(exact_int8=choice) for choice in (False, True))
    assert (fast.exact_int8, exact.exact_int8) == (False, True)
    a, b = probabilities(fast, TEXTS), probabilities(exact, TEXTS)
    if this_cpu_int8_saturates():
        assert contract(b, a, "int8")["labels_equal"] == len(TEXTS)
    else:  # VNNI and ARM compute both exactly: the same integers give the same answers, bit for bit
        assert np.array_equal(a, b)


@pytest.mark.parametrize("saturates", [True, False])
def test_the_runtime_chooses_the_exact_graph_where_the_cpu_saturates(monkeypatch, saturates):
    monkeypatch.setattr(classifier, "this_cpu_int8_saturates", lambda: saturates)
    assert SentimentClassifier.load().exact_int8 is saturates
    assert SentimentClassifier.load(exact_int8=not saturates).exact_int8 is (not saturates)  # the user decides


def test_a_bundle_without_the_exact_graph_loads_its_own_and_refuses_to_be_forced(tmp_path, monkeypatch):
    old = tmp_path / "old"
    shutil.copytree(SentimentClassifier.load().bundle.root, old)
    (old / "model.exact-int8.onnx").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["exact_int8_model"], manifest["files"]["model.exact-int8.onnx"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(classifier, "this_cpu_int8_saturates", lambda: True)
    assert SentimentClassifier.load(old).exact_int8 is False  # as before the exact graph existed
    with pytest.raises(BundleError, match="has no exact-INT8 graph .*drop exact_int8=True, or re-export"):
        SentimentClassifier.load(old, exact_int8=True)


def test_a_changed_exact_graph_is_refused(tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(SentimentClassifier.load().bundle.root, bundle)
    with (bundle / "model.exact-int8.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="model.exact-int8.onnx is corrupt or was changed"):
        SentimentClassifier.load(bundle)


def test_exact_int8_takes_true_false_or_none():
    with pytest.raises(ValueError, match=r"exact_int8 must be True, False or None \(where the CPU needs it\): 1"):
        RuntimeOptions(exact_int8=1)


def test_the_export_refuses_an_exact_graph_that_answers_differently(tmp_path, monkeypatch):
    """The guard compares the two graphs; here the exact one shifts zero points by 100 and weights by 128."""
    from albert_edge_export import exact
    from albert_edge_export.reference import EndToEndError

    bundle = tmp_path / "b"
    shutil.copytree(SentimentClassifier.load().bundle.root, bundle)
    graph = onnx.load(str(bundle / "model.exact-int8.onnx"), load_external_data=False)
    graph.graph.initializer.append(onnx.numpy_helper.from_array(np.array(100, np.uint8), "wrong_shift"))
    zero_points = {n.input[3] for n in graph.graph.node if n.op_type == "DynamicQuantizeMatMul"}
    for node in graph.graph.node:
        if node.op_type == "Add" and node.output[0] in zero_points:
            node.input[1] = "wrong_shift"
    onnx.save(graph, str(bundle / "model.exact-int8.onnx"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["model.exact-int8.onnx"]["sha256"] = file_sha256(bundle / "model.exact-int8.onnx")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(exact, "this_cpu_int8_saturates", lambda: False)
    with pytest.raises(EndToEndError, match="exact-INT8 graph answers differently from its graph"):
        exact.compare_graphs(bundle, TEXTS * 4)


@needs_emulator
def test_on_an_emulated_cpu_without_vnni_the_default_bundle_answers_as_this_host(tmp_path):
    from albert_edge.data import load_reviews

    texts = [t.replace("\n", " ") for t in load_reviews().test.texts[:60]]
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    emulated = json.loads(run_haswell("-c", CHILD, "-", str(tmp_path / "texts.txt")).stdout)
    assert emulated["exact_int8_graph"] is True  # chosen by the runtime from the emulated CPU's own answers
    figures = contract(probabilities(SentimentClassifier.load(), texts), np.array(emulated["answers"]), "int8")
    assert figures["passed"], figures


@needs_emulator
def test_on_an_emulated_cpu_without_vnni_a_foreign_checkpoint_answers_like_transformers(tmp_path):
    from test_faithful import export, pipeline_outputs, texts

    from hf_folders import english_albert

    folder = english_albert(tmp_path / "hf")
    bundle = export(folder, tmp_path / "int8")
    items = texts()
    (tmp_path / "texts.txt").write_text("\n".join(items), encoding="utf-8")
    emulated = json.loads(run_haswell("-c", CHILD, str(bundle), str(tmp_path / "texts.txt")).stdout)
    assert emulated["exact_int8_graph"] is True
    expected = pipeline_outputs(folder, items, "single_label_classification")
    assert np.abs(np.array(emulated["answers"]) - expected).max() <= 0.02  # the bound VNNI hosts meet
