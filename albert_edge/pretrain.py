"""ALBERT pretraining on unlabelled text: masked LM + sentence-order prediction, bounded by wall-clock minutes."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, pad_batch
from .model import AlbertForPreTraining


def sop_example(ids: list[int], rng: random.Random) -> tuple[list[int], list[int], int]:
    """Split a text's content at a random point into A and B; half the time swap them (label 1)."""
    cut = rng.randint(1, len(ids) - 1)
    a, b = ids[:cut], ids[cut:]
    return (b, a, 1) if rng.random() < 0.5 else (a, b, 0)


def mask_tokens(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15 % of real tokens are targets; of those 80 % [MASK], 10 % random, 10 % kept."""
    labels = ids.clone()
    chosen = (torch.rand(ids.shape, generator=rng) < 0.15) & ~special
    labels[~chosen] = -100
    masked = ids.clone()
    roll = torch.rand(ids.shape, generator=rng)
    masked[chosen & (roll < 0.8)] = mask_id
    random_ids = torch.randint(vocab_size, ids.shape, generator=rng)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = random_ids[swap]
    return masked, labels


def build_pairs(encoder: TextEncoder, texts: list[str], rng: random.Random) -> list[tuple[list[int], list[int], int]]:
    cls, sep = encoder.prefix, encoder.suffix
    pairs = []
    for enc in encoder.encode_batch([t for t in texts if len(t) >= 4]):
        content = enc.input_ids[len(cls):len(enc.input_ids) - len(sep)]
        if len(content) < 2:
            continue
        a, b, label = sop_example(content, rng)
        pairs.append((cls + a + sep + b + sep, [0] * (len(cls) + len(a) + len(sep)) + [1] * (len(b) + len(sep)),
                      label))
    return pairs


def pretrain(model: AlbertForPreTraining, encoder: TextEncoder, texts: list[str], minutes: float, seed: int,
             out: Path, batch_size: int = 64, lr: float = 1e-3) -> None:
    """Train for `minutes` of wall clock (cosine-free: linear decay over the estimated steps)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    tok = encoder.tokenizer
    mask_id, pad_id, vocab = tok.token_to_id("[MASK]"), tok.token_to_id("[PAD]"), tok.get_vocab_size()
    special_ids = torch.tensor(sorted(set(encoder.prefix + encoder.suffix + [pad_id])))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    deadline = time.perf_counter() + minutes * 60
    log, step = [], 0
    bar = tqdm(desc="pretrain (MLM+SOP)", unit="step", mininterval=5.0)
    model.train()
    while time.perf_counter() < deadline:
        pairs = build_pairs(encoder, texts, rng)  # new SOP cuts every pass
        for batch in bucketed_batches([len(p[0]) for p in pairs], batch_size, rng):
            if time.perf_counter() >= deadline:
                break
            feeds = pad_batch([pairs[i][0] for i in batch], [pairs[i][1] for i in batch], pad_id)
            special = torch.isin(feeds["input_ids"], special_ids)
            feeds["input_ids"], mlm_labels = mask_tokens(feeds["input_ids"], special, mask_id, vocab, gen)
            sop_labels = torch.tensor([pairs[i][2] for i in batch])
            left = max(0.0, (deadline - time.perf_counter()) / (minutes * 60))
            for group in optimizer.param_groups:  # linear decay by remaining time, short warmup
                group["lr"] = lr * min(1.0, (step + 1) / 500) * max(0.05, left)
            loss = model(**feeds, mlm_labels=mlm_labels, sop_labels=sop_labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % 200 == 0:
                log.append({"step": step, "loss": loss.item()})
                (out / "pretrain.json").write_text(json.dumps(log) + "\n")
    bar.close()
