"""albert-edge: ALBERT sentiment models in PyTorch, Hugging Face compatible, exported for small devices."""

from .checkpoint import load_pretrained
from .config import AlbertConfig
from .model import AlbertForPreTraining, AlbertForSequenceClassification, AlbertModel

__all__ = ["AlbertConfig", "AlbertModel", "AlbertForSequenceClassification", "AlbertForPreTraining", "load_pretrained"]
