"""Loading Hugging Face checkpoint folders: config.json + model.safetensors (or a weights-only pytorch_model.bin).
Saving is `AlbertPreTrainedModel.save_pretrained`."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .config import AlbertConfig
from .model import TIED_KEYS, AlbertForPreTraining, AlbertForSequenceClassification, AlbertPreTrainedModel
from .record import TrainingRecord

HEADS = {"classification": AlbertForSequenceClassification, "pretraining": AlbertForPreTraining}


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint folder. Never unpickles arbitrary objects."""
    safetensors_path = directory / "model.safetensors"
    bin_path = directory / "pytorch_model.bin"
    if safetensors_path.is_file():
        try:
            return load_file(str(safetensors_path))
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{safetensors_path} is not a readable safetensors file ({exc}); re-save it") from exc
    if bin_path.is_file():
        try:
            return torch.load(bin_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad or unsafe pickle
            raise ValueError(
                f"{bin_path} could not be read as weights only ({exc}); convert it to model.safetensors"
            ) from exc
    raise FileNotFoundError(
        f"no model.safetensors or pytorch_model.bin in {directory}; point at a Hugging Face checkpoint folder"
    )


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise one error that names every missing, unexpected and mis-shaped key."""
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    for key in sorted(set(expected) & set(state)):
        if expected[key].shape != state[key].shape:
            problems.append(
                f"shape mismatch for {key}: checkpoint {tuple(state[key].shape)}, "
                f"config expects {tuple(expected[key].shape)}"
            )
    if problems:
        raise ValueError("checkpoint does not match the model: " + "; ".join(problems))


def load_pretrained(path: str | Path, head: str = "classification") -> AlbertPreTrainedModel:
    """Load a checkpoint folder strictly into our model (`head`: classification or pretraining)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint folder {directory} does not exist")
    config = AlbertConfig.load(directory)
    model = HEADS[head](config)
    state = read_state_dict(directory)
    # Old checkpoints may carry buffers HF once saved; they hold no learned values.
    state = {k: v for k, v in state.items() if not k.endswith(("embeddings.position_ids", "embeddings.token_type_ids"))}
    for alias, source in TIED_KEYS.items():
        if alias in model.state_dict() and alias not in state and source in state:
            state[alias] = state[source]
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def text_settings(path: str | Path) -> tuple[int, str]:
    """(max_length, truncation) a checkpoint was trained with (training.json), else what its config allows and
    head truncation, as transformers truncates (`truncation=True`).

    Exporting or evaluating past the trained length would feed position embeddings the model never learnt.
    """
    directory = Path(path)
    record = TrainingRecord.load(directory)
    if record is not None and record.max_length is not None:
        return record.max_length, record.truncation
    return min(512, AlbertConfig.load(directory).max_position_embeddings), "head"
