"""The floor a masked-LM loss must go under to show the model uses context: the unigram entropy of the tokens.

    .venv/bin/python -m bench.unigram_entropy runs/pt

Tokenizes the pretraining text (train split + news corpus) with the folder's tokenizer.json and prints the
entropy of the token frequencies in nats. A masked LM that predicts every masked token from frequency alone
scores exactly this; `albert-edge pretrain`'s logged loss adds the sentence-order loss (~0.69 at chance).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from albert_edge.data import load_news_texts, load_reviews


def main() -> None:
    tokenizer = Tokenizer.from_file(str(Path(sys.argv[1]) / "tokenizer.json"))
    counts: collections.Counter[int] = collections.Counter()
    for encoding in tokenizer.encode_batch(list(load_reviews().train.texts) + load_news_texts()):
        counts.update(encoding.ids[1:-1])  # without [CLS] and [SEP], which are never masked
    p = np.array(list(counts.values()), dtype=np.float64) / sum(counts.values())
    print(f"{sum(counts.values())} tokens, unigram entropy {-(p * np.log(p)).sum():.2f} nats")


if __name__ == "__main__":
    main()
