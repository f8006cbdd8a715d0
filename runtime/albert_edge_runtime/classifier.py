"""The public API: `SentimentClassifier.load(...)` then `predict(texts)`."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import Bundle, BundleError, read_bundle
from .encoding import Encoded, TextEncoder, TokenizerUnavailable, load_tokenizer_json
from .machine import this_cpu_int8_saturates
from .session import RuntimeOptions, apply_head, make_session, run_one

MAX_BATCH_ITEMS = 1_000_000
ENCODE_AHEAD = 64  # texts tokenized before their runs (a few KiB of ids)
# Lone surrogates (from JSON "\\ud800" or bad UTF-16) cannot go to the tokenizer; searched without copying the text.
_SURROGATE = re.compile("[\ud800-\udfff]")
# A character of each language a bundle may name (manifest "languages"), to tell texts the model cannot read.
LANGUAGE_CHARACTERS = {"zh": re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")}


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

    def to_dict(self, digits: int | None = None) -> dict[str, Any]:
        """The JSON form every tool writes (`predict --format jsonl`, `serve`); `digits` rounds the numbers."""

        def number(x: float) -> float:
            return x if digits is None else round(x, digits)

        return {
            "label": self.label,
            "score": number(self.score),
            "probabilities": {k: number(v) for k, v in self.probabilities.items()},
            "labels": list(self.labels),
            "truncated": self.truncated,
            "empty": self.empty,
        }


def exact_int8_chosen(bundle: Bundle, options: RuntimeOptions) -> bool:
    """Whether to load the bundle's exact-INT8 graph: as `options.exact_int8` says, else where this CPU's INT8
    kernel saturates and the bundle has one."""
    if options.exact_int8 is None:
        return bundle.exact_int8_path is not None and this_cpu_int8_saturates()
    if options.exact_int8 and bundle.exact_int8_path is None:
        raise BundleError(
            f"{bundle.root} has no exact-INT8 graph (fp32 and 4-bit bundles need none, INT8 bundles of older "
            "exports lack it); drop exact_int8=True, or re-export the bundle with this albert-edge"
        )
    return options.exact_int8


def default_bundle_path() -> Path:
    return Path(__file__).parent / "default_bundle"  # package data, installed next to this module


class SentimentClassifier:
    """Thread-safe: one instance may serve many threads (onnxruntime's `run` is thread-safe)."""

    def __init__(self, bundle: Bundle, options: RuntimeOptions, threshold: float = 0.5):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold!r}")
        if options.optimization is None:
            options = replace(options, optimization=bundle.manifest.load_optimization)
        self.bundle = bundle
        self.options = options
        self._pool: ThreadPoolExecutor | None = None
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
        self.exact_int8 = exact_int8_chosen(bundle, options)
        if self.exact_int8:  # its weight conversions are constants that onnxruntime folds at level basic and up
            level = "basic" if options.optimization == "disable" else options.optimization
            self.session = make_session(str(bundle.exact_int8_path), replace(options, optimization=level))
        else:
            self.session = make_session(str(bundle.model_path), options)
        self._input_names = [i.name for i in self.session.get_inputs()]
        self._output = self.session.get_outputs()[0].name
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.labels):
            raise BundleError(f"model has {outputs[-1]} outputs but the manifest lists {len(self.labels)} labels")

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        options: RuntimeOptions | None = None,
        threshold: float = 0.5,
        **overrides: Any,
    ) -> SentimentClassifier:
        """Load a bundle and start its session.

        Args:
            path: a bundle folder written by `albert-edge export` (default: the model shipped in this package).
            options: threads, parallel runs and memory levers (`RuntimeOptions`; default its defaults).
            threshold: multi-label bundles list the labels whose probability reaches it.
            **overrides: single fields of `RuntimeOptions` over `options`, e.g. `threads=2` or `parallel=4`.
        """
        fields = set(RuntimeOptions.__dataclass_fields__)
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; RuntimeOptions has {', '.join(sorted(fields))}")
        options = replace(options or RuntimeOptions(), **overrides)
        return cls(read_bundle(default_bundle_path() if path is None else path), options, threshold)

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

    def predict(self, texts: Iterable[str]) -> list[Prediction]:
        """One Prediction per text, in input order. Every item is checked before any runs, so bad input costs
        nothing; each text then runs alone (see `iter_predict`).

        Args:
            texts: non-empty strings (a list, tuple or any iterable; not one bare string).

        Raises:
            TypeError / ValueError: naming the first bad item and what to pass instead.
        """
        return list(self.iter_predict(checked_texts(texts)))

    def iter_predict(self, texts: Iterable[str]) -> Iterator[Prediction]:
        """One Prediction per text, in input order, lazily (any iterable, of any length, in bounded memory).

        Each text is encoded and run alone at its real length: a dynamic-INT8 graph picks its activation scales
        per run and padding changes float sums, so a text run beside others would answer differently. Alone, its
        answer is bit-identical whatever came before or after it, through every tool built on this method.

        Args:
            texts: non-empty strings, consumed as the generator is; a bad item raises when it is reached.
        """
        if isinstance(texts, (str, bytes, Mapping)) or not isinstance(texts, Iterable):
            checked_texts(texts)  # raises the error that says what to pass
        items = (checked_text(i, text) for i, text in enumerate(texts))
        if self.options.parallel > 1:
            yield from self._in_parallel(items)
            return
        # Encoded a chunk ahead, then run back to back: interleaving the tokenizer's Python with each run evicted
        # the model's weights from the cache (slower by about a tenth on reviews). Each text still runs alone.
        while chunk := list(islice(items, ENCODE_AHEAD)):
            for text, encoded in zip(chunk, [self.encoder.encode(t) for t in chunk]):
                yield self._answer(text, encoded)

    def _answer(self, text: str, encoded: Encoded) -> Prediction:
        outputs = apply_head(run_one(self.session, encoded, self._input_names, self._output), self.problem_type)
        return self._prediction(outputs[0], encoded.truncated, not text.strip())

    def _predict_one(self, text: str) -> Prediction:
        return self._answer(text, self.encoder.encode(text))

    def _in_parallel(self, items: Iterator[str]) -> Iterator[Prediction]:
        """`options.parallel` texts in flight, answers in input order; a few per worker are read ahead, so an
        endless iterator still streams in bounded memory."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.options.parallel, thread_name_prefix="albert-edge")
        window: deque[Future[Prediction]] = deque()
        for text in items:
            window.append(self._pool.submit(self._predict_one, text))
            if len(window) >= 4 * self.options.parallel:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

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


def checked_texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("predict takes a list of texts; wrap a single text in a list: predict([text])")
    if isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise TypeError(f"predict takes a list of texts, not {type(texts).__name__}")
    items = []
    for i, text in enumerate(texts):
        if i >= MAX_BATCH_ITEMS:
            raise ValueError(
                f"more than {MAX_BATCH_ITEMS} texts in one call; pass an iterator to iter_predict, which streams"
            )
        items.append(checked_text(i, text))
    return items


def checked_text(index: int, text: object) -> str:
    """The one rule for a usable item: a str (empty and blank ones are answered, marked `empty`)."""
    if not isinstance(text, str):
        raise TypeError(f"item {index} is {type(text).__name__}, not str; pass texts only")
    # Lone surrogates cannot be encoded to UTF-8 by the tokenizer; replace them rather than crash.
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text
