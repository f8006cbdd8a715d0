"""`albert-edge-run score`: classify a file of any size in bounded memory, resumably.

Rows stream in (text lines, JSONL, CSV, TSV or Parquet), are classified FLUSH_ROWS valid texts at a time (each
run alone, so a row's answer equals `predict([text])` bit for bit), and stream out in the output's
format with the input's columns kept and `label`, `score`, one `p_<label>` per label and `truncated` added
(`result_prefix` before each name; an input column of the same name is refused, never overwritten). Output
goes to OUT.partial (Parquet: one part per chunk in OUT.parts/) and becomes OUT only when complete. After each
chunk the partial files are flushed and OUT.progress records how far they are: the same command, run again after
a kill, truncates them to that point and continues, so the finished file equals an uninterrupted run's byte for
byte. Bad rows (not UTF-8, missing text, empty) are listed with their row number in OUT.errors.jsonl and counted
on stderr; they never stop the job. Files are read as UTF-8 with or without a BOM (Excel's "CSV UTF-8").
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .classifier import Prediction, SentimentClassifier

FLUSH_ROWS = 256  # valid rows between two checkpoints of the output: a kill loses at most these
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def file_format(path: Path) -> str:
    return FORMATS.get(path.suffix.lower(), "text")


@dataclass
class Row:
    number: int  # 1-based, data rows only (a CSV header is not a row)
    record: dict[str, Any]  # the input's columns, written back out
    text: str | None  # None: a bad row, `error` says why
    error: str = ""


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # surrogateescape kept the undecodable bytes as lone surrogates
        return False
    return True


def unscorable(value: object, column: str) -> str | None:
    """The one rule of bulk scoring (score and --ray): why a row's text cannot be scored, or None. `predict`
    answers an empty text (marked `empty`); in a backlog an empty row is a data problem to list, not to answer."""
    if value is None:
        return f"no {column!r} column or key"
    if not isinstance(value, str):
        return f"{column!r} is not text"
    if not _utf8(value):
        return "not UTF-8"
    if not value.strip():
        return "empty text"
    return None


def _check(number: int, record: dict[str, Any], value: object, column: str) -> Row:
    problem = unscorable(value, column)
    if problem is not None or not isinstance(value, str):
        return Row(number, record, None, problem or "not text")
    return Row(number, record, value)


def require_pyarrow() -> None:
    """Parquet in or out needs the `[parquet]` extra: refused before any work or file."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise ImportError("Parquet needs pyarrow: pip install 'albert-edge-runtime[parquet]'") from exc


def read_parquet(path: Path, text_column: str, results: list[str]) -> Iterator[Row]:
    require_pyarrow()
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if text_column not in file.schema_arrow.names:
        raise ValueError(f"{path} has no {text_column!r} column (it has {file.schema_arrow.names}); pass --text-column")
    refuse_collisions(file.schema_arrow.names, results, str(path))
    number = 0
    for batch in file.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            yield _check(number, record, record.get(text_column), text_column)


def read_rows(path: Path, text_column: str, results: list[str] = []) -> Iterator[Row]:  # noqa: B006 - read only
    """The rows of `path` (any other suffix than .csv/.tsv/.jsonl/.parquet: one text per line). `results`: the
    column names the results take, refused in a header and a bad row in a JSON object."""
    kind = file_format(path)
    if kind == "parquet":
        yield from read_parquet(path, text_column, results)
        return
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        if kind in ("csv", "tsv"):
            reader = csv.DictReader(f, delimiter="," if kind == "csv" else "\t")
            if reader.fieldnames is None or text_column not in reader.fieldnames:
                raise ValueError(
                    f"{path} has no {text_column!r} column (it has {reader.fieldnames}); pass --text-column"
                )
            refuse_collisions(list(reader.fieldnames), results, str(path))
            for number, record in enumerate(reader, start=1):
                if None in record:  # csv.DictReader's key for fields beyond the header's
                    yield Row(number, {}, None, f"{len(record[None])} more fields than the header's")
                    continue
                yield _check(number, dict(record), record.get(text_column), text_column)
            return
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if kind == "text":
                yield _check(number, {"text": line}, line, "text")
                continue
            parsed: Any = None
            try:
                parsed = json.loads(line) if _utf8(line) else None
            except json.JSONDecodeError:
                pass
            taken = [name for name in results if name in parsed] if isinstance(parsed, dict) else []
            if not isinstance(parsed, dict):
                yield Row(number, {}, None, "not a JSON object" if _utf8(line) else "not UTF-8")
            elif taken:
                yield Row(number, {}, None, f"has the key(s) {taken} the results would overwrite; pass --result-prefix")
            else:
                yield _check(number, parsed, parsed.get(text_column), text_column)


