"""The Ray Data path of `score` gives the local path's results (a local Ray, loopback only)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed: pip install './runtime[ray]'")
pa = pytest.importorskip("pyarrow", reason="Ray Data needs pyarrow")

from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

from albert_edge_runtime import SentimentClassifier  # noqa: E402
from albert_edge_runtime.ray import score_with_ray  # noqa: E402
from albert_edge_runtime.score import score_file  # noqa: E402

TEXTS = ["这个产品很好", "质量太差了，再也不买了", "物流很快但是包装一般", "客服态度很好", "不推荐", ""]


@pytest.fixture(scope="module")
def local_ray():
    # Logical CPUs, not cores: two classifier actors hold one each, and Ray Data's read tasks need their own
    # or the job waits for a CPU that never frees.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_path_equals_the_local_path_on_parquet(exported, tmp_path, local_ray):
    records = [{"id": i, "review": f"{TEXTS[i % len(TEXTS)]}{'' if i % 6 == 5 else f' 第{i}次'}"} for i in range(200)]
    records[5]["review"] = ""  # a bad row: both paths drop it
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(records), source)
    local = tmp_path / "local.parquet"
    score_file(SentimentClassifier.load(exported[1]), source, local, text_column="review", progress_bar=False)
    summary = score_with_ray(source, tmp_path / "ray", None, 2, str(exported[1]), "review")
    assert summary["rows"] == 200 and summary["scored"] == summary["rows"] - summary["bad_rows"]
    expected = sorted(pq.read_table(local).to_pylist(), key=lambda r: r["id"])
    got = sorted(pq.read_table(Path(summary["out"])).to_pylist(), key=lambda r: r["id"])
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for a, b in zip(got, expected):
        assert a == b  # every text runs alone on both paths: bit-identical answers


def test_ray_path_refuses_what_it_cannot_read(exported, tmp_path, local_ray):
    (tmp_path / "in.txt").write_text("好\n", encoding="utf-8")
    with pytest.raises(ValueError, match="--ray reads .csv, .jsonl or .parquet inputs"):
        score_with_ray(tmp_path / "in.txt", tmp_path / "o", None, 1, str(exported[1]))
    pq.write_table(pa.Table.from_pylist([{"review": "好"}]), tmp_path / "in.parquet")
    with pytest.raises(ValueError, match="has no 'text' column"):
        score_with_ray(tmp_path / "in.parquet", tmp_path / "o", None, 1, str(exported[1]))


def test_ray_and_score_drop_the_same_rows_by_one_rule(exported):
    from albert_edge_runtime.ray import ScoreBatches
    from albert_edge_runtime.score import unscorable

    rows = [{"review": "很好", "n": 1}, {"review": "  ", "n": 2}, {"review": None, "n": 3}]
    kept = ScoreBatches(str(exported[1]), text_column="review")(pa.Table.from_pylist(rows)).to_pylist()
    assert [r["n"] for r in kept] == [1]  # the rows the local path lists as bad are the ones Ray drops
    reasons = [unscorable(r["review"], "review") for r in rows] + [unscorable("坏\udcff", "review")]
    assert reasons == [None, "empty text", "no 'review' column or key", "not UTF-8"]
