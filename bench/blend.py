"""`python -m bench.blend CHECKPOINT`: would averaging the model with the linear baseline reach the goals?

The checkpoint's positive-class probability and char 1-3 TF-IDF + LR's (trained on the same built-in train split:
the checkpoint's `--reviews`), blended as w * model + (1 - w) * TF-IDF. Dev picks w on a grid; test is reported per
source beside both parts, and by the text's length in the model's tokens (before truncation: where the model's
view is cut, the n-grams still see everything). A blend is not what the runtime ships (it would need the n-gram
table in the bundle): this measures whether one would be worth building. Binary label sets only. A few minutes on
one thread.

    .venv/bin/python -m bench.blend runs/ft-pt16040
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from albert_edge.evaluate import per_source, source_test_counts

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
LENGTHS = ((0, 32), (33, 64), (65, 128), (129, None))  # tokens, [CLS] and [SEP] included


def best_weight(model: np.ndarray, tfidf: np.ndarray, labels: np.ndarray) -> tuple[float, dict[float, float]]:
    """The model weight with the highest dev accuracy (the smallest on a tie) and the accuracy at every weight."""
    accuracy = {w: float(np.mean(((w * model + (1 - w) * tfidf) > 0.5) == labels)) for w in WEIGHTS}
    return max(accuracy, key=lambda w: (accuracy[w], -w)), accuracy


def blend_report(dev: dict[str, np.ndarray], test: dict[str, np.ndarray], counts: dict[str, int] | None) -> dict:
    """`dev` / `test`: arrays `model`, `tfidf` (positive-class probabilities) and `labels`; `counts`: each source's
    share of the test split, in order (None for one source)."""
    counts = counts or {"all": len(test["labels"])}
    if len(test["labels"]) != sum(counts.values()):
        raise ValueError("the source counts do not add up to the test split; pass the counts of this split")
    weight, on_dev = best_weight(dev["model"], dev["tfidf"], dev["labels"])
    labels = test["labels"].tolist()
    parts = {
        "model": test["model"],
        "tfidf": test["tfidf"],
        "blend": weight * test["model"] + (1 - weight) * test["tfidf"],
    }
    by_source = {name: per_source(counts, labels, p > 0.5)["per_source"] for name, p in parts.items()}
    test_rows = {source: {name: by_source[name][source]["accuracy"] for name in parts} for source in counts}
    report = {"weight": weight, "dev_by_weight": on_dev, "test": test_rows}
    if "tokens" in test:
        report["test_by_length"] = by_length(parts, test["labels"], test["tokens"])
    return report


def by_length(parts: dict[str, np.ndarray], labels: np.ndarray, tokens: np.ndarray) -> dict[str, dict]:
    """Test accuracy of each part within each band of LENGTHS, with the band's text count."""
    rows = {}
    for low, high in LENGTHS:
        inside = (tokens >= low) & (tokens <= (high or tokens.max()))
        if inside.any():
            accuracy = {name: float(np.mean((p[inside] > 0.5) == labels[inside])) for name, p in parts.items()}
            rows[f"{low}-{high or ''}"] = {"texts": int(inside.sum()), **accuracy}
    return rows


def probabilities(checkpoint: Path) -> tuple[dict, dict, dict[str, int] | None]:
    import torch

    from albert_edge.checkpoint import load_pretrained, text_settings
    from albert_edge.config import AlbertConfig
    from albert_edge.evaluate import pytorch_logits
    from albert_edge.record import TrainingRecord
    from albert_edge.sources import builtin_data
    from albert_edge.teacher import tfidf_pipeline
    from albert_edge.tokenization import load_tokenizer
    from albert_edge_runtime.encoding import TextEncoder

    record = TrainingRecord.load(checkpoint)
    if record is None or not record.builtin_reviews:
        raise ValueError(f"{checkpoint} was not trained on the built-in reviews; pass a run of `albert-edge train`")
    labels = AlbertConfig.load(checkpoint).num_labels
    if labels != 2:
        raise ValueError(f"{checkpoint} has {labels} labels; the blend is for two-label models")
    data = builtin_data(record.reviews, record.split_seed)
    tfidf = tfidf_pipeline().fit(data.train.texts, data.train.labels)
    model = load_pretrained(checkpoint)
    tokenizer = load_tokenizer(checkpoint)
    encoder = TextEncoder(tokenizer, *text_settings(checkpoint))
    splits = {}
    for name in ("dev", "test"):
        split = getattr(data, name)
        logits = torch.from_numpy(pytorch_logits(model, encoder, split.texts))
        splits[name] = {
            "model": torch.softmax(logits, 1)[:, 1].numpy(),
            "tfidf": tfidf.predict_proba(split.texts)[:, 1],
            "labels": np.asarray(split.labels),
            "tokens": np.array([len(e.ids) for e in tokenizer.encode_batch(split.texts)]),
        }
    counts = source_test_counts(data.report) if record.reviews == "all" else None
    return splits["dev"], splits["test"], counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a run of `albert-edge train` on the built-in reviews")
    args = parser.parse_args(argv)
    print(json.dumps(blend_report(*probabilities(args.checkpoint)), indent=2))


if __name__ == "__main__":
    main()