def result_columns(prediction: Prediction, prefix: str = "") -> dict[str, Any]:
    """Unrounded: the written floats read back as `predict`'s, bit for bit."""
    probabilities = {f"{prefix}p_{label}": p for label, p in prediction.probabilities.items()}
    columns = {f"{prefix}label": prediction.label, f"{prefix}score": prediction.score, **probabilities}
    return columns | {f"{prefix}truncated": prediction.truncated}


def result_names(labels: list[str], prefix: str = "") -> list[str]:
    return [f"{prefix}label", f"{prefix}score", *(f"{prefix}p_{label}" for label in labels), f"{prefix}truncated"]


def refuse_collisions(columns: list[str], results: list[str], where: str) -> None:
    """The results never overwrite an input column: refused, with the flag that renames them."""
    taken = [name for name in results if name in columns]
    if taken:
        raise ValueError(
            f"{where} already has the column(s) {taken} that the results would overwrite; "
            "pass --result-prefix (say --result-prefix pred_) to write them beside the input's"
        )


class TextSink:
    """Rows out as JSONL objects, or CSV/TSV with the header written once (the first row's columns). Its
    checkpoint is the flushed file's size; resuming truncates the file to it."""

    def __init__(self, out: Path, kind: str):
        self.path, self.kind = out.with_name(out.name + ".partial"), kind
        self.f: IO[str] | None = None
        self.csv: csv.DictWriter | None = None

    def open(self, checkpoint: int) -> None:
        if checkpoint:
            _truncate(self.path, checkpoint)
        else:
            self.path.write_bytes(b"")
        self.f = self.path.open("a", encoding="utf-8", newline="")
        self.header_written = checkpoint > 0

    def write(self, row: dict[str, Any]) -> None:
        assert self.f is not None
        if self.kind == "jsonl":
            self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        if self.csv is None:
            delimiter = "," if self.kind == "csv" else "\t"
            self.csv = csv.DictWriter(self.f, fieldnames=list(row), delimiter=delimiter, extrasaction="ignore")
            if not self.header_written:
                self.csv.writeheader()
        self.csv.writerow(row)

    def checkpoint(self) -> int:
        assert self.f is not None
        self.f.flush()
        os.fsync(self.f.fileno())
        return os.fstat(self.f.fileno()).st_size

    def finish(self, out: Path) -> None:
        assert self.f is not None
        self.f.close()
        os.replace(self.path, out)


