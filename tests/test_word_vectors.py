import subprocess
import sys

import pytest
import torch

from albert_edge.tokenization import build_chinese_wordpiece
from albert_edge.train import TrainArgs, train
from albert_edge.word_vectors import word2vec_embeddings

TEXTS = ["这个产品非常好，我很喜欢", "质量太差了，不推荐购买", "物流很快，包装完好", "客服态度差，退货麻烦"] * 20

SCRIPT = """
import sys, torch
from albert_edge.tokenization import build_chinese_wordpiece
from albert_edge.word_vectors import word2vec_embeddings
texts = {texts!r}
tok = build_chinese_wordpiece(texts, vocab_size=200)
vectors, seen = word2vec_embeddings(tok, texts, dim=8, std=0.02, seed=3, epochs=2, window=3)
torch.save(vectors, sys.argv[1])
"""


def test_vectors_land_on_the_tokenizers_ids_at_the_models_scale():
    tok = build_chinese_wordpiece(TEXTS, vocab_size=200)
    vectors, seen = word2vec_embeddings(tok, TEXTS, dim=8, std=0.02, seed=3, epochs=2, window=3)
    vocab = tok.get_vocab()
    assert vectors.shape == (tok.get_vocab_size(), 8)
    assert not seen[vocab["[CLS]"]] and not seen[vocab["[PAD]"]] and seen.sum() > 10
    assert vectors[seen].std().item() == pytest.approx(0.02, rel=1e-4)
    assert torch.all(vectors[~seen] == 0)


def test_vectors_repeat_across_processes_whatever_the_hash_seed(tmp_path):
    files = []
    for hash_seed in ("1", "2"):
        files.append(tmp_path / f"v{hash_seed}.pt")
        subprocess.run(
            [sys.executable, "-c", SCRIPT.format(texts=TEXTS), str(files[-1])],
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
    assert torch.equal(torch.load(files[0]), torch.load(files[1]))


def test_no_text_is_a_clear_error():
    tok = build_chinese_wordpiece(TEXTS, vocab_size=200)
    with pytest.raises(ValueError, match="word2vec saw none of the vocabulary's tokens; pass non-empty unlabelled"):
        word2vec_embeddings(tok, [""], dim=8, std=0.02, seed=3, epochs=1, window=3)


def test_training_starts_from_the_word2vec_vectors(tmp_path):
    from safetensors.torch import load_file

    from albert_edge.tokenization import load_tokenizer

    tiny = dict(
        vocab_size=600,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=32,
        threads=1,
        seed=13,
        dropout=0.0,
        limit=100,
        epochs=1,
    )
    # lr 0: the saved embeddings are the starting ones
    train(TrainArgs(out=str(tmp_path / "w"), lr=0.0, word2vec=True, **tiny))
    train(TrainArgs(out=str(tmp_path / "r"), lr=0.0, **tiny))
    emb = [load_file(tmp_path / n / "model.safetensors")["albert.embeddings.word_embeddings.weight"] for n in "wr"]
    assert (tmp_path / "w" / "tokenizer.json").read_text() == (tmp_path / "r" / "tokenizer.json").read_text()
    from albert_edge.data import load_reviews, unlabelled_texts

    texts = unlabelled_texts(load_reviews().train.texts[:100], news=False)
    vectors, seen = word2vec_embeddings(
        load_tokenizer(tmp_path / "w"), texts, dim=16, std=0.02, seed=13, epochs=5, window=5
    )
    assert torch.allclose(emb[0][seen], vectors[seen]) and torch.equal(emb[0][~seen], emb[1][~seen])
    assert not torch.allclose(emb[0][seen], emb[1][seen])


def test_word2vec_is_for_models_trained_from_scratch(tmp_path):
    with pytest.raises(ValueError, match="--word2vec starts the embeddings of a model trained from scratch"):
        TrainArgs(out="-", word2vec=True, init_from=str(tmp_path))
