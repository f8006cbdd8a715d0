"""Word-embedding initialisation from word2vec (gensim) trained on the unlabelled text, in our own vocabulary.

Why: MLM pretraining of ALBERT from scratch sits on its unigram plateau for thousands of steps on this machine
(docs/model-card.md), while skip-gram vectors over the same tokens take a minute and already place words that
occur in similar contexts near each other. gensim does the training; this module only maps its vectors onto
the tokenizer's ids and scales them to the model's initialisation range.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer


def token_sentences(tokenizer: Tokenizer, texts: list[str]) -> list[list[str]]:
    """Each text as the tokenizer's pieces (no [CLS]/[SEP]): the sentences word2vec learns from."""
    return [enc.tokens for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]


def word2vec_embeddings(
    tokenizer: Tokenizer, texts: list[str], dim: int, std: float, seed: int, epochs: int, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, dim) vectors for the tokenizer's ids, scaled so their std is `std`, and a (V,) mask of the ids
    word2vec saw (the others, specials and unseen pieces, keep the model's own random initialisation).

    One worker thread: gensim repeats a run only single-threaded (its docs: `workers=1` + a fixed seed).
    """
    from gensim.models import Word2Vec

    sentences = token_sentences(tokenizer, texts)
    if not any(sentences):
        raise ValueError("word2vec saw none of the vocabulary's tokens; pass non-empty unlabelled texts")
    w2v = Word2Vec(
        sentences, vector_size=dim, window=window, min_count=1, sg=1, negative=10, epochs=epochs, seed=seed, workers=1
    )
    vocab = tokenizer.get_vocab()
    vectors = torch.zeros(len(vocab), dim)
    seen = torch.zeros(len(vocab), dtype=torch.bool)
    for token, index in w2v.wv.key_to_index.items():
        vectors[vocab[token]] = torch.from_numpy(w2v.wv.vectors[index].copy())
        seen[vocab[token]] = True
    vectors[seen] *= std / vectors[seen].std()
    return vectors, seen
