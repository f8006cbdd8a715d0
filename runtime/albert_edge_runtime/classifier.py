"""The public API: `SentimentClassifier.load(...)` then `predict(texts)`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .bundle import Bundle, BundleError, read_bundle
from .encoding import Encoded, TextEncoder, TokenizerUnavailable, load_tokenizer_json
from .session import RuntimeOptions, apply_head, make_session, run_buckets

MAX_BATCH_ITEMS = 1_000_000
# Lone surrogates (from JSON "\\ud800" or bad UTF-16) cannot go to the tokenizer; searched without copying the text.
_SURROGATE = re.compile("[\ud800-\udfff]")
CHUNK = 256  # texts tokenized and run together
# A character of each language a bundle may name (manifest "languages"), to tell texts the model cannot read.
LANGUAGE_CHARACTERS = {"zh": re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")}
# Padded tokens per batch (a longer text runs alone). At most one default-bundle text (max_length 128), so
# batching costs no arena memory over single texts; larger caps raised the peak (docs/runtime.md).
BATCH_TOKENS = 128


@dataclass(frozen=True)
class Prediction:
    """One text's answer, by the bundle's problem type.

    single-label: `label` is the most probable, `score` its probability, `probabilities` a softmax.
    multi-label: `probabilities` holds a sigmoid per label; `labels` every label at or above the threshold;
        `label`/`score` the most probable one.
    regression: `score` is the predicted value, `label` the output's name, `probabilities` empty.
    """

    label: str
    score: float
    probabilities: dict[str, float] = field(repr=False)
    truncated: bool = False  # the text was longer than the model's max length and was cut (see the manifest)
    labels: tuple[str, ...] = ()  # multi-label: labels at or above the threshold; single-label: (label,)
    empty: bool = False  # the text was empty or blank: the model still answers, from its special tokens alone


def default_bundle_path() -> Path:
    return Path(__file__).parent / "default_bundle"  # package data, installed next to this module


class SentimentClassifier:
    """Thread-safe: one instance may serve many threads (onnxruntime's `run` is thread-safe)."""

    def __init__(self, bundle: Bundle, options: RuntimeOptions, threshold: float = 0.5):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold!r}")
        self.bundle = bundle
        self.options = options
        self.labels = bundle.labels
        self.problem_type = bundle.manifest.problem_type
        self.threshold = threshold
        try:
            tokenizer = load_tokenizer_json(bundle.tokenizer_json)
        except TokenizerUnavailable:
            raise
        except Exception as exc:  # json, KeyError, or tokenizers' bare Exception for a malformed file
            raise BundleError(f"tokenizer in {bundle.root} cannot be loaded ({exc}); re-export the bundle") from exc
        manifest = bundle.manifest
        self.encoder = TextEncoder(tokenizer, manifest.max_length, manifest.truncation)
        self.pad_id = manifest.pad_token_id
        self.session = make_session(str(bundle.model_path), options)
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.labels):
            raise BundleError(f"model has {outputs[-1]} outputs but the manifest lists {len(self.labels)} labels")

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threads: int = 1,
        arena: bool = True,
        memory_pattern: bool = False,
        prepacking: bool = True,
        optimization: str | None = None,
        threshold: float = 0.5,
    ) -> SentimentClassifier:
        """Load a bundle folder (default: the model shipped inside this package). `optimization`: graph
        optimisation at load, default the bundle's (none when the export already optimised it). `threshold`:
        multi-label bundles list the labels whose probability reaches it."""
        bundle = read_bundle(default_bundle_path() if path is None else path)
        options = RuntimeOptions(
            threads=threads,
            arena=arena,
            memory_pattern=memory_pattern,
            prepacking=prepacking,
            optimization=optimization or bundle.manifest.load_optimization,
        )
        return cls(bundle, options, threshold)

    @property
    def languages(self) -> list[str]:
        """The languages the model reads, as the export recorded them (empty: not recorded)."""
        return list(self.bundle.manifest.languages)

    def texts_outside_languages(self, texts: Sequence[str]) -> list[int]:
        """Indices of non-empty texts with no character of any of the model's languages (only languages with a
        known script are checked)."""
        patterns = [LANGUAGE_CHARACTERS[lang] for lang in self.languages if lang in LANGUAGE_CHARACTERS]
        if not patterns:
            return []
        return [i for i, text in enumerate(texts) if text.strip() and not any(p.search(text) for p in patterns)]

    def predict(self, texts: Iterable[str], batch_size: int = 32) -> list[Prediction]:
        """One Prediction per text, in input order."""
        return self.predict_checked(checked_texts(texts), batch_size)

    def predict_checked(self, items: list[str], batch_size: int = 32) -> list[Prediction]:
        """`predict` for a list that already went through `checked_texts` (the batcher checks in the caller)."""
        results: list[Prediction] = []
        # Chunks bound memory: the encodings of a chunk are alive at once, and buckets only need local sorting.
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            encoded = self.encoder.encode_batch(chunk)
            logits = run_chunk(self.session, encoded, self.pad_id, self.encoder.max_length, batch_size)
            outputs = apply_head(logits, self.problem_type)
            results.extend(self._prediction(o, e.truncated, not t.strip()) for o, e, t in zip(outputs, encoded, chunk))
        return results

    def _prediction(self, outputs: np.ndarray, truncated: bool, empty: bool) -> Prediction:
        if self.problem_type == "regression":
            return Prediction(self.labels[0], float(outputs[0]), {}, truncated, empty=empty)
        best = int(outputs.argmax())
        probabilities = {label: float(p) for label, p in zip(self.labels, outputs)}
        if self.problem_type == "multi_label_classification":
            chosen = tuple(label for label, p in probabilities.items() if p >= self.threshold)
        else:
            chosen = (self.labels[best],)
        return Prediction(self.labels[best], float(outputs[best]), probabilities, truncated, chosen, empty)


def run_chunk(
    session: ort.InferenceSession, encoded: Sequence[Encoded], pad_id: int, max_length: int, batch_size: int = 32
) -> np.ndarray:
    """Logits of at most CHUNK texts, batched as `predict` batches them."""
    return run_buckets(session, encoded, pad_id, max_batch=batch_size, max_tokens=min(max_length, BATCH_TOKENS))


def runtime_logits(
    session: ort.InferenceSession, encoded: Sequence[Encoded], pad_id: int, max_length: int, batch_size: int = 32
) -> np.ndarray:
    """Logits of `encoded` exactly as `predict` computes them for the same texts in the same order (same chunks,
    same batches: dynamic INT8 picks activation scales per batch). The export's verify step uses it, so a bundle's
    measured int8 results are the runtime's own."""
    if not encoded:
        raise ValueError("nothing to classify: the input list is empty")
    return np.concatenate(
        [
            run_chunk(session, encoded[i : i + CHUNK], pad_id, max_length, batch_size)
            for i in range(0, len(encoded), CHUNK)
        ]
    )


def checked_texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("predict takes a list of texts; wrap a single text in a list: predict([text])")
    if isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise TypeError(f"predict takes a list of texts, not {type(texts).__name__}")
    items = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"item {i} is {type(text).__name__}, not str; pass texts only")
        if i >= MAX_BATCH_ITEMS:
            raise ValueError(f"more than {MAX_BATCH_ITEMS} texts in one call; split the input into chunks")
        # Lone surrogates cannot be encoded to UTF-8 by the tokenizer; replace them rather than crash.
        items.append(_SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text)
    return items
