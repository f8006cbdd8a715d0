"""Logits of a bundle on a text file, with only albert_edge_runtime installed (used by scripts/arm-check.sh).

usage: device_logits.py dump TEXTS.txt OUT.npy [BUNDLE]
       device_logits.py compare A.npy B.npy MAX_ABS
"""

import sys

import numpy as np


def dump(texts_path: str, out_path: str, bundle: str | None) -> None:
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.session import run_logits

    clf = SentimentClassifier.load(bundle)
    texts = open(texts_path, encoding="utf-8").read().split("\n")
    # Same deterministic length buckets on both machines, so each sees identical batches (dynamic INT8 scales
    # depend on the batch); batching keeps the emulated run to minutes instead of one session call per text.
    logits = run_logits(clf.session, clf.encoder.encode_batch(texts), clf.pad_id)
    np.save(out_path, logits)


def compare(a_path: str, b_path: str, max_abs: float) -> int:
    a, b = np.load(a_path), np.load(b_path)
    diff = float(np.abs(a - b).max())
    same = int((a.argmax(1) == b.argmax(1)).sum())
    print(f"parity: {same}/{len(a)} labels equal, max abs logit difference {diff:.2e} (allowed {max_abs:.0e})")
    return 0 if same == len(a) and diff <= max_abs else 1


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3], float(sys.argv[4])))
