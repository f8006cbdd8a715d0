"""`python -m bench.baselines`: the classic baselines on the same split (train on train, report dev and test)."""

from __future__ import annotations

import json

import numpy as np

from albert_edge.data import load_reviews
from albert_edge.teacher import tfidf_pipeline
from albert_edge.train import classification_metrics


def main() -> None:
    reviews = load_reviews()
    rows = {}
    for c in (1.0, 10.0):
        model = tfidf_pipeline(c).fit(reviews.train.texts, reviews.train.labels)
        rows[f"char 1-3 TF-IDF + LogisticRegression (C={c:g})"] = {
            split: classification_metrics(getattr(reviews, split).labels,
                                          np.asarray(model.predict(getattr(reviews, split).texts)))
            for split in ("dev", "test")}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
