"""4-bit bundles (--weights int4): op types, sizes, shared weights once, the guard's per-weight fallback to INT8."""

import collections
import json

import onnx
import pytest
import torch

from albert_edge_export.coverage import coverage, weight_precisions
from albert_edge_export.guard import AccuracyGuardError
from albert_edge_export.pipeline import run_export
from albert_edge_runtime import SentimentClassifier
from bundles import TEXTS, export_options, labelled_file, tiny_checkpoint


def ops_of(bundle) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(str(bundle / "model.onnx")).graph.node)


@pytest.fixture(scope="module")
def int4(exported, tmp_path_factory):
    ckpt, _ = exported
    tmp = tmp_path_factory.mktemp("int4")
    data = labelled_file(tmp / "held_out.tsv", ckpt)
    return run_export(export_options(ckpt, tmp / "bundle", weights="int4", verify_data=str(data), max_drop=100.0))


def test_int4_bundle_has_4_bit_weights_stored_once_at_about_half_the_bytes(exported, int4):
    int8_bytes = json.loads((exported[1] / "manifest.json").read_text())["metrics"]["model_bytes"]
    manifest = json.loads((int4 / "manifest.json").read_text())
    ops = ops_of(int4)
    # 4 layers x 6 weight MatMuls + the embedding mapping + pooler + classifier, all 4-bit; 3 embedding tables
    assert ops["MatMulNBits"] == 27 and ops["GatherBlockQuantized"] == 3
    assert not {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "Gemm"} & set(ops)
    model = onnx.load(str(int4 / "model.onnx"))
    check = coverage(model)
    assert check.ok and check.weight_matmuls == check.quantized_weight_matmuls == 27
    shared = {n.input[1] for n in model.graph.node if n.op_type == "MatMulNBits"}
    assert len(shared) == 9  # the 6 shared layer weights once, not 24 times
    assert set(weight_precisions(model).values()) == {"int4"}
    assert (
        set(manifest["quantization"]["weights"].values()) == {"int4"} and len(manifest["quantization"]["weights"]) == 12
    )
    # the weights file: a tiny model's graph proto is as large as its weights and does not shrink
    assert (int4 / "model.onnx.data").stat().st_size < 0.6 * (exported[1] / "model.onnx.data").stat().st_size
    assert manifest["metrics"]["model_bytes"] < int8_bytes
    assert manifest["quantization"]["mode"].startswith("block-int4")
    graph = onnx.load(str(int4 / "model.onnx"), load_external_data=False)
    opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    assert manifest["onnx"]["opset"] == opset == 21  # the manifest said 17, the int8 graphs' opset
    assert manifest["quantization"]["block_size"] == 64  # auto: 128 divides neither 16 nor 64
    nbits = [n for n in graph.graph.node if n.op_type == "MatMulNBits"]
    groups = manifest["quantization"]["matmuls"]  # what decides a device's kernel: `doctor --bundle` reads it
    assert sum(g["count"] for g in groups) == len(nbits) and {g["block_size"] for g in groups} == {64}
    assert {g["K"] for g in groups} == {next(a.i for a in n.attribute if a.name == "K") for n in nbits}
    assert manifest["exact_int8_model"] == "" and not (int4 / "model.exact-int8.onnx").exists()  # no int8 GEMMs


def test_int4_bundle_runs_in_the_runtime_unchanged(exported, int4):
    int8 = SentimentClassifier.load(exported[1])
    four = SentimentClassifier.load(int4)
    texts = [a + b for a in TEXTS for b in TEXTS[:3]]
    same = sum(a.label == b.label for a, b in zip(int8.predict(texts), four.predict(texts)))
    assert same >= 0.9 * len(texts)  # a random tiny model: most decisions survive 4 bits


def sensitive_pooler(folder):
    """A tiny model whose pooler weight has one outlier per output in an input feature that is always zero: fp32
    ignores it, but a 4-bit block scaled to it rounds the block's other weights away; 8 bits keep them."""
    from safetensors.torch import load_file, save_file

    ckpt = tiny_checkpoint(folder)
    state = load_file(folder / "model.safetensors")
    norm = "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm"
    state[f"{norm}.weight"][0], state[f"{norm}.bias"][0] = 0.0, 0.0  # feature 0 of every layer's output is 0
    pooler = state["albert.pooler.weight"]
    pooler[:, 0] = 8 * pooler.abs().max()
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    assert torch.all(load_file(folder / "model.safetensors")["albert.pooler.weight"][:, 0] > 0)
    return ckpt


