"""N-gram teachers for distillation: char 1-3 TF-IDF + logistic regression (the default), or with jieba words added.

Its probabilities on the TRAINING texts are out-of-fold (each fold predicted by a model that never saw it), so the
soft targets carry what n-grams generalise, not a memorised copy of the labels. Dev and test are never touched.

Augmentation (`clause_spans`): a student that sees only 14 k texts stays ~1 pt under its teacher; runs of clauses
cut from each training review, labelled by the same out-of-fold teacher, give it more of the teacher's function to
copy (the transfer-set trick of TinyBERT / DistilBERT-style distillation) without touching dev or test.
"""

from __future__ import annotations

import random
import re

import numpy as np

_CLAUSE_END = re.compile(r"(?<=[，。！？；,.!?;～~…\s])")


TEACHERS = ("char", "char+words")


def tfidf_pipeline(c: float = 10.0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True), LogisticRegression(C=c, max_iter=2000)
    )


def jieba_words(text: str) -> list[str]:
    import jieba

    return list(jieba.cut(text))


def char_and_words_pipeline(c: float = 10.0):
    """Char 1-3 plus jieba word 1-2 TF-IDF features, one logistic regression: the best classic model on dev."""
    import logging

    import jieba
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    jieba.setLogLevel(logging.WARNING)
    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
            TfidfVectorizer(
                tokenizer=jieba_words, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True
            ),
        ),
        LogisticRegression(C=c, max_iter=3000),
    )


def teacher_pipeline(kind: str):
    if kind == "char":
        return tfidf_pipeline()
    if kind == "char+words":
        return char_and_words_pipeline()
    raise ValueError(f"unknown teacher {kind!r}; expected one of {', '.join(TEACHERS)}")


def clause_spans(text: str, count: int, rng: random.Random) -> list[str]:
    """Up to `count` distinct runs of consecutive clauses of `text`, each shorter than the whole text."""
    clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
    if len(clauses) < 2:
        return []
    spans: set[str] = set()
    for _ in range(4 * count):
        start = rng.randrange(len(clauses))
        stop = rng.randrange(start + 1, len(clauses) + 1)
        if stop - start < len(clauses):
            spans.add("".join(clauses[start:stop]).strip())
        if len(spans) == count:
            break
    return sorted(s for s in spans if s)


def out_of_fold_probabilities(
    texts: list[str], labels: list[int], folds: int, seed: int, kind: str, extra: list[list[str]] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Teacher probabilities for `texts` and for `extra[i]` (texts derived from texts[i]), each predicted by the fold
    model that did not see texts[i]."""
    from sklearn.model_selection import StratifiedKFold

    extra = extra if extra is not None else [[] for _ in texts]
    probs = np.zeros((len(texts), len(set(labels))), dtype=np.float32)
    extra_probs: list[np.ndarray] = [np.zeros((0, probs.shape[1]), np.float32)] * len(texts)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    text_arr, label_arr = np.asarray(texts, dtype=object), np.asarray(labels)
    for fit_idx, pred_idx in splitter.split(text_arr, label_arr):
        model = teacher_pipeline(kind).fit(text_arr[fit_idx], label_arr[fit_idx])
        probs[pred_idx] = model.predict_proba(text_arr[pred_idx])
        for i in pred_idx:
            if extra[i]:
                extra_probs[i] = model.predict_proba(extra[i]).astype(np.float32)
    return probs, extra_probs
