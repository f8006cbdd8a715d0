"""How far served answers are from direct `predict`: label flips and score differences.

    .venv/bin/python -m bench.serve_equality

Starts `albert-edge-run serve` (default bundle), sends 8 clients x 200 one-text requests of 800 real test
reviews, then compares every answer with `SentimentClassifier.predict` on the whole list (batched differently)
and with `predict([text])` (one text alone). Dynamic INT8 quantisation scales are computed per batch, so a text
batched with others can score slightly differently from the same text alone.
"""

from __future__ import annotations

from albert_edge.data import load_reviews
from albert_edge_runtime import SentimentClassifier
from bench.serve_load import load, running_server


def main() -> None:
    texts = load_reviews().test.texts[:800]
    with running_server() as (url, _):
        answers = load(url, texts, 8, 200)["answers"].values()
    classifier = SentimentClassifier.load()
    batched = classifier.predict(texts)
    alone = {i: classifier.predict([texts[i]])[0] for i in {a["text"] for a in answers}}
    to_batched = [abs(a["score"] - batched[a["text"]].score) for a in answers]
    to_alone = [abs(a["score"] - alone[a["text"]].score) for a in answers]
    flips = sum(a["label"] != batched[a["text"]].label for a in answers)
    print(
        f"{len(to_batched)} answers, {flips} label flips vs batched predict; max |score difference| "
        f"{max(to_batched):.4f} vs batched predict ({sum(d == 0 for d in to_batched)} exactly equal), "
        f"{max(to_alone):.4f} vs predict([text]) ({sum(d == 0 for d in to_alone)} exactly equal)"
    )


if __name__ == "__main__":
    main()
