"""What onnxruntime's attention levers do for our graphs (issue 35), each against the current export, interleaved:

- "qattention": attention written the classic way (QK^T / sqrt(d) + mask, as BERT exports), onnxruntime's
  transformer optimizer fusing it into `Attention` (`--fuse-attention`), dynamic INT8 turning that into
  `QAttention`. Our export writes torch's scaled_dot_product_attention, whose constant scales on Q and K match none
  of the optimizer's patterns, so without the rewrite nothing fuses;
- "int8 activations": dynamic INT8 on the activation x activation MatMuls too (QK^T, PV).

    .venv/bin/python -m bench.attention_fusion models/default /tmp/af [--runs 200]
    .venv/bin/python -m bench.attention_fusion albert-base /tmp/af-base --random-verify

Prints each variant's bytes, fused op counts and p50 latency over the current export's at 16 / 32 / 64 / 128 tokens.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch


def classic_attention(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """AlbertAttention.forward with the scores written out: the same function, the pattern the optimizer fuses."""
    B, T, H = x.shape

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, T, self.num_heads, H // self.num_heads).transpose(1, 2)

    q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
    scores = torch.matmul(q, k.transpose(-1, -2)) / (1.0 / self.scale) + mask
    y = torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(B, T, H)
    return self.LayerNorm(x + self.output_dropout(self.dense(y)))


@contextlib.contextmanager
def variant(name: str) -> Iterator[dict]:
    """Patches for one variant; yields the extra export options."""
    import albert_edge.model as model
    import albert_edge_export.quantize as quantize

    forward, quantize_dynamic = model.AlbertAttention.forward, quantize.quantize_dynamic

    def quantize_also(**kwargs):
        if name == "qattention":
            kwargs["op_types_to_quantize"] = [*kwargs["op_types_to_quantize"], "Attention"]
        if name == "int8 activations":
            kwargs["extra_options"] = {**kwargs["extra_options"], "MatMulConstBOnly": False}
        return quantize_dynamic(**kwargs)

    try:
        if name == "qattention":
            model.AlbertAttention.forward = classic_attention
        quantize.quantize_dynamic = quantize_also
        yield {"fuse_attention": name == "qattention"}
    finally:
        model.AlbertAttention.forward, quantize.quantize_dynamic = forward, quantize_dynamic


def export(checkpoint: Path, out: Path, name: str, random_verify: bool) -> Path:
    from albert_edge_export.pipeline import ExportOptions, run_export

    if not (out / "manifest.json").is_file():
        with variant(name) as extra:
            verify = {"verify_data": "random", "max_drop": 100.0} if random_verify else {}
            run_export(ExportOptions(checkpoint=checkpoint, out=out, max_length=128, **verify, **extra))
    return out


def main() -> None:
    import onnx

    from bench.contenders import albert_base_checkpoint
    from bench.latency import feeds_of_length, interleaved, ort_runner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder, or albert-base (random weights)")
    parser.add_argument("work", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--random-verify", action="store_true", help="random verify texts (no labelled data)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.checkpoint == "albert-base"
    checkpoint = albert_base_checkpoint(args.work / "ckpt") if base else Path(args.checkpoint)
    names = ("current", "qattention", "int8 activations")
    bundles = {n: export(checkpoint, args.work / n.replace(" ", "-"), n, args.random_verify or base) for n in names}
    report: dict = {}
    for n, b in bundles.items():
        graph = onnx.load(str(b / "model.onnx"), load_external_data=False).graph
        ops = collections.Counter(node.op_type for node in graph.node)
        manifest = json.loads((b / "manifest.json").read_text())
        counted = ("Attention", "QAttention", "MatMul", "Transpose", "Softmax")
        report[n] = {"model_bytes": manifest["metrics"]["model_bytes"], "test": manifest["metrics"].get("test"),
                     "ops": {k: ops[k] for k in counted}}  # fmt: skip
    runners = {n: ort_runner(str(b / "model.onnx"), 1) for n, b in bundles.items()}
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    for length in (16, 32, 64, 128):
        times = interleaved(runners, feeds_of_length(length, vocab), args.runs, warmup=10)
        for n in names:
            report[n].setdefault("p50_over_current", {})[str(length)] = times[n]["p50_ms"] / times["current"]["p50_ms"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
