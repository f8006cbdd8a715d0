"""Step 1: PyTorch ALBERT -> fp32 ONNX, checked against PyTorch on random and real inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from albert_edge.model import AlbertForSequenceClassification

from .contract import DYNAMIC_AXES, FP32_TOLERANCE, INPUT_NAMES, OUTPUT_NAME


def export_fp32(model: AlbertForSequenceClassification, out_path: Path, opset: int) -> Path:
    """TorchScript-based export: parameters used by N layers stay ONE initializer (the dynamo exporter copies them)."""
    model = model.eval()
    example = torch.randint(5, model.config.vocab_size, (2, 8))
    args = (example, torch.ones_like(example), torch.zeros_like(example))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation notice; its output is what we want here
        torch.onnx.export(
            model,
            args,
            str(out_path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=DYNAMIC_AXES,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return out_path


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], feeds)[0]


def check_fp32(
    model: AlbertForSequenceClassification,
    onnx_path: Path,
    batches: list[dict[str, np.ndarray]],
    tolerance: float = FP32_TOLERANCE,
) -> float:
    """Max abs logit difference over `batches`; raises if it exceeds `tolerance`."""
    worst = 0.0
    for feeds in batches:
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
        worst = max(worst, float(np.abs(run_onnx(onnx_path, feeds) - expected).max()))
    if worst > tolerance:
        raise RuntimeError(
            f"fp32 ONNX differs from PyTorch by {worst:.2e} (allowed {tolerance:.0e}); "
            "the export is wrong, please report it with the checkpoint's config.json"
        )
    return worst


def random_feeds(vocab_size: int, seed: int, batch: int = 3, length: int = 17) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, size=(batch, length), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1:, length // 2 :] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
