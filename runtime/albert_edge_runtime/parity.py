"""The parity contract between two machines running one bundle (say x86 and a Raspberry Pi's ARM cores): what the
emulated-ARM check holds every device to, importable so tests, scripts and users judge the same way.

fp32 graphs agree to a max abs logit difference <= 1e-4; INT8 bundles keep their labels, the median over texts of
each text's largest difference stays <= 1e-4 (most texts are bit-identical) and the largest difference <= 3e-2:
dynamic INT8 rounds activations, so a last-bit difference in an fp32 kernel (LayerNorm, Gelu, Softmax differ
between x86 and ARM builds) flips a rounding step now and then (docs/arm.md has the figures). 4-bit bundles
(MatMulNBits, kernels written separately per ISA) keep their labels within max 1e-1 / median 1e-2.

"Keep their labels": every text whose reference top-two logits are more than twice the kind's max apart keeps its
label. Closer than that the text is a tie within the contract's own tolerance: moving both logits by the allowed
difference can swap them, so its label may go either way; such flips are counted, not failed.
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
    moved = reference.argmax(1) != device.argmax(1)
    top_two = np.sort(reference, axis=1)[:, -2:]
    tie = top_two[:, 1] - top_two[:, 0] <= 2 * limits["max"] if reference.shape[1] > 1 else np.zeros(len(moved), bool)
    figures: dict[str, Any] = {
        "kind": kind,
        "texts": len(per_text),
        "labels_equal": int((~moved).sum()),
        "ties_flipped": int((moved & tie).sum()),  # top two within 2 x max on the reference: either label is right
        "max_abs": float(per_text.max()),
        "median_abs": float(np.median(per_text)),
        "texts_above_1e-3": int((per_text > 1e-3).sum()),
        "allowed": limits,
    }
    figures["passed"] = bool(
        not (moved & ~tie).any()
        and float(per_text.max()) <= limits["max"]
        and float(np.median(per_text)) <= limits["median"]
    )
    return figures
