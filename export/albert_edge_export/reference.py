"""Step 4b, the end-to-end guard: raw text -> transformers' own tokenizer + PyTorch fp32 model (the reference)
against raw text -> the runtime on the staged bundle, one text at a time and in lists; and the bundle's graph in
mixed-length padded batches, as other tools (optimum, onnxruntime) would run it.

The INT8 guard before it compares two graphs on the same token ids, so it cannot see a tokenizer that differs
from the checkpoint's, a head that is applied wrongly, or padding that leaks into attention; this step can.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from albert_edge_runtime import Prediction, SentimentClassifier
from albert_edge_runtime.session import apply_head, feeds_for

MIXED_BATCH = 8  # rows per mixed-length batch: short and long texts alternate inside each
ALONE_SAMPLE = 200  # texts also run alone, one call each, to check that the list changed none of their answers


class EndToEndError(RuntimeError):
    """The bundle does not answer like transformers does on the same raw text."""


@dataclass(frozen=True)
class Reference:
    ids: list[list[int]]  # token ids per text, specials included, cut as the bundle cuts
    outputs: np.ndarray  # (N, labels) head outputs of the PyTorch model: probabilities, or values for regression


def reference_outputs(
    checkpoint: Path, texts: list[str], max_length: int, truncation: str, problem_type: str
) -> Reference:
    """transformers' `AutoTokenizer`-equivalent tokenizer and `AlbertForSequenceClassification`, one text at a
    time (no padding anywhere), head as transformers' pipeline applies it for `problem_type`."""
    import torch
    from transformers import AlbertForSequenceClassification

    from albert_edge.tokenization import reference_tokenizer

    tokenizer = reference_tokenizer(checkpoint)
    model = AlbertForSequenceClassification.from_pretrained(str(checkpoint), local_files_only=True).eval()
    ids = [reference_ids(tokenizer, text, max_length, truncation) for text in texts]
    with torch.no_grad():
        rows = tqdm(ids, desc="end-to-end: transformers", unit=" texts", leave=False)
        logits = np.concatenate([model(input_ids=torch.tensor([row])).logits.numpy() for row in rows])
    return Reference(ids, apply_head(logits.astype(np.float32), problem_type))


def reference_ids(tokenizer, text: str, max_length: int, truncation: str) -> list[int]:
    """Head truncation is transformers' own `truncation=True`. Head+tail (albert-edge's training setting) has no
    transformers equivalent: the untruncated ids are cut around their special tokens, as the spec says."""
    if truncation == "head":
        return tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    encoded = tokenizer(text, return_special_tokens_mask=True)
    ids, special = encoded["input_ids"], encoded["special_tokens_mask"]
    if len(ids) <= max_length:
        return ids
    first = special.index(0) if 0 in special else len(ids)
    last = len(ids) - special[::-1].index(0) if 0 in special else len(ids)
    content = ids[first:last]
    budget = max_length - first - (len(ids) - last)
    head = (budget + 1) // 2
    return ids[:first] + content[:head] + content[len(content) - (budget - head) :] + ids[last:]


@dataclass
class EndToEnd:
    count: int
    token_id_mismatches: int
    agreement: float | None  # runtime vs reference decisions; None for regression
    max_abs_diff: float  # largest |runtime - reference| output
    max_batch_effect: float  # the runtime on the whole list vs each text alone: 0 by construction, checked exactly
    max_padding_effect: float = 0.0  # the graph in padded mixed-length batches (other tools) vs each text alone
    reference_accuracy: float | None = None
    runtime_accuracy: float | None = None

    @property
    def drop_points(self) -> float:
        if self.reference_accuracy is not None and self.runtime_accuracy is not None:
            return 100.0 * (self.reference_accuracy - self.runtime_accuracy)
        return 0.0 if self.agreement is None else 100.0 * (1.0 - self.agreement)

    def to_dict(self) -> dict:
        return {**asdict(self), "drop_points": round(self.drop_points, 3)}


def outputs_of(predictions: list[Prediction], labels: list[str], problem_type: str) -> np.ndarray:
    if problem_type == "regression":
        return np.array([[p.score] for p in predictions], dtype=np.float32)
    return np.array([[p.probabilities[label] for label in labels] for p in predictions], dtype=np.float32)


