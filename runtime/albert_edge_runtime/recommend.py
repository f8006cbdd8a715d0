"""`albert-edge-run bench --recommend B1 B2 ...`: which export of a model to ship on THIS device.

The bundles (say one model's fp32, INT8 and 4-bit exports) are timed interleaved, text by text, each text alone as
`predict` runs it; each is checked against the most precise of them on the same texts (its labels may differ on at
most 1 % of them, the scale the export's accuracy guard allows); the fastest bundle within that contract is
recommended, or the smallest one whose latency is within 5 % of the fastest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bench import describe_machine, latency_at, real_text_latency
from .classifier import SentimentClassifier

PRECISION = ("none (fp32)", "dynamic-int8")  # most precise first; any other format (4-bit) after them
MAX_LABEL_CHANGES = 0.01
SAME_SPEED = 1.05


def _rank(mode: str) -> int:
    return PRECISION.index(mode) if mode in PRECISION else len(PRECISION)


def recommend(bundles: list[str], texts: list[str], threads: int, iterations: int, warmup: int) -> dict[str, Any]:
    clfs = [SentimentClassifier.load(b, threads=threads) for b in bundles]
    if len({tuple(c.labels) for c in clfs}) > 1:
        raise ValueError("the bundles have different labels: --recommend compares exports of one model")
    modes = [str(c.bundle.manifest.quantization.get("mode", "none (fp32)")) for c in clfs]
    reference = min(range(len(clfs)), key=lambda k: _rank(modes[k]))
    answers = [np.array([[p.probabilities[label] for label in c.labels] for p in c.predict(texts)]) for c in clfs]
    length = min(c.encoder.max_length for c in clfs)
    longest = latency_at(clfs, length, iterations, warmup)
    real = real_text_latency(clfs, texts, iterations)
    rows = []
    for k, clf in enumerate(clfs):
        agreement = float(np.mean(answers[k].argmax(1) == answers[reference].argmax(1)))
        rows.append(
            {
                "bundle": str(clf.bundle.root),
                "weights": modes[k],
                "model_bytes": clf.bundle.model_bytes,
                "real_text_p50_ms": real[k]["p50_ms"],
                f"p50_ms_at_{length}": longest[k]["p50_ms"],
                "label_agreement": agreement,
                "max_probability_difference": float(np.abs(answers[k] - answers[reference]).max()),
                "within_contract": agreement >= 1 - MAX_LABEL_CHANGES,
            }
        )
    chosen, why = choose(rows)
    return {
        "machine": describe_machine(threads),
        "texts": len(texts),
        "reference": rows[reference]["bundle"],
        "bundles": rows,
        "recommended": rows[chosen]["bundle"],
        "why": why,
    }


def choose(rows: list[dict[str, Any]]) -> tuple[int, str]:
    """The fastest bundle within its contract, or the smallest within 5 % of it; (index, reason)."""
    fit = [k for k, r in enumerate(rows) if r["within_contract"]]
    fastest = min(fit, key=lambda k: rows[k]["real_text_p50_ms"])
    limit = rows[fastest]["real_text_p50_ms"] * SAME_SPEED
    near = [k for k in fit if rows[k]["real_text_p50_ms"] <= limit]
    smallest = min(near, key=lambda k: rows[k]["model_bytes"])
    if smallest != fastest:
        return smallest, "the smallest bundle within 5 % of the fastest's latency here"
    return fastest, "the fastest bundle here that answers like the most precise one"


def render(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    lines = [
        f"{m['cpu']} ({m['arch']}, {m['threads']} thread(s)), features: {', '.join(m['cpu_features']) or 'none'}",
        f"{report['texts']} texts, each alone; labels compared with {report['reference']}",
        "",
        f"{'bundle':<40}{'weights':<18}{'MB':>7}{'p50 ms':>9}{'labels =':>10}  contract",
    ]
    for r in report["bundles"]:
        name = r["bundle"] if len(r["bundle"]) < 39 else "..." + r["bundle"][-36:]
        lines.append(
            f"{name:<40}{r['weights'][:17]:<18}{r['model_bytes'] / 1e6:>7.2f}{r['real_text_p50_ms']:>9.2f}"
            f"{100 * r['label_agreement']:>9.1f}%  {'met' if r['within_contract'] else 'NOT met'}"
        )
    lines += ["", f"use {report['recommended']}: {report['why']}"]
    return lines
