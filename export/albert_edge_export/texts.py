"""The texts an export checks its bundle on: held-out data (reviews-dev, random vocabulary, a user's file) and
the probes every export adds."""

from __future__ import annotations

import random
from pathlib import Path

from albert_edge.datafiles import FORMATS, read_labelled


def held_out(
    verify_data: str, tokenizer, labels: list[str], columns: tuple[str, str] = ("text", "label")
) -> tuple[list[str], list[int] | None]:
    """The texts (and labels, when known) the INT8 guard checks: reviews-dev, random vocabulary or a file."""
    if verify_data == "reviews-dev":
        from albert_edge.data import load_reviews

        dev = load_reviews().dev
        return dev.texts, dev.labels
    if verify_data == "random":
        rng = random.Random(0)
        vocab = [t.lstrip("#▁") for t in tokenizer.get_vocab() if not t.startswith("[")]
        return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 60))) for _ in range(300)], None
    path = Path(verify_data)
    if not path.is_file():
        raise FileNotFoundError(f"verify data {path} not found; give reviews-dev, random or a text file")
    if path.suffix.lower() in FORMATS and not _plain_label_tab_text(path, columns):
        file = read_labelled(path, *columns)
        unknown = sorted(set(file.labels) - set(labels))
        if unknown:
            raise ValueError(f"{path}: unknown labels {unknown}; expected one of {labels}")
        return file.texts, [labels.index(label) for label in file.labels]
    return _read_text_file(path, labels)


def _plain_label_tab_text(path: Path, columns: tuple[str, str]) -> bool:
    """A .tsv file without a header row naming the columns is the older "label<TAB>text" verify format."""
    first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].rstrip("\r")
    return path.suffix.lower() == ".tsv" and columns[0] not in first.split("\t")


def _read_text_file(path: Path, labels: list[str]) -> tuple[list[str], list[int] | None]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if lines and all("\t" in line for line in lines):
        pairs = [line.split("\t", 1) for line in lines]
        unknown = sorted({lab for lab, _ in pairs} - set(labels))
        if unknown:
            raise ValueError(f"{path}: unknown labels {unknown}; expected one of {labels}")
        return [text for _, text in pairs], [labels.index(lab) for lab, _ in pairs]
    return lines, None


def probe_texts(texts: list[str], max_length: int) -> list[str]:
    """Texts every export checks besides its verify data: one longer than `max_length` tokens (truncation),
    case, accents and full-width forms, mixed scripts and emoji, blanks, one over-long word."""
    long_text = " ".join(texts)[: 8 * max_length]  # below the runtime's characters-per-token pre-cut bound
    return [long_text, "", "   ", "Ünïcödé CAFÉ Straße ＦＵＬＬ width", "混合 mixed 文本 😀👍🏽 Text!", "x" * 300]
