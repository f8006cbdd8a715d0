"""Interleaved batch-1 latency: A B C, B C A, C A B ..., warm-up first, medians of >= 30 runs per contender."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort


def ort_runner(path: str, threads: int) -> Callable[[dict], object]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle threads must not spin: interleaved contenders would steal each other's cores.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda feeds: session.run(None, {k: v for k, v in feeds.items() if k in names})


def torch_runner(checkpoint: str, threads: int) -> Callable[[dict], object]:
    import torch
    import transformers

    torch.set_num_threads(threads)
    model = transformers.AlbertForSequenceClassification.from_pretrained(checkpoint).eval()

    def run(feeds):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in feeds.items()})

    return run


def feeds_of_length(length: int, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(length)
    ids = rng.integers(5, vocab, size=(1, length), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def interleaved(runners: dict[str, Callable], feeds: dict, runs: int, warmup: int) -> dict[str, dict[str, float]]:
    for run in runners.values():
        for _ in range(warmup):
            run(feeds)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(runs):
        # Rotate the order every round: whoever runs right after PyTorch finds the caches cold, and a fixed order
        # would charge that to one contender.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            run = runners[name]
            start = time.perf_counter()
            run(feeds)
            samples[name].append((time.perf_counter() - start) * 1000.0)
    return {name: {"p50_ms": float(np.median(s)), "p90_ms": float(np.percentile(s, 90))} for name, s in samples.items()}
