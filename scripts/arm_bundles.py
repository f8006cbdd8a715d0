"""The extra bundles the emulated-ARM check compares besides the shipped default bundle (x86 side, needs the
project venv): the default model's optimised fp32 graph and its 4-bit bundle, and a small 2-layer, 4-label model
with random weights.

    .venv/bin/python scripts/arm_bundles.py OUT_DIR  -> OUT_DIR/{default-fp32,default-int4,small-4labels}
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def small_checkpoint(folder: Path) -> Path:
    """2 layers, 4 labels, the default model's vocabulary and tokenizer, random but decisive weights."""
    import torch

    from albert_edge import AlbertConfig, AlbertForSequenceClassification

    config = AlbertConfig(
        vocab_size=16000,
        embedding_size=64,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=512,
        id2label={0: "awful", 1: "poor", 2: "good", 3: "great"},
    )
    torch.manual_seed(4)
    model = AlbertForSequenceClassification(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(ROOT / "models" / "default" / name, folder / name)
    return folder


def main() -> None:
    from albert_edge_export.pipeline import ExportOptions, run_export

    out = Path(sys.argv[1])
    common = dict(max_length=128, truncation="head+tail")
    run_export(
        ExportOptions(
            checkpoint=ROOT / "models" / "default",
            out=out / "default-fp32",
            max_drop=0.5,
            verify_data="random",
            weights="fp32",
            **common,
        )
    )
    run_export(
        ExportOptions(
            checkpoint=ROOT / "models" / "default",
            out=out / "default-int4",
            max_drop=100.0,  # the ARM comparison is the check here; the shipped recipe's guard runs on reviews-dev
            verify_data="random",
            weights="int4",
            **common,
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = small_checkpoint(Path(tmp) / "small")
        # Random weights: the guard's accuracy and batch checks say nothing here, the ARM comparison does.
        run_export(
            ExportOptions(
                checkpoint=ckpt,
                out=out / "small-4labels",
                max_drop=100.0,
                verify_data="random",
                weights="int8",
                batch_tolerance=1.0,
                **common,
            )
        )


if __name__ == "__main__":
    main()
