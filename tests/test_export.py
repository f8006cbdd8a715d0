import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from albert_edge_export.coverage import coverage
from albert_edge_export.graph import dedupe_initializers, residual_adds_as_sum
from albert_edge_export.guard import AccuracyGuardError
from albert_edge_export.pipeline import run_export
from bundles import exact_int8_allowance_mib, export_options, tiny_checkpoint
from hf_folders import hf_model


def options(ckpt, out, **kw):
    return export_options(ckpt, out, **kw)


def test_int8_graph_cannot_fool_the_check(exported):
    _, bundle = exported
    model = onnx.load(str(bundle / "model.onnx"))
    check = coverage(model)
    assert check.weight_matmuls > 0 and check.quantized_weight_matmuls == check.weight_matmuls
    assert not check.fp32_weights and not check.dynamic_quantized_weights and not check.duplicate_initializers
    manifest = json.loads((bundle / "manifest.json").read_text())
    verify = manifest["metrics"]["verify"]
    assert verify["fp32_accuracy"] == 1.0 and verify["count"] == 100  # written by verify, from the labelled file
    assert manifest["labels"] == ["negative", "positive"] and manifest["truncation"] == "head+tail"
    assert set(manifest["files"]) == {
        "model.onnx",
        "model.onnx.data",
        "model.exact-int8.onnx",
        "tokenizer.json",
        "config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    }
    assert manifest["model_data"] == ["model.onnx.data"] and manifest["load_optimization"] == "disable"
    assert manifest["problem_type"] == "single_label_classification"
    assert manifest["exact_int8_model"] == "model.exact-int8.onnx" and manifest["metrics"]["exact_int8_vs_graph"]


def test_shared_weights_stored_once_size_near_unique_params(exported):
    _, bundle = exported
    manifest = json.loads((bundle / "manifest.json").read_text())
    # 4 layers share one group: the int8 file must hold it once (~1 byte/param plus fp32 norms/biases and graph).
    assert manifest["metrics"]["bytes_per_parameter"] < 1.6


def test_no_skip_layer_norm_after_onnxruntime_loads_it(exported, tmp_path):
    """SkipLayerNormalization's CPU kernel is ~6x slower than Sum + LayerNormalization: neither the file nor the
    graph onnxruntime builds from it at its highest optimisation level may contain one."""
    import onnxruntime as ort

    _, bundle = exported
    model = onnx.load(str(bundle / "model.onnx"))
    assert sum(n.op_type == "LayerNormalization" for n in model.graph.node) >= 3  # embeddings + 2 per layer
    # With tensor shapes known (as after any tool's shape inference), onnxruntime fuses every residual Add.
    onnx.save(onnx.shape_inference.infer_shapes(model), str(tmp_path / "shaped.onnx"))
    for path in (bundle / "model.onnx", tmp_path / "shaped.onnx"):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        loaded = [n.op_type for n in onnx.load(str(tmp_path / "loaded.onnx"), load_external_data=False).graph.node]
        assert "SkipLayerNormalization" not in loaded and "LayerNormalization" in loaded, path


def test_residual_add_written_as_sum_only_before_layer_norm():
    from onnx import helper

    def value(name):
        return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 4])

    gamma = onnx.numpy_helper.from_array(np.ones(4, np.float32), "gamma")
    nodes = [
        helper.make_node("Add", ["x", "skip"], ["residual"]),
        helper.make_node("LayerNormalization", ["residual", "gamma"], ["normed"]),
        helper.make_node("Add", ["normed", "gamma"], ["biased"]),  # weight input: not a residual
        helper.make_node("Add", ["biased", "x"], ["y"]),
    ]  # feeds the output, not a LayerNorm
    model = helper.make_model(helper.make_graph(nodes, "g", [value("x"), value("skip")], [value("y")], [gamma]))
    assert residual_adds_as_sum(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Sum", "LayerNormalization", "Add", "Add"]


def test_coverage_flags_fp32_weights_and_duplicates():
    w = onnx.numpy_helper.from_array(np.ones((200, 200), np.float32), "w")
    w2 = onnx.numpy_helper.from_array(np.ones((200, 200), np.float32), "w2")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "w"], ["y"]), onnx.helper.make_node("MatMul", ["y", "w2"], ["z"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 200])],
        [onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1, 200])],
        [w, w2],
    )
    model = onnx.helper.make_model(graph)
    check = coverage(model)
    assert check.fp32_weights == ["w", "w2"] and check.duplicate_initializers == [("w", "w2")]
    assert dedupe_initializers(model) == 1
    assert [n.input[1] for n in model.graph.node] == ["w", "w"] and len(model.graph.initializer) == 1


