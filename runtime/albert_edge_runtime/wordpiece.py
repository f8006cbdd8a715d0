"""Built-in BERT WordPiece tokenization, read from a bundle's tokenizer.json: the `tokenizers` library's
BertNormalizer + BertPreTokenizer + WordPiece + special-token template, giving identical ids.

Why hand-written: on a device the `tokenizers` library costs several MiB of peak memory and its install pulls a
dependency tree (huggingface_hub, httpx, ...) that a WordPiece bundle does not need. Parity is proven, not hoped:
`tests/test_wordpiece.py` compares ids with the library on every code point, the review and news corpora and
generated Unicode. The character classes are the library's own, read off it by `scripts/gen_unicode_tables.py`.
Bundles with other tokenizers (SentencePiece/Unigram, BPE) or options this module does not reproduce raise
`Unsupported`; the runtime then uses the library (`pip install 'albert-edge-runtime[tokenizers]'`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from . import unicode_tables as tables


class Unsupported(ValueError):
    """The tokenizer.json uses something this module does not reproduce exactly."""


@dataclass(frozen=True)
class Encoding:
    """The part of a `tokenizers.Encoding` the runtime reads."""

    ids: list[int]
    type_ids: list[int]
    special_tokens_mask: list[int]


class BertNormalizer:
    """tokenizers' BertNormalizer: clean (drop controls, whitespace to spaces), space out CJK characters, strip
    accents (NFD, drop nonspacing marks; on by default when lowercasing), lowercase character by character."""

    def __init__(self, clean_text: bool, handle_chinese_chars: bool, strip_accents: bool | None, lowercase: bool):
        self.clean_text, self.chinese, self.lowercase = clean_text, handle_chinese_chars, lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.removed = re.compile(f"[{tables.REMOVED}]")
        self.space = re.compile(f"[{tables.SPACE}]")
        self.cjk = re.compile(f"([{tables.CJK}])")
        self.marks = re.compile(f"[{tables.MARKS}]")
        self.strip_kept = re.compile(f"([{''.join(tables.STRIP_FIX)}])") if tables.STRIP_FIX else None
        self.lower_fix = str.maketrans(tables.LOWER_FIX)

    def __call__(self, text: str) -> str:
        if self.clean_text:
            text = self.space.sub(" ", self.removed.sub("", text))
        if self.chinese:
            text = self.cjk.sub(r" \1 ", text)
        if self.strip_accents:
            text = self._strip(text)
        if self.lowercase and not text.isascii():
            # Per character, like the library: Python's str.lower would turn a final capital sigma into "ς".
            text = text.translate(self.lower_fix).replace("Σ", "σ").lower()
        elif self.lowercase:
            text = text.lower()
        return text

    def _strip(self, text: str) -> str:
        if text.isascii():
            return text
        if self.strip_kept is None:
            return self.marks.sub("", unicodedata.normalize("NFD", text))
        # Characters the library leaves whole (its NFD tables are older for them) are kept out of Python's NFD.
        parts = self.strip_kept.split(text)
        return "".join(p if i % 2 else self.marks.sub("", unicodedata.normalize("NFD", p)) for i, p in enumerate(parts))


WORDS = re.compile(f"[{tables.PUNCTUATION}]|[^{tables.WHITESPACE}{tables.PUNCTUATION}]+")


class WordPieceTokenizer:
    """Encodes like `tokenizers.Tokenizer.encode` for the tokenizer.json it was built from."""

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str,
        prefix: str,
        max_chars: int,
        normalizer: BertNormalizer | None,
        added: dict[str, int],
        template: list[tuple[str, int, int]],
    ):
        if unk_token not in vocab:
            raise Unsupported(f"unk_token {unk_token!r} is not in the vocabulary")
        self.vocab, self.unk_id, self.prefix, self.max_chars = vocab, vocab[unk_token], prefix, max_chars
        self.longest = max(len(t[len(prefix) :]) if t.startswith(prefix) else len(t) for t in vocab)
        self.normalizer = normalizer
        self.added = added
        # Leftmost-longest over the added tokens, as the library's Aho-Corasick matcher.
        self.added_re = re.compile("|".join(map(re.escape, sorted(added, key=len, reverse=True)))) if added else None
        self.template = template  # ("A", type_id, 0) marks the text; (token, type_id, id) a special token
        self.splits: list[re.Pattern[str]] = []  # Split pre-tokenizers after BertPreTokenizer

    @classmethod
    def from_json(cls, text: str) -> WordPieceTokenizer:
        spec = json.loads(text)
        model = spec.get("model") or {}
        if model.get("type") != "WordPiece":
            raise Unsupported(f"the model is {model.get('type')!r}, not WordPiece")
        tokenizer = cls(
            model["vocab"],
            model["unk_token"],
            model.get("continuing_subword_prefix", "##"),
            int(model.get("max_input_chars_per_word", 100)),
            _normalizer(spec.get("normalizer")),
            _added_tokens(spec.get("added_tokens") or []),
            _template(spec.get("post_processor")),
        )
        tokenizer.splits = _splits(spec.get("pre_tokenizer") or {})
        return tokenizer

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        ids: list[int] = []
        for piece, added in self._split_added(text):
            if added:
                ids.append(self.added[piece])
                continue
            normalized = self.normalizer(piece) if self.normalizer else piece
            for word in _split_words(WORDS.findall(normalized), self.splits):
                ids.extend(self._wordpiece(word))
        if not add_special_tokens:
            return Encoding(ids, [0] * len(ids), [0] * len(ids))
        out, types, special = [], [], []
        for token, type_id, token_id in self.template:
            part = ids if token == "A" else [token_id]
            out += part
            types += [type_id] * len(part)
            special += [0 if token == "A" else 1] * len(part)
        return Encoding(out, types, special)

    def _split_added(self, text: str) -> list[tuple[str, bool]]:
        if self.added_re is None:
            return [(text, False)]
        pieces, start = [], 0
        for match in self.added_re.finditer(text):
            if match.start() > start:
                pieces.append((text[start : match.start()], False))
            pieces.append((match.group(), True))
            start = match.end()
        if start < len(text):
            pieces.append((text[start:], False))
        return pieces

    def _wordpiece(self, word: str) -> list[int]:
        """Greedy longest match; the whole word is [UNK] if any part of it has no piece (the library's rule)."""
        if len(word) > self.max_chars:
            return [self.unk_id]
        out, start = [], 0
        while start < len(word):
            for end in range(min(len(word), start + self.longest), start, -1):
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                token_id = self.vocab.get(piece)
                if token_id is not None:
                    out.append(token_id)
                    start = end
                    break
            else:
                return [self.unk_id]
        return out


SPLIT_BEHAVIORS = ("Removed", "Isolated")
_ONE_CLASS = re.compile(r"\[\^?(?:\\[^0-9A-Za-z]|[^\\\[\]&])+\]", re.S)  # escapes only of punctuation: letters
# after a backslash mean other things in Oniguruma and Python's re


def _splits(pre: dict[str, Any]) -> list[re.Pattern[str]]:
    """BertPreTokenizer alone ([]), or followed by Splits that remove or isolate one character class each (an
    isolating pattern has a group, so re.split keeps what it matched): what
    `albert_edge.tokenization.with_character_fallback` writes. Anything else is left to the library."""
    if pre.get("type") == "BertPreTokenizer":
        return []
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or steps[0].get("type") != "BertPreTokenizer":
        raise Unsupported(f"the pre-tokenizer is {pre.get('type')!r}, not BertPreTokenizer (+ character Splits)")
    splits = []
    for split in steps[1:]:
        pattern = (split.get("pattern") or {}).get("Regex")
        supported = split.get("type") == "Split" and split.get("behavior") in SPLIT_BEHAVIORS
        if not supported or split.get("invert") or not isinstance(pattern, str) or not _ONE_CLASS.fullmatch(pattern):
            raise Unsupported("a pre-tokenizer Split other than one removing or isolating a character class")
        splits.append(re.compile(f"({pattern})" if split["behavior"] == "Isolated" else pattern))
    return splits


def _split_words(words: list[str], splits: list[re.Pattern[str]]) -> list[str]:
    for pattern in splits:
        words = [part for word in words for part in pattern.split(word) if part]
    return words


def _normalizer(spec: dict[str, Any] | None) -> BertNormalizer | None:
    if spec is None:
        return None
    if spec.get("type") != "BertNormalizer":
        raise Unsupported(f"the normalizer is {spec.get('type')!r}, not BertNormalizer")
    return BertNormalizer(
        bool(spec.get("clean_text", True)),
        bool(spec.get("handle_chinese_chars", True)),
        spec.get("strip_accents"),
        bool(spec.get("lowercase", True)),
    )


def _added_tokens(specs: list[dict[str, Any]]) -> dict[str, int]:
    for token in specs:
        if token.get("normalized") or token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise Unsupported(f"added token {token.get('content')!r} is normalized, stripped or single-word")
    return {token["content"]: int(token["id"]) for token in specs}


def _template(spec: dict[str, Any] | None) -> list[tuple[str, int, int]]:
    """The single-text template as (token or "A", type id, token id)."""
    if spec is None:
        return [("A", 0, 0)]
    if spec.get("type") == "BertProcessing":
        (cls, cls_id), (sep, sep_id) = spec["cls"], spec["sep"]
        return [(cls, 0, int(cls_id)), ("A", 0, 0), (sep, 0, int(sep_id))]
    if spec.get("type") != "TemplateProcessing":
        raise Unsupported(f"the post-processor is {spec.get('type')!r}, not TemplateProcessing or BertProcessing")
    out = []
    for item in spec["single"]:
        if "Sequence" in item:
            out.append(("A", int(item["Sequence"]["type_id"]), 0))
            continue
        token = item["SpecialToken"]["id"]
        ids = spec["special_tokens"][token]["ids"]
        if len(ids) != 1:
            raise Unsupported(f"special token {token!r} stands for {len(ids)} ids")
        out.append((token, int(item["SpecialToken"]["type_id"]), int(ids[0])))
    return out
