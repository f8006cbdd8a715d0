"""The parity contract between two machines running one bundle (say x86 and a Raspberry Pi's ARM cores): what the
emulated-ARM check holds every device to, importable so tests, scripts and users judge the same way.

fp32 graphs agree to a max abs logit difference <= 1e-4; INT8 bundles keep every label, the median over texts of
each text's largest difference stays <= 1e-4 (most texts are bit-identical) and the largest difference <= 3e-2:
dynamic INT8 rounds activations, so a last-bit difference in an fp32 kernel (LayerNorm, Gelu, Softmax differ
between x86 and ARM builds) flips a rounding step now and then (docs/arm.md has the figures). 4-bit bundles
(MatMulNBits, kernels written separately per ISA) keep every label within max 1e-1 / median 1e-2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONTRACT = {
    "fp32": {"max": 1e-4, "median": 1e-4},
    "int8": {"max": 3e-2, "median": 1e-4},
    "int4": {"max": 1e-1, "median": 1e-2},
}


def contract(reference: np.ndarray, device: np.ndarray, kind: str) -> dict[str, Any]:
    """Figures of `device`'s logits (texts x labels) against `reference`'s and whether they meet CONTRACT[kind]."""
    if kind not in CONTRACT:
        raise ValueError(f"unknown bundle kind {kind!r}; expected one of {', '.join(CONTRACT)}")
    per_text = np.abs(reference - device).max(axis=1)
    limits = CONTRACT[kind]
    figures: dict[str, Any] = {
        "kind": kind,
        "texts": len(per_text),
        "labels_equal": int((reference.argmax(1) == device.argmax(1)).sum()),
        "max_abs": float(per_text.max()),
        "median_abs": float(np.median(per_text)),
        "texts_above_1e-3": int((per_text > 1e-3).sum()),
        "allowed": limits,
    }
    figures["passed"] = bool(
        figures["labels_equal"] == len(per_text)
        and float(per_text.max()) <= limits["max"]
        and float(np.median(per_text)) <= limits["median"]
    )
    return figures