def test_guard_refuses_and_leaves_nothing(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "bundle"
    with pytest.raises(AccuracyGuardError, match="INT8 loses .* accuracy points \\(allowed -1.0\\)"):
        run_export(options(ckpt, out, max_drop=-1.0, fallback_limit=1))
    assert not out.exists() and list(tmp_path.iterdir()) == [ckpt]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "albert_edge_export", *map(str, args)], capture_output=True, text=True)


def test_cli_errors_are_one_line(tmp_path):
    result = cli("export", tmp_path / "missing", "--out", tmp_path / "b")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "error: checkpoint folder" in result.stderr and "does not exist" in result.stderr
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    result = cli("export", tmp_path / "bert", "--out", tmp_path / "b")
    assert result.returncode == 1 and "only handles 'albert'" in result.stderr
    assert not (tmp_path / "b").exists()
    assert cli("export", "--help").returncode == 0


def test_unwritable_or_non_empty_out_dir(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        run_export(options(ckpt, tmp_path / "full"))
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_hf_checkpoint_exports_without_code_changes(tmp_path):
    """An HF AlbertForSequenceClassification folder with a SentencePiece-style tokenizer (spiece.model)."""
    import sentencepiece as spm

    model = hf_model(vocab_size=60, num_hidden_layers=6)
    model.save_pretrained(tmp_path / "hf")
    (tmp_path / "c.txt").write_text("\n".join(["albert shares weights", "small fast model on a pi"] * 20))
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "c.txt"),
        model_prefix=str(tmp_path / "hf" / "spiece"),
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    bundle = run_export(options(tmp_path / "hf", tmp_path / "bundle", max_drop=100.0))
    assert json.loads((bundle / "manifest.json").read_text())["metrics"]["fp32_vs_pytorch_max_abs"] <= 1e-4


# What the albert-base bundle may add over the numpy + onnxruntime import floor (docs/runtime.md has the figures).
BASE_BUNDLE_BUDGET_OVER_FLOOR_MIB = 40


@pytest.mark.perf
def test_albert_base_shape_int8_size_and_memory(tmp_path):
    """albert-base-v2 shape made offline by transformers with a real-size 30 000-piece vocabulary: 11.69 M params
    must fit in <= 11.8 MB of int8, and classifying 1 000 texts that touch most of the vocabulary stays in budget."""
    from albert_edge_runtime.memory_probe import measure
    from bench.shapes import albert_base_with_vocabulary, vocabulary_texts

    ckpt = albert_base_with_vocabulary(tmp_path / "base")
    (tmp_path / "texts.txt").write_text("\n".join(vocabulary_texts(ckpt, 20, seed=1)), encoding="utf-8")
    bundle = run_export(options(ckpt, tmp_path / "bundle", verify_data=str(tmp_path / "texts.txt"), max_drop=100.0))
    manifest = json.loads((bundle / "manifest.json").read_text())
    size = sum((bundle / name).stat().st_size for name in [manifest["model"], *manifest["model_data"]])
    assert size == manifest["metrics"]["model_bytes"] and size <= 11_800_000, size
    assert coverage(onnx.load(str(bundle / "model.onnx"))).ok
    (tmp_path / "many.txt").write_text("\n".join(vocabulary_texts(ckpt, 1000, seed=2)), encoding="utf-8")
    allowance = exact_int8_allowance_mib(bundle)
    for exact in (False, True):  # both graphs on every host: a CPU without VNNI loads the exact one by default
        result = measure(bundle, tmp_path / "many.txt", exact_int8=exact)
        print(f"\nalbert-base shape, 30k vocabulary, 1 000 texts, exact_int8={exact}: {result}")
        assert result["texts"] == 1000 and not result["tokenizers_imported"]
        assert result["added_mib"] <= BASE_BUNDLE_BUDGET_OVER_FLOOR_MIB + exact * allowance, result


