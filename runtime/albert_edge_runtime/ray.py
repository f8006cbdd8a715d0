"""The same scoring job on a Ray cluster with Ray Data (the `[ray]` extra): read -> map_batches(ScoreBatches,
concurrency=N) -> write, one classifier per actor, loaded once.

    from albert_edge_runtime.ray import ScoreBatches
    ds = ray.data.read_parquet("reviews.parquet")
    scored = ds.map_batches(ScoreBatches, fn_constructor_kwargs={"text_column": "review"}, concurrency=4,
                            batch_size=256, batch_format="pyarrow")

Rows the local path lists as bad (`score.unscorable`: missing, not text, not UTF-8, empty) are dropped here by the
same rule (count them by comparing row counts). A row's result is `SentimentClassifier.predict([text])`'s, bit for bit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .bundle import read_bundle
from .classifier import SentimentClassifier, default_bundle_path
from .score import file_format, refuse_collisions, result_columns, result_names, unscorable


class ScoreBatches:
    """A callable class for `Dataset.map_batches` (batch_format="pyarrow"): adds label, score, p_<label> and
    truncated to every row with a usable text."""

    def __init__(self, bundle: str | None = None, text_column: str = "text", threads: int = 1, prefix: str = ""):
        self.classifier = SentimentClassifier.load(bundle, threads=threads)
        self.text_column, self.prefix = text_column, prefix

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = batch.to_pylist()
        kept = [r for r in rows if unscorable(r.get(self.text_column), self.text_column) is None]
        predictions = self.classifier.predict([r[self.text_column] for r in kept])
        return pa.Table.from_pylist([{**r, **result_columns(p, self.prefix)} for r, p in zip(kept, predictions)])


READERS = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}
ROWS_PER_BLOCK = 256  # rows an actor takes per call: enough to hide the hand-off, little memory


def score_with_ray(
    source: Path,
    out: Path,
    address: str | None,
    workers: int,
    bundle: str | None = None,
    text_column: str = "text",
    result_prefix: str = "",
) -> dict[str, Any]:
    """Run the job on the Ray cluster at `address` (None: a local one); OUT becomes a folder of Parquet files
    (Ray's writers write one file per block), renamed into place when complete."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the Ray path needs Ray Data: pip install 'albert-edge-runtime[ray]'") from exc
    kind = file_format(source)
    if kind not in READERS:
        raise ValueError(f"--ray reads .csv, .jsonl or .parquet inputs; convert {source.name} to one of them")
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new --out folder for the Ray output")
    if not ray.is_initialized():
        # A local Ray gets one logical CPU more than the actors take: Ray Data's read tasks need their own, or the
        # job waits forever for a CPU that the actors hold. On a cluster, leave one CPU free the same way.
        cpus = max(os.cpu_count() or 1, workers + 1) if address is None else None
        ray.init(address=address, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    dataset = getattr(ray.data, READERS[kind])(str(source))
    if text_column not in dataset.schema().names:
        raise ValueError(
            f"{source} has no {text_column!r} column (it has {dataset.schema().names}); pass --text-column"
        )
    labels = read_bundle(default_bundle_path() if bundle is None else bundle).labels
    refuse_collisions(dataset.schema().names, result_names(labels, result_prefix), str(source))
    scored = dataset.map_batches(
        ScoreBatches,
        fn_constructor_kwargs={"bundle": bundle, "text_column": text_column, "prefix": result_prefix},
        concurrency=workers,
        batch_size=ROWS_PER_BLOCK,
        batch_format="pyarrow",
    )
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier run's files
    scored.write_parquet(str(partial))
    partial.rename(out)
    rows = dataset.count()
    written = ray.data.read_parquet(str(out)).count()
    return {"rows": rows, "scored": written, "bad_rows": rows - written, "out": str(out), "workers": workers}
