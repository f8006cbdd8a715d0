"""The x86 reference of the ARM gate: int8 GEMM weights moved to uint8 keep the model's integers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest

from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.session import RuntimeOptions, logits_alone, make_session

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "device_logits.py"


def device_logits():
    spec = importlib.util.spec_from_file_location("device_logits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unsigned_weights_answer_as_the_int8_model(tmp_path):
    clf = SentimentClassifier.load()
    changed = device_logits().unsigned_weights(clf.bundle.model_path, tmp_path / "exact.onnx")
    model = onnx.load(str(tmp_path / "exact.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    gemms = [n for n in model.graph.node if n.op_type in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat")]
    assert changed == len(gemms) > 0
    assert all(inits[n.input[1]].data_type == onnx.TensorProto.UINT8 for n in gemms)
    exact = make_session(str(tmp_path / "exact.onnx"), RuntimeOptions(optimization="disable"))
    texts = ["这个产品很好", "质量太差了，再也不买了", "物流很快但是包装一般，客服态度还可以"]
    rows = clf.encoder.encode_batch(texts)
    for row in rows:  # one text per run, as the gate compares
        a = logits_alone(clf.session, [row])
        b = logits_alone(exact, [row])
        # Equal integers; x86 without VNNI saturates in the int8 kernel only, within the INT8 contract's margin.
        assert a.argmax() == b.argmax() and np.abs(a - b).max() <= 3e-2


def test_the_parity_contract_passes_equal_logits_and_fails_a_moved_label_or_margin():
    from albert_edge_runtime.parity import contract

    reference = np.array([[2.0, -1.0], [0.1, 0.3], [-3.0, 3.0]])
    assert contract(reference, reference.copy(), "fp32")["passed"]
    one_text = reference.copy()
    one_text[0, 0] += 5e-3  # one text moved a little: INT8's margin, not fp32's
    assert contract(reference, one_text, "int8")["passed"] and not contract(reference, one_text, "fp32")["passed"]
    assert not contract(reference, reference + 5e-3, "int8")["passed"]  # every text moved: the median says no
    flipped = reference.copy()
    flipped[1] = [0.3, 0.1]  # within int4's margin but the label moved
    figures = contract(reference, flipped, "int4")
    assert not figures["passed"] and figures["labels_equal"] == 2
    with pytest.raises(ValueError, match="unknown bundle kind 'int2'; expected one of fp32, int8, int4"):
        contract(reference, reference, "int2")
