"""The albert-base-v2 shape the experiments measure, with a real-sized vocabulary: bench's own builders (the tests
keep theirs; bench never imports tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

# albert-base-v2's shape, less its vocabulary: what "albert-base" means in every bench and test.
ALBERT_BASE_SHAPE = dict(
    embedding_size=128,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    hidden_act="gelu_new",
)


def albert_base_with_vocabulary(folder: Path) -> Path:
    """albert-base-v2's shape (random weights, from transformers) with a 30 000-piece WordPiece vocabulary learnt
    from the reviews and the news text, as a real Chinese checkpoint would have."""
    import torch
    import transformers

    from albert_edge.data import load_news_texts, load_reviews
    from albert_edge.tokenization import build_chinese_wordpiece, save_tokenizer

    texts = load_reviews().train.texts + load_news_texts()
    tokenizer = build_chinese_wordpiece(texts, vocab_size=30000, min_frequency=1, cjk="words")
    config = transformers.AlbertConfig(vocab_size=tokenizer.get_vocab_size(), **ALBERT_BASE_SHAPE)
    torch.manual_seed(0)
    transformers.AlbertForSequenceClassification(config).save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def vocabulary_texts(folder: Path, count: int, seed: int, pieces: int = 40) -> list[str]:
    """Texts of random vocabulary pieces: 1 000 of them reach most rows of a 30 000-row embedding table."""
    vocab = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    words = [t.removeprefix("##") for t in vocab if not t.startswith("[")]
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(pieces)) for _ in range(count)]