class ParquetSink:
    """Rows out as Parquet (the `[parquet]` extra): one part file per chunk in OUT.parts/, merged into OUT at the
    end, so memory holds one chunk. Its checkpoint is the number of finished parts."""

    def __init__(self, out: Path):
        self.parts = out.with_name(out.name + ".parts")
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def open(self, checkpoint: int) -> None:
        self.parts.mkdir(exist_ok=True)
        for part in self.parts.glob("part-*.parquet"):
            if int(part.stem.split("-")[1]) >= checkpoint:
                part.unlink()  # written after the last checkpoint
        self.count = checkpoint

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def checkpoint(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.rows:
            target = self.parts / f"part-{self.count:06d}.parquet"
            pq.write_table(pa.Table.from_pylist(self.rows), target.with_suffix(".tmp"))
            os.replace(target.with_suffix(".tmp"), target)
            self.rows, self.count = [], self.count + 1
        return self.count

    def finish(self, out: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted(self.parts.glob("part-*.parquet"))
        partial = out.with_name(out.name + ".partial")
        if parts:
            # a column that is null in one part and typed in another (an error column) gets the typed schema
            schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
            with pq.ParquetWriter(partial, schema) as writer:
                for part in parts:
                    writer.write_table(pq.read_table(part).cast(schema))
        else:
            pq.write_table(pa.table({}), partial)
        os.replace(partial, out)
        for part in parts:
            part.unlink()
        self.parts.rmdir()


def _identity(path: Path, options: dict) -> dict:
    stat = path.stat()
    return {"input": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, **options}


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


@dataclass
class Progress:
    rows: int = 0  # input rows consumed
    out_checkpoint: int = 0  # the sink's own measure: bytes written, or parts finished
    errors_bytes: int = 0
    scored: int = 0
    bad: int = 0


def score_file(
    clf: SentimentClassifier,
    source: Path,
    out: Path,
    text_column: str = "text",
    progress_bar: bool = True,
    result_prefix: str = "",
) -> dict[str, Any]:
    """Score `source` into `out` (format from its suffix); resumes a job killed with the same arguments."""
    kind = file_format(out)
    if kind == "text":
        raise ValueError(f"--out {out}: write .jsonl, .csv, .tsv or .parquet (the input's columns and results)")
    if not source.is_file():
        raise FileNotFoundError(f"input {source} not found" + (" (it is a folder)" if source.is_dir() else ""))
    if "parquet" in (kind, file_format(source)):
        require_pyarrow()
    errors_partial, ledger = out.with_name(out.name + ".errors.partial"), out.with_name(out.name + ".progress")
    identity = _identity(source, {"text_column": text_column, "out": str(out), "result_prefix": result_prefix})
    results = result_names(clf.labels, result_prefix)
    rows = read_rows(source, text_column, results)
    first = next(rows, None)  # a missing or colliding column is refused here, before any output file exists
    sink: TextSink | ParquetSink = ParquetSink(out) if kind == "parquet" else TextSink(out, kind)
    done = _resume_point(ledger, identity, errors_partial)
    if done.rows:
        print(f"score: resuming {out} after row {done.rows} (the earlier run's progress)", file=sys.stderr)
    sink.open(done.out_checkpoint)
    bar = _bar(progress_bar, done.rows)
    with errors_partial.open("a", encoding="utf-8") as errs:
        pending: list[Row] = []
        for row in itertools.chain([first] if first else [], rows):
            if row.number <= done.rows:
                continue  # scored before the restart
            pending.append(row)
            if sum(r.text is not None for r in pending) == FLUSH_ROWS:
                _flush(clf, pending, sink, errs, done, result_prefix, ledger, identity, bar)
                pending = []
        _flush(clf, pending, sink, errs, done, result_prefix, ledger, identity, bar)
    if bar is not None:
        bar.close()
    sink.finish(out)
    errors = out.with_name(out.name + ".errors.jsonl")
    if done.bad:
        os.replace(errors_partial, errors)
    else:
        errors_partial.unlink()
        errors.unlink(missing_ok=True)  # a list from an earlier job on this output
    ledger.unlink()
    return {"rows": done.rows, "scored": done.scored, "bad_rows": done.bad, "out": str(out),
            "errors": str(errors) if done.bad else None}  # fmt: skip


def _resume_point(ledger: Path, identity: dict, errors_partial: Path) -> Progress:
    if ledger.is_file() and errors_partial.is_file():
        saved = json.loads(ledger.read_text(encoding="utf-8"))
        if saved["identity"] == identity:
            done = Progress(**saved["progress"])
            _truncate(errors_partial, done.errors_bytes)
            return done
    errors_partial.write_bytes(b"")  # a different job (or none) was here: start over
    return Progress()


def _flush(clf, rows: list[Row], sink, errs: IO[str], done: Progress, prefix: str,
           ledger: Path, identity: dict, bar) -> None:  # fmt: skip
    if not rows:
        return
    valid = [r for r in rows if r.text is not None]
    predictions = clf.iter_predict([r.text for r in valid])
    for row in rows:
        if row.text is None:
            errs.write(json.dumps({"row": row.number, "error": row.error}, ensure_ascii=False) + "\n")
            done.bad += 1
        else:
            sink.write({**row.record, **result_columns(next(predictions), prefix)})
            done.scored += 1
    done.rows = rows[-1].number
    errs.flush()
    os.fsync(errs.fileno())
    done.out_checkpoint, done.errors_bytes = sink.checkpoint(), os.fstat(errs.fileno()).st_size
    tmp = ledger.with_name(ledger.name + ".tmp")
    tmp.write_text(json.dumps({"identity": identity, "progress": done.__dict__}), encoding="utf-8")
    os.replace(tmp, ledger)  # the ledger never claims more than the flushed files hold
    if bar is not None:
        bar.update(len(rows))


def _bar(enabled: bool, initial: int):
    """tqdm's bar on stderr when installed (the `[score]` extra); otherwise only the summary line."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(desc="score", unit=" rows", initial=initial, file=sys.stderr, mininterval=1.0)
