"""`albert-edge-run bench --recommend`: one model's fp32, INT8 and 4-bit exports timed here, checked against the
most precise, and one recommended, in the table and the JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from albert_edge_runtime.recommend import choose
from bundles import labelled_file


@pytest.fixture(scope="module")
def three(exported, tmp_path_factory):
    """`albert-edge export --variants`: the three exports of one model in one call."""
    ckpt = exported[0]
    tmp = tmp_path_factory.mktemp("recommend")
    data = str(labelled_file(tmp / "held_out.tsv", ckpt))
    command = ["export", ckpt, "--out", tmp / "b", "--variants", "--verify-data", data, "--max-drop", "100",
               "--batch-tolerance", "1", "--max-length", "64"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "albert_edge_export", *map(str, command)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    written = [json.loads(line)["bundle"] for line in done.stdout.splitlines()]
    assert written == [str(tmp / "b" / w) for w in ("fp32", "int8", "int4")]
    return {w: tmp / "b" / w for w in ("fp32", "int8", "int4")}


def run(*args):
    command = [sys.executable, "-m", "albert_edge_runtime", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True)


def test_recommend_times_every_bundle_and_names_one(three, tmp_path):
    bundles = [three["int4"], three["fp32"], three["int8"]]
    done = run("bench", "--recommend", *bundles, "--iterations", "3", "--warmup", "1", "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    rows = {r["weights"]: r for r in report["bundles"]}
    assert set(rows) == {"none (fp32)", "dynamic-int8", "block-int4 (MatMulNBits, GatherBlockQuantized)"}
    assert report["reference"] == str(three["fp32"])  # the most precise, whatever the order given
    assert rows["none (fp32)"]["label_agreement"] == 1.0 and rows["none (fp32)"]["max_probability_difference"] == 0
    assert report["recommended"] in {str(b) for b in bundles} and report["why"]
    assert "cpu_features" in report["machine"] and f"use {report['recommended']}" in done.stdout


def test_the_choice_prefers_fast_then_small_and_never_breaks_the_contract():
    def row(ms, size, ok=True):
        return {"real_text_p50_ms": ms, "model_bytes": size, "within_contract": ok}

    assert choose([row(2.0, 100), row(1.0, 50), row(0.5, 10, ok=False)])[0] == 1  # the fastest within contract
    index, why = choose([row(1.0, 100), row(1.04, 50)])
    assert index == 1 and "smallest" in why  # within 5 %: the smaller one
    assert choose([row(1.0, 100), row(1.10, 50)])[0] == 0


def test_recommend_needs_two_bundles_of_one_model(three, exported):
    done = run("bench", "--recommend", three["int8"])
    assert done.returncode == 1 and "--recommend takes two or more bundles" in done.stderr
    done = run("bench", "--bundle", three["fp32"], "--recommend", three["int8"], three["int4"])
    assert done.returncode == 1 and "no --bundle or --against" in done.stderr
