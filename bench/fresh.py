"""One contender in a fresh process: cold start, throughput on real texts with its natural batching, peak RSS.

    python -m bench.fresh KIND PATH TEXTS_FILE THREADS MAX_LENGTH PARENT_TIME
KIND: ours (PATH = bundle), optimum (PATH = folder with model.onnx, config, tokenizer), pytorch (PATH = checkpoint).
Prints one JSON line. Cold start runs from the parent's clock just before it started this process (interpreter
start + imports + load + first prediction).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

BATCH = 32  # optimum's / transformers' pipeline batch size in the comparison; ours runs each text alone


def predictor(kind: str, path: str, threads: int, max_length: int):
    if kind == "ours":
        from albert_edge_runtime import SentimentClassifier

        clf = SentimentClassifier.load(path, threads=threads)
        return lambda texts: [p.label for p in clf.predict(texts)]
    if kind == "optimum":
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForSequenceClassification, pipeline

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        model = ORTModelForSequenceClassification.from_pretrained(path, session_options=options)
        pipe = pipeline("text-classification", model=model, tokenizer=path)
    elif kind == "pytorch":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

        torch.set_num_threads(threads)
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        pipe = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(path))
    else:
        raise ValueError(f"unknown contender kind {kind!r}; expected ours, optimum or pytorch")
    return lambda texts: [r["label"] for r in pipe(texts, batch_size=BATCH, truncation=True, max_length=max_length)]


def child(kind: str, path: str, texts_file: str, threads: int, max_length: int, parent_time: float) -> dict:
    from albert_edge_runtime.memory import peak_rss_mib

    texts = Path(texts_file).read_text(encoding="utf-8").splitlines()
    predict = predictor(kind, path, threads, max_length)
    predict(texts[:1])
    cold = time.time() - parent_time
    start = time.perf_counter()
    labels = predict(texts)
    seconds = time.perf_counter() - start
    return {"cold_start_s": cold, "texts_per_s": len(texts) / seconds, "peak_rss_mib": peak_rss_mib(), "labels": labels}


def fresh_run(kind: str, path: Path, texts_file: Path, threads: int, max_length: int) -> dict:
    """Run `child` in a new interpreter and return its report."""
    args = [kind, str(path), str(texts_file), str(threads), str(max_length)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.fresh", *args, repr(time.time())],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} contender failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    kind, path, texts_file, threads, max_length, parent_time = sys.argv[1:7]
    print(json.dumps(child(kind, path, texts_file, int(threads), int(max_length), float(parent_time))))
