"""Step 2: fold Identity/Transpose on weights (onnxruntime basic level), apply the transformer fusions that help
at batch 1 on CPU, keep residual + LayerNorm unfused, merge identical initializers so each shared ALBERT weight is
stored once, and write run-time reshape targets as constants."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

from .graph import constant_reshapes, dedupe_initializers, residual_adds_as_sum


def fold_constants(in_path: Path, out_path: Path) -> Path:
    """onnxruntime's basic level: constant folding, Identity elimination. Output uses standard ONNX ops only."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out_path)
    ort.InferenceSession(str(in_path), options, providers=["CPUExecutionProvider"])
    return out_path


def quiet_optimizer_logs() -> None:
    """onnxruntime's transformer optimizer logs every fusion at INFO on the root handler; those lines broke the
    export's progress line. Warnings and errors still show."""
    import logging

    for module in ("onnx_model", "onnx_model_bert", "fusion_base", "fusion_utils", "fusion_options", "optimizer"):
        for name in (module, f"onnxruntime.transformers.{module}"):  # imported under either name
            logging.getLogger(name).setLevel(logging.WARNING)


def fuse(in_path: Path, out_path: Path, num_heads: int, hidden_size: int, fuse_attention: bool) -> Path:
    """LayerNorm / Gelu fusions. Attention fusion stays off by default: it builds a private QKV weight per layer
    (11 copies for albert-base) and was not faster at one thread here. SkipLayerNormalization stays off: its CPU
    kernel (onnxruntime 1.32) takes 205 us on a 128 x 312 input where Sum + LayerNormalization take 32 us."""
    options = FusionOptions("bert")
    options.enable_attention = fuse_attention
    options.enable_skip_layer_norm = False
    options.enable_embed_layer_norm = False  # keeps the embedding Gather visible to the quantizer
    quiet_optimizer_logs()
    model = optimize_model(
        str(in_path),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        optimization_options=options,
        opt_level=0,
    )
    model.save_model_to_file(str(out_path))
    return out_path


def optimize(in_path: Path, out_path: Path, num_heads: int, hidden_size: int, fuse_attention: bool) -> int:
    """Returns the number of duplicated initializers merged away."""
    folded = out_path.with_suffix(".folded.tmp.onnx")
    try:
        fold_constants(in_path, folded)
        fuse(folded, out_path, num_heads, hidden_size, fuse_attention)
    finally:
        folded.unlink(missing_ok=True)
    model = onnx.load(str(out_path))
    residual_adds_as_sum(model)
    merged = dedupe_initializers(model)
    constant_reshapes(model)
    onnx.save(model, str(out_path))
    return merged


def optimize_for_device(in_path: Path, out_dir: Path, model_name: str, data_name: str) -> Path:
    """onnxruntime's EXTENDED level applied now, written as `model_name` + its weights in `data_name`, so a device
    loads the graph with optimisation off: no optimiser pass at load and its transient copies, and weights
    onnxruntime can map from the file. EXTENDED's fusions are CPU contrib ops of every platform (x86, ARM); the
    hardware-specific layout passes of the ALL level stay out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out_dir / model_name)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", data_name)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(in_path), options, providers=["CPUExecutionProvider"])
    return out_dir / model_name
