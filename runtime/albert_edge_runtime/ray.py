"""The same scoring job on a Ray cluster with Ray Data (the `[ray]` extra): read -> map_batches(ScoreBatches,
concurrency=N) -> write, one classifier per actor, loaded once.

    from albert_edge_runtime.ray import ScoreBatches
    ds = ray.data.read_parquet("reviews.parquet")
    scored = ds.map_batches(ScoreBatches, fn_constructor_kwargs={"text_column": "review"}, concurrency=4,
                            batch_size=256, batch_format="pyarrow")

Rows whose text is missing or empty are dropped, as the local path drops them (it lists them; here count them by
comparing row counts). Results per row are those of `SentimentClassifier.predict` on the batch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .classifier import CHUNK, SentimentClassifier
from .score import file_format, result_columns


class ScoreBatches:
    """A callable class for `Dataset.map_batches` (batch_format="pyarrow"): adds label, score, p_<label> and
    truncated to every row with a usable text."""

    def __init__(self, bundle: str | None = None, text_column: str = "text", threads: int = 1, batch_size: int = 32):
        self.classifier = SentimentClassifier.load(bundle, threads=threads)
        self.text_column, self.batch_size = text_column, batch_size

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = batch.to_pylist()
        kept = [r for r in rows if isinstance(r.get(self.text_column), str) and r[self.text_column].strip()]
        predictions = self.classifier.predict([r[self.text_column] for r in kept], batch_size=self.batch_size)
        return pa.Table.from_pylist([{**r, **result_columns(p)} for r, p in zip(kept, predictions)])


READERS = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}


def score_with_ray(
    source: Path,
    out: Path,
    address: str | None,
    workers: int,
    bundle: str | None = None,
    text_column: str = "text",
    batch_size: int = 32,
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
    scored = dataset.map_batches(
        ScoreBatches,
        fn_constructor_kwargs={"bundle": bundle, "text_column": text_column, "batch_size": batch_size},
        concurrency=workers,
        batch_size=CHUNK,
        batch_format="pyarrow",
    )
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier run's files
    scored.write_parquet(str(partial))
    partial.rename(out)
    rows = dataset.count()
    written = ray.data.read_parquet(str(out)).count()
    return {"rows": rows, "scored": written, "bad_rows": rows - written, "out": str(out), "workers": workers}
