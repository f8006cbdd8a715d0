"""Text -> token ids with an explicit truncation strategy, shared by training, export and the runtime.

`tokenizers` truncates only from one side; ALBERT on reviews does better keeping the head AND the tail of a long
text (the verdict is often at the end), so the special tokens are added here around a cut content sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .wordpiece import Unsupported, WordPieceTokenizer

TRUNCATIONS = ("head", "head+tail")
# A long text's ends are tokenized on their own, first this many characters per kept token (doubled until the ends
# hold more tokens than are kept): a string of megabytes otherwise costs seconds and gigabytes of Encoding objects
# only to keep max_length tokens.
CHARS_PER_TOKEN_BOUND = 16
# Where an end is cut off: whitespace every ALBERT tokenizer splits words at and never keeps inside a token, so the
# tokens before (after) it are those of the whole text. Not Python's \s: it holds control characters (U+001C..1F)
# that tokenizers delete, which would join the words around them.
_HARD_BREAK = "[ \t\n\r\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_FIRST_BREAK = re.compile(_HARD_BREAK)
# How far past a cut a break is looked for. A longer unbroken run is cut inside, the one case where the kept tokens
# may differ from the whole text's: WordPiece turns so long a word into one [UNK] whole, and reading it all would
# cost seconds per megabyte.
MAX_UNBROKEN = 10_000
_LAST_BREAK = re.compile(".*" + _HARD_BREAK, re.DOTALL)


class TokenizerUnavailable(ImportError):
    """The bundle's tokenizer needs the optional `tokenizers` library, which is not installed."""


def load_tokenizer_json(tokenizer_json: str) -> Any:
    """The built-in WordPiece when it reproduces the file exactly, else the `tokenizers` library (an optional
    extra), with the padding and truncation a user's file may carry switched off: the runtime pads and cuts by
    itself, and stored padding would give pad rows real attention."""
    try:
        return WordPieceTokenizer.from_json(tokenizer_json)
    except Unsupported as why:
        reason = str(why)
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TokenizerUnavailable(
            f"this bundle's tokenizer needs the tokenizers library ({reason}): "
            "pip install 'albert-edge-runtime[tokenizers]'"
        ) from None
    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    token_type_ids: list[int]
    truncated: bool


def _probe(tokenizer: Any) -> Any:
    """An encoding with at least one content token, to see where the special tokens go: "a", else a character of
    the vocabulary (a tokenizer that drops characters it has no piece for gives "a" nothing)."""
    probe = tokenizer.encode("a")
    if 0 in probe.special_tokens_mask:
        return probe
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else tokenizer.vocab
    for piece in sorted(vocab, key=vocab.get):
        if len(piece) == 1 and piece.isalnum():
            probe = tokenizer.encode(piece)
            if 0 in probe.special_tokens_mask:
                break
    return probe


class TextEncoder:
    """Wraps a `Tokenizer`: learns where its post-processor puts special tokens, then cuts content in between."""

    def __init__(self, tokenizer: Any, max_length: int, truncation: str = "head+tail"):
        """`tokenizer`: a `tokenizers.Tokenizer` or the built-in `WordPieceTokenizer` (both `encode` alike)."""
        if truncation not in TRUNCATIONS:
            raise ValueError(f"unknown truncation {truncation!r}; expected one of {', '.join(TRUNCATIONS)}")
        self.tokenizer = tokenizer
        self.truncation = truncation
        probe = _probe(tokenizer)
        mask = probe.special_tokens_mask
        first = mask.index(0) if 0 in mask else len(mask)
        last = len(mask) - mask[::-1].index(0) if 0 in mask else len(mask)
        self.prefix = probe.ids[:first]
        self.suffix = probe.ids[last:]
        self.prefix_types = probe.type_ids[:first]
        self.suffix_types = probe.type_ids[last:]
        self.budget = max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 2:
            raise ValueError(f"max_length {max_length} leaves no room for text next to the special tokens")
        self.max_length = max_length

    def _cut(self, ids: list[int]) -> tuple[list[int], bool]:
        if len(ids) <= self.budget:
            return ids, False
        if self.truncation == "head":
            return ids[: self.budget], True
        head = (self.budget + 1) // 2  # head gets the extra token when the budget is odd
        tail = self.budget - head
        return ids[:head] + ids[len(ids) - tail :], True

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def _content(self, text: str) -> tuple[list[int], bool]:
        """The kept content tokens, equal to cutting the whole text's tokens (tested against that with
        hypothesis), reading only the text's ends when it is long."""
        head_need = self.budget if self.truncation == "head" else (self.budget + 1) // 2
        tail_need = self.budget - head_need
        keep = self.budget * CHARS_PER_TOKEN_BOUND
        while 2 * keep < len(text):
            # No break found: the run reaches the text's end (start) within MAX_UNBROKEN, or is longer than that.
            first = _FIRST_BREAK.search(text, keep, keep + MAX_UNBROKEN)
            head_end = first.start() if first else (len(text) if keep + MAX_UNBROKEN >= len(text) else keep)
            start = len(text) - keep
            last = _LAST_BREAK.match(text, max(0, start - MAX_UNBROKEN), start) if tail_need else None
            tail_start = (last.end() if last else (0 if start <= MAX_UNBROKEN else start)) if tail_need else len(text)
            if head_end >= tail_start:
                break  # the ends meet: the whole text it is
            head = self._tokens(text[:head_end])
            tail = self._tokens(text[tail_start:]) if tail_need else []
            # More tokens at the ends than are kept: the whole text is longer still, and cut the same way.
            if len(head) >= head_need and len(tail) >= tail_need and len(head) + len(tail) > self.budget:
                return head[:head_need] + tail[len(tail) - tail_need :], True
            keep *= 2  # breaks, spaces or dropped characters took the room of tokens: look further in
        return self._cut(self._tokens(text))

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> Encoded:
        # One text at a time: `encode_batch` of the tokenizers library holds every Encoding of the batch at once
        # and starts a thread pool, both memory a device does not need for a few hundred texts.
        content, truncated = self._content(text)
        ids = self.prefix + content + self.suffix
        types = self.prefix_types + [0] * len(content) + self.suffix_types
        return Encoded(ids, types, truncated)
