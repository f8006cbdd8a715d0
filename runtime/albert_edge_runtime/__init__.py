"""albert-edge-runtime: run albert-edge INT8 ALBERT bundles with numpy + onnxruntime + tokenizers only."""

from .bundle import BundleError
from .classifier import Prediction, SentimentClassifier
from .encoding import Encoded, TextEncoder
from .session import SessionOptions

__all__ = ["SentimentClassifier", "AsyncSentimentClassifier", "Overloaded", "Prediction", "BundleError",
           "SessionOptions", "TextEncoder", "Encoded"]


def __getattr__(name: str):
    # The batching front is imported on first use only: most embedders never need its thread.
    if name in ("AsyncSentimentClassifier", "Overloaded"):
        from . import batcher

        return getattr(batcher, name)
    raise AttributeError(f"module 'albert_edge_runtime' has no attribute {name!r}")
