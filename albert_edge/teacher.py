"""An n-gram teacher for distillation: char 1-3 TF-IDF + logistic regression, the strongest classic baseline here.

Its probabilities on the TRAINING texts are out-of-fold (each fold predicted by a model that never saw it), so the
soft targets carry what n-grams generalise, not a memorised copy of the labels. Dev and test are never touched.
"""

from __future__ import annotations

import numpy as np


def tfidf_pipeline(c: float = 10.0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                         LogisticRegression(C=c, max_iter=2000))


def out_of_fold_probabilities(texts: list[str], labels: list[int], folds: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(texts), len(set(labels))), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    text_arr, label_arr = np.asarray(texts, dtype=object), np.asarray(labels)
    for fit_idx, pred_idx in splitter.split(text_arr, label_arr):
        model = tfidf_pipeline().fit(text_arr[fit_idx], label_arr[fit_idx])
        probs[pred_idx] = model.predict_proba(text_arr[pred_idx])
    return probs
