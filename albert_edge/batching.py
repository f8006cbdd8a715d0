"""Length-bucketed dynamic padding: most reviews are short, so batches of similar length waste little compute."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random | None, window: int = 50
) -> list[list[int]]:
    """Index batches of similar length. With `rng`: shuffled within windows of `window` batches, then batch order."""
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    chunk = batch_size * window
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def pad_batch(ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    T = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), T), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((len(ids), T), dtype=torch.long)
    attention_mask = torch.zeros((len(ids), T), dtype=torch.long)
    for row, (x, t) in enumerate(zip(ids, types)):
        input_ids[row, : len(x)] = torch.tensor(x)
        token_type_ids[row, : len(t)] = torch.tensor(t)
        attention_mask[row, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def iterate(
    batches: list[list[int]], ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad_id: int
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    for batch in batches:
        yield batch, pad_batch([ids[i] for i in batch], [types[i] for i in batch], pad_id)