def test_cli_guard_and_corrupt_checkpoint_leave_nothing(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    result = cli(
        "export", ckpt, "--out", tmp_path / "b", "--max-drop", "-1", "--fallback-limit", "0", "--verify-data", "random"
    )
    assert result.returncode == 1 and "INT8 loses" in result.stderr and "raise --max-drop" in result.stderr
    (ckpt / "model.safetensors").write_bytes(b"broken")
    result = cli("export", ckpt, "--out", tmp_path / "b")
    assert result.returncode == 1 and "is not a readable safetensors file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no bundle, no staging folder


def test_output_under_a_file_is_refused(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    (tmp_path / "afile").write_text("x")
    result = cli("export", ckpt, "--out", tmp_path / "afile" / "bundle")
    assert result.returncode == 1 and result.stderr.startswith("albert-edge export: error:")


def test_chinese_bert_vocab_txt_checkpoint_exports(tmp_path):
    from albert_edge.tokenization import load_tokenizer, write_vocab_txt

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    write_vocab_txt(load_tokenizer(ckpt), ckpt)
    (ckpt / "tokenizer.json").unlink()  # only vocab.txt, like bert-base-chinese style folders
    (ckpt / "tokenizer_config.json").unlink()
    bundle = run_export(options(ckpt, tmp_path / "bundle", max_drop=100.0))
    from albert_edge_runtime import SentimentClassifier

    assert SentimentClassifier.load(bundle).predict(["这个产品很好"])[0].label in ("negative", "positive")


def test_run_time_reshape_targets_become_constants():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from albert_edge_export.graph import constant_reshapes

    const = [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in [("i0", 0), ("i1", 1), ("heads", [2]), ("size", [3]), ("axis0", [0])]
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["b"]),
        helper.make_node("Gather", ["shape", "i1"], ["t"]),
        helper.make_node("Unsqueeze", ["b", "axis0"], ["b1"]),
        helper.make_node("Unsqueeze", ["t", "axis0"], ["t1"]),
        helper.make_node("Concat", ["b1", "t1", "heads", "size"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),  # (B, T, 6) -> (B, T, 2, 3)
        helper.make_node("Reshape", ["x", "free"], ["z"]),
    ]  # target fed at run time: cannot be known
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "g",
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", 6]),
                helper.make_tensor_value_info("free", TensorProto.INT64, [2]),
            ],
            [
                helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", 2, 3]),
                helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
            ],
            const,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    before = model.SerializeToString()
    assert constant_reshapes(model) == 1
    targets = {i.name: numpy_helper.to_array(i).tolist() for i in model.graph.initializer}
    assert [n.op_type for n in model.graph.node] == ["Reshape", "Reshape"] and [0, 0, 2, 3] in targets.values()
    for shape in [(1, 5, 6), (3, 2, 6)]:  # other batch sizes and lengths than any seen while rewriting
        feeds = {
            "x": np.random.default_rng(0).normal(size=shape).astype(np.float32),
            "free": np.array([shape[0] * shape[1], 6], np.int64),
        }
        old, new = (
            ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feeds)
            for m in (before, model.SerializeToString())
        )
        for a, b in zip(old, new):
            np.testing.assert_array_equal(a, b)


def test_exported_layers_compute_no_shapes(exported):
    _, bundle = exported
    ops = [n.op_type for n in onnx.load(str(bundle / "model.onnx")).graph.node]
    assert ops.count("Shape") <= 1 and "Concat" not in ops  # at most the embeddings' position ids


def test_a_graph_that_fails_its_coverage_check_is_refused(exported, tmp_path, monkeypatch):
    import albert_edge_export.pipeline as pipeline
    from albert_edge_export.coverage import Coverage

    def failing(model, allowed_fp32=frozenset()):
        return Coverage(weight_matmuls=3, quantized_weight_matmuls=2, fp32_weights=["onnx::MatMul_7"])

    monkeypatch.setattr(pipeline, "coverage", failing)
    out = tmp_path / "b"
    with pytest.raises(ValueError, match=r"the INT8 graph fails its coverage check \(fp32 weight matrices: onnx::Mat"):
        run_export(export_options(exported[0], out, max_drop=100.0))
    assert not out.exists()


