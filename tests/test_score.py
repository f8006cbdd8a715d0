"""`albert-edge-run score`: every format row for row equal to `predict`, bad rows listed, a killed job resumed to
the same bytes, and memory that does not grow with the input."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from albert_edge_runtime import SentimentClassifier
from albert_edge_runtime.score import score_file

TEXTS = ["这个产品很好", "质量太差了，再也不买了", "物流很快但是包装一般", "客服态度很好", "不推荐"]


def rows(n: int) -> list[dict]:
    return [{"id": str(i), "review": f"{TEXTS[i % len(TEXTS)]} 第{i}次", "shop": f"s{i % 3}"} for i in range(n)]


def write_input(path, records: list[dict]) -> None:
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    elif path.suffix in (".csv", ".tsv"):
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]), delimiter="," if path.suffix == ".csv" else "\t")
            writer.writeheader()
            writer.writerows(records)
    else:
        path.write_text("".join(r["review"] + "\n" for r in records), encoding="utf-8")


def read_output(path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="," if path.suffix == ".csv" else "\t"))


def run(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "albert_edge_runtime", "score", *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.parametrize("source, target", [(".txt", ".jsonl"), (".jsonl", ".jsonl"), (".csv", ".csv"),
                                            (".tsv", ".tsv"), (".csv", ".jsonl"), (".parquet", ".parquet"),
                                            (".jsonl", ".parquet")])  # fmt: skip
def test_every_format_equals_predict_row_for_row(exported, tmp_path, source, target):
    records = rows(600)  # more than one chunk
    inp, out = tmp_path / f"in{source}", tmp_path / f"out{target}"
    write_input(inp, records)
    clf = SentimentClassifier.load(exported[1])
    summary = score_file(clf, inp, out, text_column="review", progress_bar=False)
    assert summary == {"rows": 600, "scored": 600, "bad_rows": 0, "out": str(out), "errors": None}
    expected = clf.predict([r["review"] for r in records])
    got = read_output(out)
    assert len(got) == 600 and not (tmp_path / f"out{target}.progress").exists()
    for record, row, prediction in zip(records, got, expected):
        if source != ".txt":
            assert all(str(row[k]) == v for k, v in record.items())  # the input's columns are kept
        assert row["label"] == prediction.label and float(row["score"]) == prediction.score  # exact: floats round-trip
        assert all(float(row[f"p_{k}"]) == p for k, p in prediction.probabilities.items())


def test_bad_rows_are_listed_and_the_job_goes_on(exported, tmp_path):
    inp = tmp_path / "in.jsonl"
    good = json.dumps({"review": "很好"}, ensure_ascii=False).encode()
    lines = [good, b'{"review": "\xb2\xbb\xba\xc3"}', b'{"other": "x"}', b'{"review": "   "}', b"not json", good]
    inp.write_bytes(b"\n".join(lines) + b"\n")
    done = run(inp, "--out", tmp_path / "out.jsonl", "--bundle", exported[1], "--text-column", "review")
    assert done.returncode == 0, done.stderr
    assert "4 bad rows skipped, listed in" in done.stderr
    errors = [json.loads(x) for x in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert errors == [{"row": 2, "error": "not UTF-8"}, {"row": 3, "error": "no 'review' column or key"},
                      {"row": 4, "error": "empty text"}, {"row": 5, "error": "not a JSON object"}]  # fmt: skip
    assert len(read_output(tmp_path / "out.jsonl")) == 2


def test_errors_say_what_to_do(exported, tmp_path):
    (tmp_path / "in.csv").write_text("review\n好\n", encoding="utf-8")
    done = run(tmp_path / "in.csv", "--out", tmp_path / "o.csv", "--bundle", exported[1])
    assert done.returncode == 1 and "has no 'text' column (it has ['review']); pass --text-column" in done.stderr
    done = run(tmp_path / "in.csv", "--out", tmp_path / "o.txt", "--bundle", exported[1])
    assert done.returncode == 1 and "write .jsonl, .csv, .tsv or .parquet" in done.stderr
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.partial").exists()


def test_input_columns_are_never_overwritten(exported, tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("review,label,score\n这个产品很好,positive,5\n", encoding="utf-8")
    done = run(gold, "--out", tmp_path / "out.csv", "--text-column", "review", "--bundle", exported[1])
    assert done.returncode == 1 and not (tmp_path / "out.csv").exists()
    assert "already has the column(s) ['label', 'score'] that the results would overwrite; pass --result-prefix" in (
        done.stderr
    )
    done = run(gold, "--out", tmp_path / "out.csv", "--text-column", "review", "--bundle", exported[1],
               "--result-prefix", "pred_")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = read_output(tmp_path / "out.csv")
    assert row["label"] == "positive" and row["score"] == "5" and row["pred_label"] and row["pred_score"]
    lines = [{"review": "很好", "label": "gold"}, {"review": "很差"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")
    done = run(tmp_path / "in.jsonl", "--out", tmp_path / "o.jsonl", "--text-column", "review", "--bundle", exported[1])
    assert done.returncode == 0 and "1 bad rows skipped" in done.stderr
    errors = read_output(tmp_path / "o.jsonl.errors.jsonl")
    assert errors == [{"row": 1, "error": "has the key(s) ['label'] the results would overwrite; pass --result-prefix"}]


def test_excel_bom_extra_fields_and_a_missing_extra(exported, tmp_path, monkeypatch):
    source = tmp_path / "excel.csv"
    source.write_bytes("\ufeffreview,shop\n很好,a\n很差,b,extra\n".encode())
    done = run(source, "--out", tmp_path / "o.jsonl", "--text-column", "review", "--bundle", exported[1])
    assert done.returncode == 0, done.stderr
    assert [r["review"] for r in read_output(tmp_path / "o.jsonl")] == ["很好"]
    assert read_output(tmp_path / "o.jsonl.errors.jsonl") == [{"row": 2, "error": "1 more fields than the header's"}]
    assert None not in read_output(tmp_path / "o.jsonl")[0] and "null" not in read_output(tmp_path / "o.jsonl")[0]
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if the [parquet] extra were not installed
    with pytest.raises(ImportError, match=r"Parquet needs pyarrow: pip install 'albert-edge-runtime\[parquet\]'"):
        score_file(SentimentClassifier.load(exported[1]), source, tmp_path / "o.parquet", "review", False)
    assert list(tmp_path.glob("o.parquet*")) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_killed_job_resumes_to_the_same_output(exported, tmp_path, suffix):
    inp = tmp_path / "in.csv"
    write_input(inp, rows(20_000))
    whole = run(inp, "--out", tmp_path / f"whole{suffix}", "--bundle", exported[1], "--text-column", "review")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / f"cut{suffix}"
    command = [sys.executable, "-m", "albert_edge_runtime", "score", str(inp), "--out", str(out), "--no-progress",
               "--bundle", str(exported[1]), "--text-column", "review"]  # fmt: skip
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = tmp_path / f"cut{suffix}.progress"
    deadline = time.monotonic() + 120
    while not (ledger.exists() and json.loads(ledger.read_text())["progress"]["rows"] >= 2_000):
        assert time.monotonic() < deadline and job.poll() is None, "the job ended before it could be killed"
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not out.exists()  # no half output under the final name
    again = run(inp, "--out", out, "--bundle", exported[1], "--text-column", "review")
    assert again.returncode == 0, again.stderr
    assert f"score: resuming {out} after row " in again.stderr
    if suffix == ".csv":
        assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert read_output(out) == read_output(tmp_path / f"whole{suffix}")


@pytest.mark.perf
def test_memory_stays_flat_with_input_size(exported, tmp_path):
    probe = (
        "import sys; from pathlib import Path; from albert_edge_runtime import SentimentClassifier; "
        "from albert_edge_runtime.memory import peak_rss_mib; from albert_edge_runtime.score import score_file; "
        "score_file(SentimentClassifier.load(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), 'review', "
        "progress_bar=False); print(peak_rss_mib())"
    )
    peaks = {}
    for n in (20_000, 200_000):
        inp = tmp_path / f"in{n}.csv"
        write_input(inp, rows(n))
        done = subprocess.run([sys.executable, "-c", probe, str(exported[1]), str(inp), str(tmp_path / f"o{n}.csv")],
                              capture_output=True, text=True, check=True)  # fmt: skip
        peaks[n] = float(done.stdout.strip().splitlines()[-1])
    print(f"\nscore peak RSS: 20 000 rows {peaks[20_000]:.1f} MiB, 200 000 rows {peaks[200_000]:.1f} MiB")
    assert peaks[200_000] - peaks[20_000] < 8, peaks  # ten times the input, not ten times the memory
