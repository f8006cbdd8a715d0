"""What export tells the device: the weight formats, and the typed report behind manifest.json's `metrics`,
`quantization` and `export` sections, filled step by step by the pipeline and turned into dicts in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .contract import INT4_ACCURACY_LEVEL, INT4_EMBEDDING_BLOCK_SIZE, INT4_OPSET, OPSET
from .coverage import Coverage
from .options import ExportOptions
from .reference import EndToEnd
from .verify import Verification


@dataclass(frozen=True)
class WeightFormat:
    """One `--weights` choice: everything the pipeline and the manifest need to know of it, looked up once."""

    name: str
    mode: str  # the manifest's quantization.mode
    opset: int  # of the final graph
    quantized: bool
    guard_ops: tuple[str, ...]  # ops whose weights the accuracy guard may keep one step wider
    wider: str  # what such a weight is kept at
    covered: bool  # the final graph must hold every large weight as INT8 once (the coverage check refuses)
    blocks: bool = False  # 4-bit blocks: block size, symmetry and accuracy level go in the manifest


FORMATS = {
    "int8": WeightFormat("int8", "dynamic-int8", OPSET, True, ("MatMul",), "fp32", True),
    "int4": WeightFormat(
        "int4",
        "block-int4 (MatMulNBits, GatherBlockQuantized)",
        INT4_OPSET,
        True,
        ("MatMul", "Gather"),
        "INT8",
        False,
        blocks=True,
    ),  # fmt: skip
    "fp32": WeightFormat("fp32", "none (fp32)", OPSET, False, (), "fp32", False),
}


def weight_format(name: str) -> WeightFormat:
    """The format `--weights NAME` asks for (contract.WEIGHTS lists the names)."""
    if name not in FORMATS:
        raise ValueError(f"unknown weights {name!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[name]


@dataclass
class ExportReport:
    """What the steps measured, in the order they measure it."""

    fmt: WeightFormat
    parameters: int = 0
    fp32_vs_pytorch_max_abs: float = 0.0  # export_fp32 and optimize against PyTorch
    merged_initializers: int = 0  # optimize: identical weights stored once
    verify: Verification | None = None  # quantize: fp32 vs quantized graph on the verify texts
    kept_wider: list[str] = field(default_factory=list)  # PyTorch names of weights the guard kept one step wider
    test: Verification | None = None  # the same on the built-in reviews' test split (reported, not guarded)
    coverage: Coverage = field(default_factory=Coverage)
    weight_precisions: dict[str, str] = field(default_factory=dict)
    model_bytes: int = 0
    nbits_matmuls: list[dict[str, int]] = field(default_factory=list)  # MatMulNBits by bits, K and block size
    end_to_end: EndToEnd | None = None  # the staged bundle through the runtime vs transformers
    end_to_end_data: str = ""
    exact_int8: dict[str, Any] | None = None  # the exact-INT8 graph against the bundle's graph (exact.compare_graphs)

    def metrics(self, options: ExportOptions) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verify": {"data": options.verify_data, **self.verify.to_dict()} if self.verify else {},
            "fp32_vs_pytorch_max_abs": self.fp32_vs_pytorch_max_abs,
            "parameters": self.parameters,
            "model_bytes": self.model_bytes,
            "bytes_per_parameter": round(self.model_bytes / self.parameters, 4) if self.parameters else None,
        }
        if self.test is not None:
            out["test"] = {"data": "reviews-test", **self.test.to_dict()}
        if self.end_to_end is not None:
            out["end_to_end"] = {"data": self.end_to_end_data, **self.end_to_end.to_dict()}
        if self.exact_int8 is not None:
            out["exact_int8_vs_graph"] = self.exact_int8
        return out

    def quantization(self, options: ExportOptions) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.fmt.mode,
            "per_channel": options.per_channel,
            "embeddings_int8": options.quantize_embeddings,
            "keep_fp32_patterns": options.keep_fp32,
            "kept_fp32_by_guard": [],
            "kept_int8_by_guard": [],
            f"kept_{self.fmt.wider.lower()}_by_guard": self.kept_wider,  # one of the two above
            "max_drop_points": options.max_drop,
            "duplicate_initializers_merged": self.merged_initializers,
            "weight_matmuls": self.coverage.weight_matmuls,
            "quantized_weight_matmuls": self.coverage.quantized_weight_matmuls,
        }
        if self.fmt.blocks:
            out |= {
                "block_size": options.int4_block_size,
                "embedding_block_size": INT4_EMBEDDING_BLOCK_SIZE,
                "symmetric": options.int4_symmetric,
                "accuracy_level": INT4_ACCURACY_LEVEL,
                "matmuls": self.nbits_matmuls,
            }
        return out | {"weights": self.weight_precisions}

    def sections(self, options: ExportOptions) -> dict[str, Any]:
        """manifest.json's metrics, quantization and export sections."""
        return {
            "metrics": self.metrics(options),
            "quantization": self.quantization(options),
            "export": {
                "command": options.command,
                "checkpoint": str(options.checkpoint),
                "fuse_attention": options.fuse_attention,
            },
        }