def test_guard_keeps_the_sensitive_weight_int8(tmp_path):
    """Only the head is quantized (the rest kept fp32 by pattern): a random tiny encoder's own 4-bit noise would
    blur which weight matters. Without the fallback the export is refused; with it, the pooler gets 8 bits."""
    ckpt = sensitive_pooler(tmp_path / "ckpt")
    data = labelled_file(tmp_path / "held_out.tsv", ckpt)
    options = dict(
        weights="int4", verify_data=str(data), max_drop=10.0, keep_fp32=["/albert/encoder/*", "/albert/embeddings/*"]
    )
    with pytest.raises(AccuracyGuardError, match=r"INT4 loses .* \(allowed 10.0\) even with 0 weights kept INT8"):
        run_export(export_options(ckpt, tmp_path / "refused", fallback_limit=0, **options))
    assert not (tmp_path / "refused").exists()
    bundle = run_export(export_options(ckpt, tmp_path / "bundle", fallback_limit=1, **options))
    quantization = json.loads((bundle / "manifest.json").read_text())["quantization"]
    assert quantization["kept_int8_by_guard"] == ["albert.pooler.weight"]
    weights = quantization["weights"]
    assert weights["albert.pooler.weight"] == "int8" and weights["classifier.weight"] == "int4"
    assert collections.Counter(weights.values()) == {"fp32": 10, "int8": 1, "int4": 1}
    assert collections.Counter(n.op_type for n in onnx.load(str(bundle / "model.onnx")).graph.node)["MatMulNBits"] == 2


def test_int4_block_size_must_be_a_power_of_two(exported, tmp_path):
    with pytest.raises(ValueError, match="--int4-block-size 48 is not a power of two >= 16; try 64 or auto"):
        run_export(export_options(exported[0], tmp_path / "b", weights="int4", int4_block_size=48))
    assert not (tmp_path / "b").exists()


def test_an_embedding_table_falls_back_to_int8(exported, tmp_path):
    """The guard's fallback for a Gather: INT8 Gather + DequantizeLinear, the rest 4-bit, and the graph still runs."""
    import numpy as np
    import onnxruntime as ort

    from albert_edge.checkpoint import load_pretrained
    from albert_edge_export.contract import OPSET
    from albert_edge_export.fp32 import export_fp32, random_feeds
    from albert_edge_export.optimize import optimize
    from albert_edge_export.quantize import int4_ready, nodes_using, quantize_int4

    model = load_pretrained(exported[0])
    export_fp32(model, tmp_path / "fp32.onnx", OPSET)
    optimize(tmp_path / "fp32.onnx", tmp_path / "opt.onnx", 4, model.config.hidden_size, False)
    base = int4_ready(tmp_path / "opt.onnx", tmp_path / "opt4.onnx")
    word = "albert.embeddings.word_embeddings.weight"
    wider = nodes_using(onnx.load(str(base)), [word])
    out = quantize_int4(base, tmp_path / "q.onnx", 64, 128, True, wider, [])
    precisions = weight_precisions(onnx.load(str(out)))
    assert precisions.pop(word) == "int8" and set(precisions.values()) == {"int4"}
    assert not list(tmp_path.glob("*.tmp.onnx"))  # the intermediate file is gone
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(out)).graph.initializer}
    table = next(i for i in onnx.load(str(base)).graph.initializer if i.name == word)
    q, scale = inits[f"{word}_quantized"].astype(np.float32), inits[f"{word}_scale"]
    zero = inits.get(f"{word}_zero_point", np.zeros((), np.int8)).astype(np.float32)
    assert np.abs((q - zero) * scale - onnx.numpy_helper.to_array(table)).max() <= scale / 2 + 1e-6  # INT8 rounding
    logits = ort.InferenceSession(str(out)).run(None, random_feeds(model.config.vocab_size, 0))[0]
    assert logits.shape == (3, 2) and np.isfinite(logits).all()


def test_int4_auto_block_is_128_only_where_no_block_needs_padding():
    import argparse

    from albert_edge_export.options import block_size
    from albert_edge_export.quantize import int4_block_size

    assert int4_block_size([128, 768, 3072]) == 128  # albert-base-v2's widths
    assert int4_block_size([128, 312, 1248]) == 64  # the default model's: 312 is no multiple of 64 or 128
    assert int4_block_size([128, 64, 256]) == 64
    assert block_size("auto") == 0 and block_size("128") == 128
    with pytest.raises(argparse.ArgumentTypeError, match="'big' is not a block size; give auto, arm, 64 or 128"):
        block_size("big")


def test_int4_arm_block_lets_the_most_weights_take_kleidiai():
    from albert_edge_export.contract import INT4_ARM_BLOCK
    from albert_edge_export.options import block_size
    from albert_edge_export.quantize import arm_block_size

    assert block_size("arm") == INT4_ARM_BLOCK
    h, i = 312, 1248  # the default model: only 32 divides the feed-forward output's K (no multiple of 32 fits 312)
    assert arm_block_size({128: 128 * h, h: 5 * h * h + h * i, i: i * h}) == 32
    h, i = 768, 3072  # albert-base-v2: every K takes 128
    assert arm_block_size({128: 128 * h, h: 5 * h * h + h * i, i: i * h}) == 128
    assert arm_block_size({320: 100, 1280: 100}) == 64  # 320 = 5 x 64
