"""Queueing front for servers: requests that arrive while the model is busy (plus, optionally, those within
`max_wait_ms`) are taken together by one worker, each text still run alone (`SentimentClassifier.iter_predict`).

One worker thread owns the onnxruntime calls; callers (threads or asyncio tasks) get a Future each. A bounded
queue gives back-pressure: when it is full, `submit` raises `Overloaded` at once instead of holding memory.
Hand-written because it is ~100 lines of stdlib; a task-queue framework would be the sprawl the runtime avoids.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .classifier import Prediction, SentimentClassifier, checked_texts


class Overloaded(RuntimeError):
    """The request queue is full: retry later (HTTP 503) or raise `max_queue`."""


@dataclass
class _Job:
    texts: list[str]
    future: Future


_STOP = object()


class AsyncSentimentClassifier:
    """`await clf.predict(texts)` from asyncio, or `clf.submit(texts).result()` from threads.

    max_batch: texts the worker takes from the queue at once (each still runs alone).
    max_wait_ms: how long the worker waits for more requests after the first one arrives. Default 0: a batch is
        whatever queued while the model was busy, so a lone request never waits; waiting longer cost throughput
        in `python -m bench.serve_load` (docs/serving.md).
    max_queue: requests waiting at most; beyond that `Overloaded` is raised.
    Results equal `SentimentClassifier.predict([text])` bit for bit, whatever else was queued.
    """

    def __init__(
        self, classifier: SentimentClassifier, max_batch: int = 32, max_wait_ms: float = 0.0, max_queue: int = 256
    ):
        for name, value, low in (("max_batch", max_batch, 1), ("max_queue", max_queue, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0 <= max_wait_ms <= 1000:
            raise ValueError(f"max_wait_ms must be between 0 and 1000, got {max_wait_ms!r}")
        self.classifier = classifier
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_ms / 1000.0, max_queue
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._worker = threading.Thread(target=self._serve, name="albert-edge-batcher", daemon=True)
        self._worker.start()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threads: int = 1,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        parallel: int = 1,
        exact_int8: bool | None = None,
    ) -> AsyncSentimentClassifier:
        classifier = SentimentClassifier.load(path, threads=threads, parallel=parallel, exact_int8=exact_int8)
        return cls(classifier, max_batch, max_wait_ms, max_queue)

    def submit(self, texts: Iterable[str]) -> Future:
        """Future of list[Prediction]. Bad input raises here, in the caller, naming the item."""
        items = checked_texts(texts)
        future: Future = Future()
        if not items:
            future.set_result([])
            return future
        if self._closed:
            raise RuntimeError("the classifier was closed; create a new one")
        try:
            self._queue.put_nowait(_Job(items, future))
        except queue.Full:
            raise Overloaded(f"overloaded: {self.max_queue} requests already queued; retry later") from None
        return future

    async def predict(self, texts: Iterable[str]) -> list[Prediction]:
        import asyncio  # here, not at module level: asyncio loads OpenSSL, memory apps that never await need not pay

        return await asyncio.wrap_future(self.submit(texts))

    def close(self) -> None:
        """Finish the queued requests, then stop the worker."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._worker.join()

    def __enter__(self) -> AsyncSentimentClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        stop = False
        while not stop:
            job = self._queue.get()
            if job is _STOP:
                return
            jobs, count = [job], len(job.texts)
            deadline = time.monotonic() + self.max_wait
            while count < self.max_batch:
                try:
                    job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                jobs.append(job)
                count += len(job.texts)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # drop requests the caller cancelled
        try:
            predictions = self.classifier.predict([t for j in jobs for t in j.texts])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller, the worker keeps serving
            for j in jobs:
                j.future.set_exception(exc)
            return
        start = 0
        for j in jobs:
            j.future.set_result(predictions[start : start + len(j.texts)])
            start += len(j.texts)
