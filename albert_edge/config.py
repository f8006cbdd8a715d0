"""AlbertConfig: the single source of truth for model shape, read from and written to HF `config.json`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIVATIONS = ("gelu", "gelu_new", "relu")
# transformers' names; each has its own head at run time (softmax, sigmoid per label, the raw value).
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


@dataclass
class AlbertConfig:
    # Defaults are Hugging Face's AlbertConfig defaults, so a sparse config.json means the same thing here.
    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    inner_group_num: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    num_labels: int = 2
    id2label: dict[int, str] = field(default_factory=dict)
    label2id: dict[str, int] = field(default_factory=dict)
    problem_type: str | None = None  # None: regression for one label, else single-label (transformers' rule)
    # Keys of config.json we do not model (architectures, torch_dtype, ...): kept so a round trip loses nothing.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.id2label:
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.num_labels = len(self.id2label)
        if sorted(self.id2label) != list(range(self.num_labels)):
            raise ValueError(f"id2label keys must be 0..{self.num_labels - 1}, got {sorted(self.id2label)}")
        self.label2id = {v: k for k, v in self.id2label.items()}
        self._validate()

    def _validate(self) -> None:
        for name in (
            "vocab_size",
            "embedding_size",
            "hidden_size",
            "num_hidden_layers",
            "num_hidden_groups",
            "inner_group_num",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                f"{self.num_attention_heads}; pick a head count that divides it"
            )
        if self.num_hidden_layers % self.num_hidden_groups:
            raise ValueError(
                f"num_hidden_groups {self.num_hidden_groups} does not divide num_hidden_layers "
                f"{self.num_hidden_layers}; use a divisor of the layer count"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"unknown hidden_act {self.hidden_act!r}; expected one of {', '.join(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"unknown problem_type {self.problem_type!r}; expected one of {', '.join(PROBLEM_TYPES)}")
        if self.problem_type == "regression" and self.num_labels != 1:
            raise ValueError(
                f"a regression head has one output, but id2label has {self.num_labels}; "
                "set num_labels to 1 or choose another problem_type"
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")

    @property
    def resolved_problem_type(self) -> str:
        """The loss transformers' AlbertForSequenceClassification trains this head with."""
        if self.problem_type is not None:
            return self.problem_type
        return "regression" if self.num_labels == 1 else "single_label_classification"

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        data["id2label"] = {str(k): v for k, v in self.id2label.items()}
        data.pop("num_labels")  # HF derives it from id2label
        out = {**self.extra, **data, "model_type": "albert"}
        out.setdefault("architectures", ["AlbertForSequenceClassification"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlbertConfig:
        model_type = data.get("model_type", "albert")
        if model_type != "albert":
            raise ValueError(f"config.json has model_type {model_type!r}; albert-edge only handles 'albert' models")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                f"position_embedding_type {data['position_embedding_type']!r} is not supported; "
                "albert-edge implements ALBERT's 'absolute' position embeddings only"
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "model_type"}
        if "num_labels" in known and "id2label" in known and len(known["id2label"]) != known["num_labels"]:
            raise ValueError(
                f"config.json: num_labels {known['num_labels']} disagrees with id2label "
                f"({len(known['id2label'])} entries); fix one of them"
            )
        if "id2label" not in known and "num_labels" in known:
            known["id2label"] = {i: f"LABEL_{i}" for i in range(known["num_labels"])}
        return cls(**known, extra=extra)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> AlbertConfig:
        path = Path(directory) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; a checkpoint folder needs a Hugging Face config.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); re-save the checkpoint") from exc
        return cls.from_dict(data)
