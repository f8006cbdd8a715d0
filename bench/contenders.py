"""Build the same weights three ways: our bundle, optimum's best recipe (O1 -> arm64 dynamic int8), and PyTorch."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic


def optimum_o1_int8(checkpoint: Path, work: Path) -> Path:
    """optimum-cli export -> ORTOptimizer O1 -> int8 with AutoQuantizationConfig.arm64's settings.

    optimum's ORTQuantizer fails on the O1 graph here ("Unable to find data type ... ffn/MatMul_output_0": a fused
    com.microsoft op defeats shape inference) and offers no extra_options hook, so its arm64 preset's arguments are
    passed to onnxruntime's quantize_dynamic directly with the one missing option, DefaultTensorType=FLOAT.
    """
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTOptimizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig, OptimizationConfig

    model = ORTModelForSequenceClassification.from_pretrained(checkpoint, export=True)
    ORTOptimizer.from_pretrained(model).optimize(save_dir=work / "o1",
                                                 optimization_config=OptimizationConfig(optimization_level=1))
    preset = AutoQuantizationConfig.arm64(is_static=False, per_channel=False)
    out = work / "optimum_o1_int8.onnx"
    quantize_dynamic(work / "o1" / "model_optimized.onnx", out,
                     op_types_to_quantize=[getattr(op, "value", op) for op in preset.operators_to_quantize],
                     per_channel=preset.per_channel, reduce_range=preset.reduce_range,
                     weight_type=QuantType.QUInt8 if preset.weights_dtype.name == "QUInt8" else QuantType.QInt8,
                     extra_options={"WeightSymmetric": preset.weights_symmetric,
                                    "ActivationSymmetric": preset.activations_symmetric,
                                    "DefaultTensorType": onnx.TensorProto.FLOAT})
    shutil.rmtree(work / "o1", ignore_errors=True)
    return out


def albert_base_checkpoint(folder: Path) -> Path:
    """albert-base-v2 shape with random weights, made offline by transformers, plus a small tokenizer."""
    import torch
    import transformers

    from albert_edge.tokenization import build_chinese_wordpiece, save_tokenizer

    config = transformers.AlbertConfig(vocab_size=30000, embedding_size=128, hidden_size=768, num_hidden_layers=12,
                                       num_attention_heads=12, intermediate_size=3072, hidden_act="gelu_new")
    torch.manual_seed(0)
    transformers.AlbertForSequenceClassification(config).save_pretrained(folder)
    save_tokenizer(build_chinese_wordpiece(["这个产品很好", "质量太差了"] * 5, vocab_size=100, min_frequency=1), folder)
    return folder
