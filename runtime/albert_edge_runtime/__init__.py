"""albert-edge-runtime: run albert-edge INT8 ALBERT bundles with numpy + onnxruntime only."""

import os
from pathlib import Path

# onnxruntime starts its telemetry system, which costs memory, when first imported unless this is set then; too
# late once it is imported. A value the user set is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


from .bundle import BundleError  # noqa: E402 - after the environment above
from .classifier import Prediction, SentimentClassifier
from .encoding import Encoded, TextEncoder
from .session import RuntimeOptions

__version__ = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()

__all__ = [
    "__version__",
    "SentimentClassifier",
    "AsyncSentimentClassifier",
    "Overloaded",
    "Prediction",
    "BundleError",
    "RuntimeOptions",
    "TextEncoder",
    "Encoded",
]


def __getattr__(name: str):
    # The batching front is imported on first use only: most embedders never need its thread.
    if name in ("AsyncSentimentClassifier", "Overloaded"):
        from . import batcher

        return getattr(batcher, name)
    raise AttributeError(f"module 'albert_edge_runtime' has no attribute {name!r}")