def mixed_length_outputs(clf: SentimentClassifier, texts: list[str]) -> np.ndarray:
    """Batches where the shortest and longest texts sit together (padding in every row but one), run with the
    runtime's own feeds: padding must not reach attention."""
    encoded = clf.encoder.encode_batch(texts)
    order = np.argsort([len(e.input_ids) for e in encoded], kind="stable").tolist()
    alternating = [order[i // 2] if i % 2 == 0 else order[-1 - i // 2] for i in range(len(order))]
    names = [i.name for i in clf.session.get_inputs()]
    out = np.empty((len(texts), len(clf.labels)), dtype=np.float32)
    for start in range(0, len(alternating), MIXED_BATCH):
        rows = alternating[start : start + MIXED_BATCH]
        logits = clf.session.run(None, feeds_for([encoded[i] for i in rows], names, clf.pad_id))[0]
        out[rows] = apply_head(logits, clf.problem_type)
    return out


def agreement(a: np.ndarray, b: np.ndarray, problem_type: str) -> float | None:
    """Share of texts with the same decision: top label, or the same label set above 0.5 (multi-label)."""
    if problem_type == "regression":
        return None
    if problem_type == "multi_label_classification":
        return float(np.mean(np.all((a >= 0.5) == (b >= 0.5), axis=1)))
    return float(np.mean(a.argmax(1) == b.argmax(1)))


def batch_effect(single: np.ndarray, others: list[np.ndarray], problem_type: str) -> float:
    """Largest change a batch makes to a text's output; regression values count relative beyond 1."""
    scale = np.maximum(1.0, np.abs(single)) if problem_type == "regression" else 1.0
    return max(float((np.abs(other - single) / scale).max()) for other in others)


def spread_sample(count: int, most: int) -> list[int]:
    """Up to `most` indices of `count` items, evenly spread from the first to the last, in order."""
    return sorted(set(np.linspace(0, count - 1, min(count, most)).astype(int).tolist()))


def end_to_end(bundle_dir: Path, texts: list[str], reference: Reference, truth: list[int | None] | None) -> EndToEnd:
    """Measure the staged bundle through the runtime, exactly as a device loads it, against `reference`.
    `truth`: gold label ids aligned with `texts` (None where a text has none), for accuracy."""
    clf = SentimentClassifier.load(bundle_dir)
    ids = [e.input_ids for e in clf.encoder.encode_batch(texts)]
    mismatches = [i for i, (ours, theirs) in enumerate(zip(ids, reference.ids)) if ours != theirs]
    if mismatches:
        i = mismatches[0]
        raise EndToEndError(
            f"the bundle's tokenizer differs from transformers' on {len(mismatches)} of {len(texts)} texts; "
            f"first: {texts[i][:80]!r}: bundle {ids[i][:12]}... vs transformers {reference.ids[i][:12]}...; "
            "the checkpoint's tokenizer files are not reproduced, please report it with those files"
        )
    kind = clf.problem_type
    listed = tqdm(clf.iter_predict(texts), total=len(texts), desc="end-to-end: runtime", unit=" texts", leave=False)
    answers = outputs_of(list(listed), clf.labels, kind)
    # Each text alone too, for the exact independence check: a spread sample, since every text runs alone anyway.
    sample = spread_sample(len(texts), ALONE_SAMPLE)
    alone = outputs_of([clf.predict([texts[i]])[0] for i in sample], clf.labels, kind)
    result = EndToEnd(
        count=len(texts),
        token_id_mismatches=0,
        agreement=agreement(answers, reference.outputs, kind),
        max_abs_diff=float(np.abs(answers - reference.outputs).max()),
        max_batch_effect=float(np.abs(answers[sample] - alone).max()),
        max_padding_effect=batch_effect(answers, [mixed_length_outputs(clf, texts)], kind),
    )
    labelled = [i for i, label in enumerate(truth or []) if label is not None]
    if labelled and kind == "single_label_classification":
        gold = np.asarray([truth[i] for i in labelled])
        result.reference_accuracy = float(np.mean(reference.outputs[labelled].argmax(1) == gold))
        result.runtime_accuracy = float(np.mean(answers[labelled].argmax(1) == gold))
    return result


def refuse_unfaithful(result: EndToEnd, max_drop: float, batch_tolerance: float, judged_on: str) -> None:
    """Raise unless the bundle answers like the reference: through the runtime a text's answer is exactly its own,
    padded batches of other tools move it no more than INT8's per-batch noise, and no more than `max_drop` points
    (or disagreement) are lost on raw text. `judged_on`: the texts, and how to give real ones."""
    if result.max_batch_effect != 0.0:
        raise EndToEndError(
            f"through the runtime a text's output changed by {result.max_batch_effect:.3g} with the texts beside "
            "it; the runtime runs every text alone, so this is a bug: please report it with the checkpoint"
        )
    if result.max_padding_effect > batch_tolerance:
        raise EndToEndError(
            f"in padded batches (as optimum or onnxruntime run model.onnx) a text's output changes by "
            f"{result.max_padding_effect:.3g} with its batch neighbours (allowed {batch_tolerance}); export with "
            f"--weights fp32 to see whether INT8 causes it, or raise --batch-tolerance ({judged_on})"
        )
    if result.drop_points > max_drop:
        raise EndToEndError(
            f"on the same raw texts the bundle loses {result.drop_points:.2f} points against transformers (allowed "
            f"{max_drop}); raise --max-drop, keep nodes fp32 with --keep-fp32, or export with --weights fp32 "
            f"({judged_on})"
        )


def refuse_crashes(bundle_dir: Path, texts: list[str]) -> None:
    """Word soups through the runtime, for crashes and non-finite outputs only: their answers say nothing of
    quality."""
    clf = SentimentClassifier.load(bundle_dir)
    for text, prediction in zip(texts, clf.iter_predict(texts)):
        values = [prediction.score, *prediction.probabilities.values()]
        if not np.all(np.isfinite(values)):
            raise EndToEndError(
                f"the bundle answers {values} (not finite) to {text[:80]!r}; keep nodes fp32 with --keep-fp32 or "
                "export with --weights fp32, and please report it with the checkpoint"
            )
