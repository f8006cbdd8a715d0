"""What one export is asked to do: every option of `albert-edge export`, explicit, in one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .contract import BATCH_TOLERANCE, INT4_AUTO_BLOCK, INT4_SYMMETRIC


@dataclass
class ExportOptions:
    checkpoint: Path
    out: Path
    max_drop: float  # accuracy points the quantized model may lose against fp32 on the held-out data
    verify_data: str  # "reviews-dev", "probes", "random", a CSV/TSV/JSONL file, or a text file ("label<TAB>text")
    max_length: int
    truncation: str
    per_channel: bool
    quantize_embeddings: bool
    keep_fp32: list[str] = field(default_factory=list)  # node name patterns always kept fp32
    fallback_limit: int = 4  # at most this many shared weights kept one step wider (fp32, or INT8 for int4)
    fuse_attention: bool = False
    weights: str = "int8"  # one of WEIGHTS
    languages: list[str] = field(default_factory=list)  # what the model reads, e.g. ["zh"]; recorded only
    batch_tolerance: float = BATCH_TOLERANCE  # largest output change a batch may make to a text
    command: str = ""
    verify_columns: tuple[str, str] = ("text", "label")  # text and label columns of a CSV/TSV/JSONL verify file
    int4_block_size: int = INT4_AUTO_BLOCK  # MatMul weights per 4-bit scale along K; INT4_AUTO_BLOCK: by the widths
    int4_symmetric: bool = INT4_SYMMETRIC  # no zero points
    split_seed: int = 13  # the built-in reviews' split the checkpoint was trained on (reviews-dev, the test report)
