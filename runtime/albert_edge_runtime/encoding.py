"""Text -> token ids with an explicit truncation strategy, shared by training, export and the runtime.

`tokenizers` truncates only from one side; ALBERT on reviews does better keeping the head AND the tail of a long
text (the verdict is often at the end), so the special tokens are added here around a cut content sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .wordpiece import Unsupported, WordPieceTokenizer

TRUNCATIONS = ("head", "head+tail")
# Texts are cut to this many characters per kept token BEFORE tokenizing: a string of megabytes otherwise costs
# seconds and gigabytes of Encoding objects only to keep max_length tokens. No vocabulary token here spans 16
# characters, so the ends that survive truncation are unchanged; only text the model never sees goes earlier.
CHARS_PER_TOKEN_BOUND = 16


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


class TextEncoder:
    """Wraps a `Tokenizer`: learns where its post-processor puts special tokens, then cuts content in between."""

    def __init__(self, tokenizer: Any, max_length: int, truncation: str = "head+tail"):
        """`tokenizer`: a `tokenizers.Tokenizer` or the built-in `WordPieceTokenizer` (both `encode` alike)."""
        if truncation not in TRUNCATIONS:
            raise ValueError(f"unknown truncation {truncation!r}; expected one of {', '.join(TRUNCATIONS)}")
        self.tokenizer = tokenizer
        self.truncation = truncation
        probe = tokenizer.encode("a")
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

    def _precut(self, text: str) -> tuple[str, bool]:
        keep = self.budget * CHARS_PER_TOKEN_BOUND
        if len(text) <= keep:
            return text, False
        if self.truncation == "head":
            return text[:keep], True
        half = keep // 2
        return text[:half] + " " + text[-half:], True  # the space keeps the two ends from merging into one word

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> Encoded:
        # One text at a time: `encode_batch` of the tokenizers library holds every Encoding of the batch at once
        # and starts a thread pool, both memory a device does not need for a few hundred texts.
        text, was_cut = self._precut(text)
        content, truncated = self._cut(self.tokenizer.encode(text, add_special_tokens=False).ids)
        ids = self.prefix + content + self.suffix
        types = self.prefix_types + [0] * len(content) + self.suffix_types
        return Encoded(ids, types, truncated or was_cut)
