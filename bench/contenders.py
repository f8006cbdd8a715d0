"""Build the same weights three ways: our bundle, optimum's best recipe (O1 -> arm64 dynamic int8), and PyTorch."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from .shapes import ALBERT_BASE_SHAPE

# Names used as keys in results.json and as column titles in the report.
OURS, OURS4, BEST, DEFAULT, TORCH = "ours int8", "ours int4", "optimum O1 int8", "optimum default int8", "pytorch fp32"
CONTENDERS = (OURS, OURS4, BEST, DEFAULT, TORCH)
FLOOR = "INT8 GEMM floor"  # not a contender: the shape's weight GEMMs alone (bench.gemm_floor), timed beside them


def optimum_o1_int8(checkpoint: Path, work: Path) -> Path:
    """optimum-cli export -> ORTOptimizer O1 -> int8 with AutoQuantizationConfig.arm64's settings.

    optimum's ORTQuantizer fails on the O1 graph here ("Unable to find data type ... ffn/MatMul_output_0": a fused
    com.microsoft op defeats shape inference) and offers no extra_options hook, so its arm64 preset's arguments are
    passed to onnxruntime's quantize_dynamic directly with the one missing option, DefaultTensorType=FLOAT.
    """
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTOptimizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig, OptimizationConfig

    model = ORTModelForSequenceClassification.from_pretrained(checkpoint, export=True)
    ORTOptimizer.from_pretrained(model).optimize(
        save_dir=work / "o1", optimization_config=OptimizationConfig(optimization_level=1)
    )
    preset = AutoQuantizationConfig.arm64(is_static=False, per_channel=False)
    out = work / "optimum_o1_int8.onnx"
    quantize_dynamic(
        work / "o1" / "model_optimized.onnx",
        out,
        op_types_to_quantize=[getattr(op, "value", op) for op in preset.operators_to_quantize],
        per_channel=preset.per_channel,
        reduce_range=preset.reduce_range,
        weight_type=QuantType.QUInt8 if preset.weights_dtype.name == "QUInt8" else QuantType.QInt8,
        extra_options={
            "WeightSymmetric": preset.weights_symmetric,
            "ActivationSymmetric": preset.activations_symmetric,
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
    shutil.rmtree(work / "o1", ignore_errors=True)
    return out


def albert_base_checkpoint(folder: Path) -> Path:
    """albert-base-v2 shape with random weights, made offline by transformers, plus a small tokenizer."""
    import torch
    import transformers

    from albert_edge.tokenization import build_chinese_wordpiece, save_tokenizer

    config = transformers.AlbertConfig(vocab_size=30000, **ALBERT_BASE_SHAPE)
    torch.manual_seed(0)
    transformers.AlbertForSequenceClassification(config).save_pretrained(folder)
    save_tokenizer(build_chinese_wordpiece(["这个产品很好", "质量太差了"] * 5, vocab_size=100, min_frequency=1), folder)
    return folder


def optimum_default_int8(checkpoint: Path, work: Path) -> Path:
    """What the optimum docs show first: `optimum-cli export onnx` then ORTQuantizer with the arm64 preset."""
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    main_export(str(checkpoint), output=work / "optimum_export", task="text-classification")
    quantizer = ORTQuantizer.from_pretrained(work / "optimum_export")
    quantizer.quantize(
        save_dir=work / "optimum_default",
        quantization_config=AutoQuantizationConfig.arm64(is_static=False, per_channel=False),
    )
    out = work / "optimum_default_int8.onnx"
    shutil.move(work / "optimum_default" / "model_quantized.onnx", out)
    shutil.rmtree(work / "optimum_export", ignore_errors=True)
    shutil.rmtree(work / "optimum_default", ignore_errors=True)
    return out


def hf_folder(checkpoint: Path, onnx_file: Path | None, folder: Path) -> Path:
    """A folder transformers/optimum pipelines load offline: config, fast tokenizer, and the ONNX file if any."""
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        if (checkpoint / name).exists():
            shutil.copyfile(checkpoint / name, folder / name)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(checkpoint / "tokenizer.json"),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(folder)
    if onnx_file is not None:
        shutil.copyfile(onnx_file, folder / "model.onnx")
    return folder


def int8_coverage(path: Path) -> float:
    """Share of the file's weight parameters stored as 8-bit integers (the rest are fp32: biases, norms, ...); a
    4-bit file's packed weights count here too (two per byte, counted as stored)."""
    model = onnx.load(str(path))
    int8 = total = 0
    for tensor in model.graph.initializer:
        count = 1
        for d in tensor.dims:
            count *= d
        total += count
        if tensor.data_type in (
            onnx.TensorProto.INT8,
            onnx.TensorProto.UINT8,
            onnx.TensorProto.INT4,
            onnx.TensorProto.UINT4,
        ):
            int8 += count
    return int8 / total if total else 0.0
