"""Scoring a PyTorch checkpoint: logits, accuracy / macro-F1 / log-loss, and `albert-edge eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, iterate
from .checkpoint import load_pretrained, text_settings
from .data import load_reviews
from .model import AlbertForSequenceClassification
from .tokenization import load_tokenizer


@torch.no_grad()
def pytorch_logits(
    model: AlbertForSequenceClassification, encoder: TextEncoder, texts: list[str], batch_size: int = 64
) -> np.ndarray:
    """(N, num_labels) logits of our PyTorch model, batched by length as training batches."""
    model.eval()
    encoded = encoder.encode_batch(texts)
    ids = [e.input_ids for e in encoded]
    types = [e.token_type_ids for e in encoded]
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    batches = bucketed_batches([len(x) for x in ids], batch_size, rng=None)
    for batch, feeds in iterate(batches, ids, types, model.config.pad_token_id):
        out[batch] = model(**feeds).numpy()
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


def evaluate(
    checkpoint: str | Path,
    split: str = "test",
    max_length: int | None = None,
    truncation: str | None = None,
    split_seed: int = 13,
) -> dict:
    """Accuracy, macro-F1 and log-loss of a checkpoint folder on a split of the reviews."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"unknown split {split!r}; expected train, dev or test")
    trained_length, trained_truncation = text_settings(checkpoint)
    max_length, truncation = max_length or trained_length, truncation or trained_truncation
    reviews = load_reviews(seed=split_seed)
    data = getattr(reviews, split)
    model = load_pretrained(checkpoint)
    encoder = TextEncoder(load_tokenizer(checkpoint), max_length, truncation)
    logits = pytorch_logits(model, encoder, data.texts)
    return {
        "split": split,
        "count": len(data),
        "sha256": reviews.manifest["splits"][split]["sha256"],
        "max_length": max_length,
        "truncation": truncation,
        **classification_metrics(data.labels, logits.argmax(1)),
        "log_loss": log_loss(data.labels, logits),
    }
