"""Step 4: fp32 vs the quantized graph on held-out data: accuracy (with labels), agreement and max logit error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from albert_edge_runtime.encoding import Encoded
from albert_edge_runtime.session import RuntimeOptions, logits_alone, make_session

# The runtime's defaults (`SentimentClassifier.load()`), so verify measures what a device will compute.
REFERENCE_OPTIONS = RuntimeOptions()


@dataclass
class Verification:
    count: int
    agreement: float
    max_logit_error: float
    fp32_accuracy: float | None
    quantized_accuracy: float | None  # the quantized model's: INT8, or 4-bit blocks with --weights int4

    @property
    def drop_points(self) -> float:
        """Accuracy drop in points; without labels, the disagreement rate bounds it."""
        if self.fp32_accuracy is not None and self.quantized_accuracy is not None:
            return 100.0 * (self.fp32_accuracy - self.quantized_accuracy)
        return 100.0 * (1.0 - self.agreement)

    def to_dict(self) -> dict:
        return {**asdict(self), "drop_points": round(self.drop_points, 3)}


def onnx_file_logits(model_path: Path, encoded: list[Encoded]) -> np.ndarray:
    """Logits as the runtime's `predict` computes them (same session options, one text per run)."""
    return logits_alone(make_session(str(model_path), REFERENCE_OPTIONS), encoded)


def compare(fp32_logits: np.ndarray, quantized_logits: np.ndarray, labels: list[int] | None) -> Verification:
    fp32_pred, quantized_pred = fp32_logits.argmax(1), quantized_logits.argmax(1)
    truth = np.asarray(labels) if labels is not None else None
    return Verification(
        count=len(fp32_pred),
        agreement=float(np.mean(fp32_pred == quantized_pred)),
        max_logit_error=float(np.abs(fp32_logits - quantized_logits).max()),
        fp32_accuracy=None if truth is None else float(np.mean(fp32_pred == truth)),
        quantized_accuracy=None if truth is None else float(np.mean(quantized_pred == truth)),
    )
