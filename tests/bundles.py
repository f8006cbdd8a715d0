"""Build a tiny trained-looking checkpoint and export it once per test session (fast: a few seconds)."""

from __future__ import annotations

from pathlib import Path

import torch

from albert_edge import AlbertConfig, AlbertForSequenceClassification
from albert_edge.tokenization import build_chinese_wordpiece, save_tokenizer

TEXTS = [
    "这个产品很好",
    "质量太差了",
    "服务态度非常好",
    "物流很快包装完好",
    "再也不买了",
    "房间干净早餐一般",
    "价格便宜性价比高",
    "客服态度恶劣",
    "屏幕清晰电池耐用",
    "一般般吧没有想象中好",
]


def tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    tokenizer = build_chinese_wordpiece(TEXTS * 5, vocab_size=200, min_frequency=1, cjk="char")
    config = AlbertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        embedding_size=16,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        id2label={0: "negative", 1: "positive"},
    )
    torch.manual_seed(seed)
    model = AlbertForSequenceClassification(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)  # larger weights than init: decisive logits, like a trained model
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def labelled_file(path: Path, model_dir: Path) -> Path:
    """Texts labelled with the fp32 model's own predictions (so fp32 accuracy is 100 %)."""
    from albert_edge import load_pretrained
    from albert_edge.evaluate import pytorch_logits
    from albert_edge.tokenization import load_tokenizer
    from albert_edge_runtime.encoding import TextEncoder

    model = load_pretrained(model_dir)
    texts = [a + b for a in TEXTS for b in TEXTS]
    preds = pytorch_logits(model, TextEncoder(load_tokenizer(model_dir), 64), texts).argmax(1)
    names = {0: "negative", 1: "positive"}
    path.write_text("".join(f"{names[int(p)]}\t{t}\n" for p, t in zip(preds, texts)), encoding="utf-8")
    return path


def export_options(ckpt: Path, out: Path, **overrides):
    from albert_edge_export.pipeline import ExportOptions

    # The tiny random model's decisive logits magnify INT8's per-batch activation scales in padded batches: tests
    # about other things allow any padding effect; tests of the end-to-end guard set their own.
    base = dict(
        checkpoint=ckpt,
        out=out,
        verify_data="random",
        max_length=64,
        truncation="head+tail",
        per_channel=True,
        batch_tolerance=1.0,
    )
    return ExportOptions(**{**base, **overrides})


def exact_int8_allowance_mib(bundle: Path) -> float:
    """What loading a bundle's exact-INT8 graph may add to the memory budget: its GEMM weights once more as uint8
    (onnxruntime folds them at load and keeps the result beside the prepacked copy) and half again for the folding
    step's intermediate. It is what a CPU without VNNI pays by default (`RuntimeOptions.exact_int8`)."""
    import onnx
    from onnx import numpy_helper

    from albert_edge_export.exact import INTEGER_GEMMS

    model = onnx.load(str(bundle / "model.onnx"))
    weights = {n.input[INTEGER_GEMMS[n.op_type][0]] for n in model.graph.node if n.op_type in INTEGER_GEMMS}
    nbytes = sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer if i.name in weights)
    return 1.5 * nbytes / 2**20
