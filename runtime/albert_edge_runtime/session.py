"""onnxruntime sessions with explicit memory/thread options, and length-bucketed batched inference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from .encoding import Encoded

OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class RuntimeOptions:
    """Defaults chosen for a small, predictable process (numbers in docs/runtime.md).

    threads: intra-op threads (1 = one core, steadiest latency on a Pi; 0 = onnxruntime picks all cores).
    arena: onnxruntime's CPU memory arena. On is smaller and faster: it reuses blocks where glibc's heap
        fragments (docs/runtime.md).
    memory_pattern: pre-plans buffers per input shape; pays off only for repeated identical shapes.
    prepacking: re-lays weights for faster GEMMs at the cost of a second copy of them in memory.
    optimization: graph optimisation level applied at load (disable, basic, extended, all).
    """

    threads: int = 1
    arena: bool = True
    memory_pattern: bool = False
    prepacking: bool = True
    optimization: str = "all"

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0 = all cores), got {self.threads!r}")
        if self.optimization not in OPT_LEVELS:
            raise ValueError(f"unknown optimization {self.optimization!r}; expected one of {', '.join(OPT_LEVELS)}")


def make_session(model: bytes | str, options: RuntimeOptions) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = options.arena
    so.enable_mem_pattern = options.memory_pattern
    so.graph_optimization_level = OPT_LEVELS[options.optimization]
    if not options.prepacking:
        so.add_session_config_entry("session.disable_prepacking", "1")
    if options.threads == 1:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait burning a core
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def length_buckets(
    lengths: Sequence[int], max_batch: int, max_tokens: int, max_attention: int = 32_768, max_padding: float = 1.1
) -> list[list[int]]:
    """Indices sorted by length, cut into batches of at most `max_batch` rows, `max_tokens` padded tokens,
    `max_attention` = rows * T * T attention cells (scores are (B, heads, T, T): the memory peak of a batch) and
    `max_padding` x the real tokens. The last cap matters for small concurrent batches of mixed length: padding
    them together was slower than one by one (a small model gains little from batching; docs/runtime.md)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        rows, padded = len(current) + 1, (len(current) + 1) * lengths[i]
        if current and (
            rows > max_batch
            or padded > max_tokens
            or padded * lengths[i] > max_attention
            or padded > max_padding * (real + lengths[i])
        ):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


def feeds_for(rows: Sequence[Encoded], input_names: Sequence[str], pad_id: int) -> dict[str, np.ndarray]:
    T = max(len(r.input_ids) for r in rows)
    ids = np.full((len(rows), T), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), T), dtype=np.int64)
    mask = np.zeros((len(rows), T), dtype=np.int64)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n], types[i, :n], mask[i, :n] = r.input_ids, r.token_type_ids, 1
    available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: available[name] for name in input_names}


def run_buckets(
    session: ort.InferenceSession, encoded: Sequence[Encoded], pad_id: int, max_batch: int = 32, max_tokens: int = 256
) -> np.ndarray:
    """Logits in input order. Batch 1 runs at its real length; lists are bucketed by length (little padding)."""
    # max_tokens bounds a batch's activations: larger caps raised the peak without a throughput gain
    # (docs/runtime.md has the figures). SentimentClassifier passes min(max_length, BATCH_TOKENS).
    input_names = [i.name for i in session.get_inputs()]
    output = session.get_outputs()[0].name
    out: np.ndarray | None = None
    for batch in length_buckets([len(e.input_ids) for e in encoded], max_batch, max_tokens):
        logits = session.run([output], feeds_for([encoded[i] for i in batch], input_names, pad_id))[0]
        if out is None:
            out = np.empty((len(encoded), logits.shape[1]), dtype=np.float32)
        out[batch] = logits
    if out is None:
        raise ValueError("nothing to classify: the input list is empty")
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # no overflow warning for large negative logits


def apply_head(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """What transformers' text-classification pipeline applies for each problem type: softmax over labels,
    a sigmoid per label, or the raw value."""
    if problem_type == "multi_label_classification":
        return sigmoid(logits)
    if problem_type == "regression":
        return logits
    return softmax(logits)
