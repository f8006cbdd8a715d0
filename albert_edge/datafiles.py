"""A user's labelled data: CSV, TSV or JSONL files with a text column and a label column, read strictly (every
problem names the file, the row and the fix), deduplicated, and checked for texts shared between the files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from .data import Split, normalize

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class DataFileError(ValueError):
    """A data file that cannot be used as it is; the message names the file, the row and what to do."""


@dataclass
class LabelledFile:
    path: Path
    texts: list[str]
    labels: list[str]  # as written in the file
    lines: list[int]  # where each example starts, for messages
    sha256: str


@dataclass
class LabelledData:
    """Train/dev(/test) splits with label ids, the label names in id order, and what preparing them changed."""

    labels: list[str]
    train: Split
    dev: Split
    test: Split | None
    report: dict = field(default_factory=dict)


def _text_of(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found; give a CSV, TSV or JSONL file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{path}: line {row} is not UTF-8 (byte {exc.start}); re-save the file as UTF-8, e.g. "
            f"iconv -f GBK -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}"
        ) from exc
    if not text.strip():
        raise DataFileError(f"{path} is empty; give a file with a header (or JSON keys) and one example per row")
    return text


def _rows(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, row) pairs; the header of a CSV/TSV file is line 1."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataFileError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .jsonl")
    if kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: line {number} is not JSON ({exc.msg}); one object per line") from exc
            if not isinstance(row, dict):
                raise DataFileError(f'{path}: line {number} is not a JSON object; write {{"text": ..., ...}}')
            rows.append((number, row))
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="," if kind == "csv" else "\t")
    return [(reader.line_num, row) for row in reader]


def read_labelled(path: str | Path, text_column: str, label_column: str) -> LabelledFile:
    """Every row's text and label, as strings. Missing columns, empty texts or labels are errors."""
    path = Path(path)
    text = _text_of(path)
    texts, labels, lines = [], [], []
    for number, row in _rows(path, text):
        missing = [c for c in (text_column, label_column) if row.get(c) is None]
        if missing:
            columns = ", ".join(repr(k) for k in row if k is not None)
            raise DataFileError(
                f"{path}: line {number} has no {' or '.join(map(repr, missing))} column (it has {columns}); "
                "pass --text-column / --label-column"
            )
        value, label = row[text_column], row[label_column]
        if not isinstance(value, str) or not value.strip():
            raise DataFileError(f"{path}: line {number} has an empty or non-text {text_column!r}; fix or remove it")
        if isinstance(label, (dict, list)) or str(label).strip() == "":
            raise DataFileError(f"{path}: line {number} has no usable label in {label_column!r}; fix or remove it")
        texts.append(value)
        labels.append(str(label).strip())
        lines.append(number)
    if not texts:
        raise DataFileError(f"{path} has a header but no examples; add rows")
    return LabelledFile(path, texts, labels, lines, hashlib.sha256(text.encode("utf-8")).hexdigest())


def label_order(names: set[str]) -> list[str]:
    """Numeric labels in numeric order ("0", "1", "2"), others alphabetically: stable whatever the row order."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def dedupe_labelled(file: LabelledFile) -> tuple[dict[str, tuple[str, str]], int, int]:
    """{normalized text: (text, label)}; texts seen with two labels are dropped (no trustworthy label)."""
    seen: dict[str, tuple[str, set[str]]] = {}
    for text, label in zip(file.texts, file.labels):
        seen.setdefault(normalize(text) or text, (text, set()))[1].add(label)
    kept = {k: (text, next(iter(labels))) for k, (text, labels) in seen.items() if len(labels) == 1}
    return kept, len(file.texts) - len(seen), len(seen) - len(kept)


def prepare(train: LabelledFile, dev: LabelledFile, test: LabelledFile | None) -> LabelledData:
    """Label ids from the training file; dev/test labels must be among them. Duplicates go, and a training text
    that is also in dev or test is dropped from training, so those splits measure unseen text."""
    labels = label_order(set(train.labels))
    if len(labels) < 2:
        raise DataFileError(f"{train.path}: every row has label {labels[0]!r}; a classifier needs 2 or more labels")
    files = {"train": train, "dev": dev, **({"test": test} if test is not None else {})}
    unique = {name: dedupe_labelled(f) for name, f in files.items()}
    for f in files.values():
        for number, label in zip(f.lines, f.labels):
            if label not in labels:
                raise DataFileError(
                    f"{f.path}: line {number} has label {label!r}, which the training file never uses "
                    f"(labels: {', '.join(labels)}); fix the label or add training examples of it"
                )
    held_out = set(unique["dev"][0]) | (set(unique["test"][0]) if test is not None else set())
    leaked = [k for k in unique["train"][0] if k in held_out]
    train_items = {k: v for k, v in unique["train"][0].items() if k not in held_out}
    splits = {"train": train_items, **{n: unique[n][0] for n in files if n != "train"}}

    def as_split(items: dict[str, tuple[str, str]]) -> Split:
        return Split([t for t, _ in items.values()], [labels.index(label) for _, label in items.values()])

    report = {
        "labels": labels,
        "files": {n: {"path": str(f.path), "sha256": f.sha256, "rows": len(f.texts)} for n, f in files.items()},
        "duplicates_dropped": {n: unique[n][1] for n in files},
        "conflicting_labels_dropped": {n: unique[n][2] for n in files},
        "train_texts_also_held_out_dropped": len(leaked),
        "dev_texts_also_in_test": len(set(unique["dev"][0]) & set(unique["test"][0])) if test is not None else 0,
        "counts": {n: len(items) for n, items in splits.items()},
    }
    return LabelledData(
        labels, as_split(splits["train"]), as_split(splits["dev"]), as_split(splits["test"]) if test else None, report
    )
