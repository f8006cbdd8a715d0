"""albert-edge-runtime: run albert-edge INT8 ALBERT bundles with numpy + onnxruntime + tokenizers only."""

from .encoding import Encoded, TextEncoder

__all__ = ["Encoded", "TextEncoder"]