def test_export_and_eval_read_the_split_seed_the_model_was_trained_with(tmp_path):
    """A model trained on split seed 7 was guarded and test-scored on seed 13's split, which holds its training
    texts; the seed now travels in the typed training record."""
    from albert_edge.data import load_reviews
    from albert_edge.record import TrainingRecord
    from albert_edge_export.options import ExportOptions, resolved
    from albert_edge_export.texts import held_out

    record = TrainingRecord(args={"split_seed": 7, "max_length": 64, "truncation": "head"}, data={"seed": 7})
    record.save(tmp_path)
    assert TrainingRecord.load(tmp_path) == record and record.split_seed == 7 and record.builtin_reviews
    chosen = resolved(ExportOptions(checkpoint=tmp_path, out=tmp_path / "b"))
    assert (chosen.split_seed, chosen.verify_data, chosen.max_length, chosen.truncation) == (
        7,
        "reviews-dev",
        64,
        "head",
    )
    assert chosen.languages == ["zh"]
    texts, labels = held_out("reviews-dev", None, ["negative", "positive"], split_seed=7)
    assert texts == load_reviews(seed=7).dev.texts and texts != load_reviews(seed=13).dev.texts


def test_the_export_flags_are_the_options_fields_with_their_defaults(tmp_path):
    import argparse
    from dataclasses import fields

    from albert_edge_export.cli import add_export_parser
    from albert_edge_export.options import ExportOptions, options_from_args

    parser = argparse.ArgumentParser()
    add_export_parser(parser.add_subparsers())
    args = parser.parse_args(["export", str(tmp_path), "--out", str(tmp_path / "b")])
    assert options_from_args(args, "cmd") == ExportOptions(checkpoint=tmp_path, out=tmp_path / "b", command="cmd")
    flags = {f.name for f in fields(ExportOptions) if "flag" in f.metadata}
    assert flags <= set(vars(args)) and len(flags) >= 14
    given = ["--max-drop", "1.5", "--keep-fp32", "*pooler*", "--keep-fp32", "*classifier*", "--languages", "en,de",
             "--weights", "int4", "--int4-block-size", "64", "--no-int4-symmetric", "--per-channel"]  # fmt: skip
    chosen = options_from_args(parser.parse_args(["export", str(tmp_path), "--out", "b", *given]), "cmd")
    assert (chosen.max_drop, chosen.keep_fp32, chosen.languages) == (1.5, ["*pooler*", "*classifier*"], ["en", "de"])
    assert (chosen.weights, chosen.int4_block_size, chosen.int4_symmetric, chosen.per_channel) == (
        "int4",
        64,
        False,
        True,
    )


def test_the_export_report_is_what_the_manifest_holds(tmp_path):
    """One typed report fills manifest.json's metrics and quantization sections; they read back the same."""
    from albert_edge_export.coverage import Coverage
    from albert_edge_export.options import ExportOptions
    from albert_edge_export.report import ExportReport, weight_format
    from albert_edge_export.verify import Verification
    from albert_edge_runtime.manifest import Manifest

    options = ExportOptions(checkpoint=tmp_path, out=tmp_path / "b", verify_data="probes", weights="int4")
    report = ExportReport(weight_format("int4"), parameters=1000, model_bytes=600, kept_wider=["albert.w"])
    report.verify = Verification(32, 1.0, 0.01, None, None)
    report.coverage = Coverage(weight_matmuls=3, quantized_weight_matmuls=3)
    sections = report.sections(options)
    Manifest(labels=["a", "b"], max_length=64, truncation="head", pad_token_id=0, files={}, **sections).write(tmp_path)
    read = Manifest.from_dict(json.loads((tmp_path / "manifest.json").read_text()))
    assert (read.metrics, read.quantization, read.export) == (
        sections["metrics"],
        sections["quantization"],
        sections["export"],
    )
    assert read.quantization["kept_int8_by_guard"] == ["albert.w"] and read.quantization["kept_fp32_by_guard"] == []
    assert read.quantization["block_size"] == options.int4_block_size and read.metrics["bytes_per_parameter"] == 0.6
    assert read.metrics["verify"]["quantized_accuracy"] is None and "test" not in read.metrics
    with pytest.raises(ValueError, match="unknown weights 'int2'; expected one of int8, int4, fp32"):
        weight_format("int2")
