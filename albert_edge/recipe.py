"""What pretraining and fine-tuning share: the model's shape and text settings (ModelArgs -> AlbertConfig), the
optimizer, and the tokens no corruption may touch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from albert_edge_runtime.encoding import TextEncoder

from .config import AlbertConfig
from .data import LABELS

SHAPE = ("embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


@dataclass(kw_only=True)
class ModelArgs:
    """What pretraining and fine-tuning share: the vocabulary, the model's shape, text length, seeds, threads.

    The shape fields are AlbertConfig's (SHAPE, same names), with this recipe's small model as defaults where
    AlbertConfig keeps Hugging Face's albert-base ones; `build_config` copies them over by name.
    """

    max_length: int = 256
    truncation: str = "head+tail"
    seed: int = 13
    split_seed: int = 13
    vocab_size: int = 16000
    cjk: str = "words"
    embedding_size: int = 128
    hidden_size: int = 312
    num_hidden_layers: int = 4
    num_attention_heads: int = 12
    intermediate_size: int = 1248
    dropout: float = 0.1
    threads: int = 0  # 0: all cores


def build_config(args: ModelArgs, vocab_size: int, pad_id: int) -> AlbertConfig:
    """The model `args` describe; every other AlbertConfig field keeps its Hugging Face default."""
    return AlbertConfig(
        vocab_size=vocab_size,
        **{name: getattr(args, name) for name in SHAPE},
        hidden_act="gelu_new",
        hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.dropout,
        classifier_dropout_prob=args.dropout,
        max_position_embeddings=max(512, args.max_length),
        pad_token_id=pad_id,
        id2label=dict(LABELS),
    )


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # No decay on biases and LayerNorm weights (1-D tensors), as in BERT/ALBERT.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


def special_ids(encoder: TextEncoder, pad_id: int) -> torch.Tensor:
    """Ids no masking may touch: the encoder's [CLS]/[SEP] frame and padding."""
    return torch.tensor(sorted(set(encoder.prefix + encoder.suffix + [pad_id])))
