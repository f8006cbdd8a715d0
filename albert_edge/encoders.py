"""Where fine-tuning starts (`albert-edge train --init-from`): a folder written by `albert-edge pretrain`, or any
Hugging Face ALBERT folder (AlbertModel, AlbertForMaskedLM, AlbertForPreTraining or
AlbertForSequenceClassification weights) with its own tokenizer. Only the encoder is taken; the classification
head is new, sized to the data's labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from tokenizers import Tokenizer

from .checkpoint import read_state_dict
from .config import AlbertConfig
from .model import AlbertModel
from .recipe import PRETRAIN_STATE, ModelArgs, check_pretrained_shape

ENCODER_ARCHITECTURES = (
    "AlbertModel",
    "AlbertForMaskedLM",
    "AlbertForPreTraining",
    "AlbertForSequenceClassification",
)


@dataclasses.dataclass(frozen=True)
class PretrainedEncoder:
    config: AlbertConfig  # the encoder's shape and vocabulary; its head fields are replaced by the caller
    state: dict[str, torch.Tensor]  # AlbertModel keys (no "albert." prefix)
    tokenizer: Tokenizer


def _encoder_state(state: dict[str, torch.Tensor], folder: Path) -> dict[str, torch.Tensor]:
    """The AlbertModel part of a checkpoint, whatever head it was saved with."""
    prefixed = {k[len("albert.") :]: v for k, v in state.items() if k.startswith("albert.")}
    encoder = prefixed or {k: v for k, v in state.items() if k.startswith(("embeddings.", "encoder.", "pooler"))}
    if not encoder:
        raise ValueError(f"{folder} holds no ALBERT encoder weights (no 'albert.' or 'embeddings.' keys)")
    # Old checkpoints may carry buffers transformers once saved; they hold no learned values.
    return {k: v for k, v in encoder.items() if not k.endswith(("position_ids", "token_type_ids"))}


def load_encoder(folder: str | Path, args: ModelArgs) -> PretrainedEncoder:
    """The encoder of `folder`, checked: an ALBERT architecture, weights that fit its config, a tokenizer."""
    from .tokenization import load_tokenizer

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--init-from {folder} does not exist; give a checkpoint folder")
    config = AlbertConfig.load(folder)
    architectures = config.extra.get("architectures") or ["AlbertModel"]
    if not set(architectures) & set(ENCODER_ARCHITECTURES):
        raise ValueError(
            f"{folder} holds {', '.join(architectures)}; --init-from takes an ALBERT encoder "
            f"({', '.join(ENCODER_ARCHITECTURES)})"
        )
    if (folder / PRETRAIN_STATE).is_file():  # our pretraining: its shape must be the one asked for
        check_pretrained_shape(config, args, folder)
    if args.max_length > config.max_position_embeddings:
        raise ValueError(
            f"--max-length {args.max_length} exceeds {folder}'s max_position_embeddings "
            f"{config.max_position_embeddings}; choose --max-length {config.max_position_embeddings} or less"
        )
    state = _encoder_state(read_state_dict(folder), folder)
    reference = AlbertModel(config).state_dict()
    unknown = sorted(set(state) - set(reference))
    missing = sorted(set(reference) - set(state) - {k for k in reference if k.startswith("pooler")})
    wrong_shape = sorted(k for k in set(state) & set(reference) if state[k].shape != reference[k].shape)
    if unknown or missing or wrong_shape:
        raise ValueError(
            f"{folder}'s weights do not fit its config.json: missing {missing[:3]}, unexpected {unknown[:3]}, "
            f"mis-shaped {wrong_shape[:3]}; re-save the folder with save_pretrained"
        )
    return PretrainedEncoder(config, state, load_tokenizer(folder))


def start_from(model: torch.nn.Module, encoder: PretrainedEncoder) -> None:
    """Copy the encoder into `model.albert`. A masked-LM checkpoint has no pooler: it keeps its fresh init."""
    missing, _ = model.albert.load_state_dict(encoder.state, strict=False)
    if any(not k.startswith("pooler") for k in missing):
        raise ValueError(f"encoder weights missing for {missing[:3]}")


def classifier_config(encoder: PretrainedEncoder, labels: list[str], dropout: float) -> AlbertConfig:
    """The encoder's config with a new single-label head for `labels`."""
    extra = {k: v for k, v in encoder.config.extra.items() if k not in ("architectures", "finetuning_task")}
    return dataclasses.replace(
        encoder.config,
        id2label=dict(enumerate(labels)),
        label2id={},
        num_labels=len(labels),
        problem_type=None,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        classifier_dropout_prob=dropout,
        extra=extra,
    )
