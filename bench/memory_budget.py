"""The memory budgets of docs/runtime.md, measured: peak RSS of classifying 1 000 texts in fresh processes, with
the numpy + onnxruntime import floor of each process.

    .venv/bin/python -m bench.memory_budget [--rounds 3] [--work DIR]

Default bundle: the first 1 000 test reviews. albert-base shape: a random-weight albert-base-v2-shaped model with a
30 000-piece vocabulary (built and exported into --work the first time, reused after), on 1 000 texts of random
vocabulary pieces that reach most of its embedding rows. For warm-cache figures like the docs', run once first
(or `echo 3 > /proc/sys/vm/drop_caches` after an install: freshly written library files take more pages).
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def base_bundle(work: Path) -> Path:
    from albert_edge_export.pipeline import ExportOptions, run_export
    from bench.shapes import albert_base_with_vocabulary, vocabulary_texts

    bundle = work / "base-bundle"
    if not bundle.is_dir():
        ckpt = albert_base_with_vocabulary(work / "base")
        (work / "verify.txt").write_text("\n".join(vocabulary_texts(ckpt, 20, seed=1)), encoding="utf-8")
        verify = str(work / "verify.txt")  # random weights: the accuracy guard has nothing to protect
        run_export(ExportOptions(checkpoint=ckpt, out=bundle, verify_data=verify, max_drop=100.0, max_length=64,
                                 truncation="head+tail", per_channel=True, batch_tolerance=1.0))  # fmt: skip
        (work / "texts-base.txt").write_text("\n".join(vocabulary_texts(ckpt, 1000, seed=2)), encoding="utf-8")
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "memory")
    args = parser.parse_args()
    from albert_edge.data import load_reviews
    from albert_edge_runtime.memory_probe import measure

    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "texts-default.txt").write_text("\n".join(load_reviews().test.texts[:1000]), encoding="utf-8")
    cases = {
        "default bundle": (None, args.work / "texts-default.txt"),
        "albert-base shape, 30k vocabulary": (base_bundle(args.work), args.work / "texts-base.txt"),
    }
    for name, (bundle, texts) in cases.items():
        for tune in (False, True):
            runs = [measure(bundle, texts, tune_malloc=tune) for _ in range(args.rounds)]
            print(
                f"{name}{' + tune_glibc_malloc' if tune else ''}: peak "
                f"{' / '.join(str(r['peak_mib']) for r in runs)} MiB, floor "
                f"{' / '.join(str(r['floor_mib']) for r in runs)}, added "
                f"{' / '.join(str(r['added_mib']) for r in runs)}"
            )


if __name__ == "__main__":
    main()
