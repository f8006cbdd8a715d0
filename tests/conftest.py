"""Shared helpers: tiny configs and HF reference models built offline, random weights."""

from __future__ import annotations

import pytest
import torch

TINY = dict(vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, hidden_act="gelu_new")


def hf_model(**overrides):
    """A transformers AlbertForSequenceClassification with random, non-trivial weights."""
    import transformers

    config = transformers.AlbertConfig(**{**TINY, **overrides})
    torch.manual_seed(0)
    model = transformers.AlbertForSequenceClassification(config).eval()
    with torch.no_grad():  # HF inits LayerNorm to 1/0 and biases to 0: perturb so parity checks every tensor
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def random_batch(vocab_size: int, batch: int = 3, length: int = 11, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padded rows
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    types = torch.zeros_like(ids)
    types[0, 5:] = 1
    return ids, mask, types


@pytest.fixture
def tiny_hf():
    return hf_model()


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(checkpoint folder, bundle folder) of a tiny model, exported once per test session."""
    from albert_edge_export.pipeline import run_export
    from bundles import export_options, labelled_file, tiny_checkpoint

    tmp = tmp_path_factory.mktemp("export")
    ckpt = tiny_checkpoint(tmp / "ckpt")
    data = labelled_file(tmp / "held_out.tsv", ckpt)
    return ckpt, run_export(export_options(ckpt, tmp / "bundle", verify_data=str(data), max_drop=100.0))
