"""albert-edge-runtime: run albert-edge INT8 ALBERT bundles with numpy + onnxruntime + tokenizers only."""

from .bundle import BundleError
from .classifier import Prediction, SentimentClassifier
from .encoding import Encoded, TextEncoder
from .session import SessionOptions

__all__ = ["SentimentClassifier", "Prediction", "BundleError", "SessionOptions", "TextEncoder", "Encoded"]
