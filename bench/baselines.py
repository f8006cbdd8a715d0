"""`python -m bench.baselines`: the classic baselines (and teacher candidates) on the same split: trained on train,
reported on dev and test. About 2 minutes."""

from __future__ import annotations

import json

import numpy as np

from albert_edge.data import load_reviews
from albert_edge.teacher import char_and_words_pipeline, tfidf_pipeline
from albert_edge.train import classification_metrics


def candidates() -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    def char(low: int, high: int) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char", ngram_range=(low, high), sublinear_tf=True)

    return {
        "char 1-3 TF-IDF + LogisticRegression (C=1)": tfidf_pipeline(1.0),
        "char 1-3 TF-IDF + LogisticRegression (C=10, teacher of --teacher char)": tfidf_pipeline(10.0),
        "char 1-4 TF-IDF + LogisticRegression (C=10)": make_pipeline(
            char(1, 4), LogisticRegression(C=10, max_iter=2000)
        ),
        "char 1-3 TF-IDF + LinearSVC (C=1)": make_pipeline(char(1, 3), LinearSVC(C=1)),
        "char 1-3 + jieba words 1-2 TF-IDF + LogisticRegression (C=10, teacher of --teacher char+words)": (
            char_and_words_pipeline(10.0)
        ),
    }


def main() -> None:
    reviews = load_reviews()
    rows = {}
    for name, model in candidates().items():
        model.fit(reviews.train.texts, reviews.train.labels)
        rows[name] = {
            split: classification_metrics(
                getattr(reviews, split).labels, np.asarray(model.predict(getattr(reviews, split).texts))
            )
            for split in ("dev", "test")
        }
        print(f"{name}: dev {rows[name]['dev']['accuracy']:.2%}, test {rows[name]['test']['accuracy']:.2%}", flush=True)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
