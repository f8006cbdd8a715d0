"""The ARM gate's parity contract and its script (the x86 reference runs the exact-INT8 graph: test_exact_int8.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "device_logits.py"


def device_logits():
    spec = importlib.util.spec_from_file_location("device_logits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_parity_contract_passes_equal_logits_and_fails_a_moved_label_or_margin():
    from albert_edge_runtime.parity import contract

    reference = np.array([[2.0, -1.0], [0.1, 0.3], [-3.0, 3.0]])
    assert contract(reference, reference.copy(), "fp32")["passed"]
    one_text = reference.copy()
    one_text[0, 0] += 5e-3  # one text moved a little: INT8's margin, not fp32's
    assert contract(reference, one_text, "int8")["passed"] and not contract(reference, one_text, "fp32")["passed"]
    assert not contract(reference, reference + 5e-3, "int8")["passed"]  # every text moved: the median says no
    flipped = reference.copy()
    flipped[0] = [-1.0, 2.0]  # a decided label moved
    figures = contract(reference, flipped, "int4")
    assert not figures["passed"] and figures["labels_equal"] == 2 and figures["ties_flipped"] == 0
    close = reference.copy()
    close[1] = [0.1, 0.25]  # top two 0.15 apart: within twice int4's 0.1
    tie = close.copy()
    tie[1] = [0.18, 0.17]  # each logit moved 0.08: the label may go either way
    figures = contract(close, tie, "int4")
    assert figures["passed"] and figures["labels_equal"] == 2 and figures["ties_flipped"] == 1
    assert not contract(close, tie, "int8")["passed"]  # beyond INT8's tolerance it is no tie
    with pytest.raises(ValueError, match="unknown bundle kind 'int2'; expected one of fp32, int8, int4"):
        contract(reference, reference, "int2")


def test_the_x86_reference_dump_runs_the_bundles_exact_int8_graph(tmp_path):
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.session import logits_alone

    texts = ["这个产品很好", "质量太差了，再也不买了"]
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    device_logits().dump(str(tmp_path / "texts.txt"), str(tmp_path / "x86.npy"), None, exact_int8=True)
    exact = SentimentClassifier.load(exact_int8=True)
    expected = np.concatenate([logits_alone(exact.session, [row]) for row in exact.encoder.encode_batch(texts)])
    assert np.array_equal(np.load(tmp_path / "x86.npy"), expected)
