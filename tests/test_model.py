import pytest
import torch

from albert_edge import AlbertConfig, AlbertForPreTraining, AlbertForSequenceClassification, load_pretrained
from bench.shapes import ALBERT_BASE_SHAPE
from hf_folders import TINY, hf_model, random_batch

PARITY_SHAPES = {
    "albert-base-v2 shape, small vocab": dict(ALBERT_BASE_SHAPE, vocab_size=500),
    "tiny chinese shape": dict(
        vocab_size=2000,
        embedding_size=128,
        hidden_size=312,
        num_hidden_layers=4,
        num_attention_heads=12,
        intermediate_size=1248,
    ),
    "two groups": dict(num_hidden_layers=4, num_hidden_groups=2),
    "inner group of two": dict(inner_group_num=2),
    "embedding == hidden": dict(embedding_size=32),
    "gelu": dict(hidden_act="gelu"),
    "relu": dict(hidden_act="relu"),
}


@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=list(PARITY_SHAPES))
def test_logits_match_transformers_both_ways(shape, tmp_path):
    reference = hf_model(**PARITY_SHAPES[shape])
    ids, mask, types = random_batch(reference.config.vocab_size)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits

    reference.save_pretrained(tmp_path / "hf")
    ours = load_pretrained(tmp_path / "hf")  # strict: raises on any key or shape difference
    with torch.no_grad():
        got = ours(ids, mask, types)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)

    import transformers

    ours.save_pretrained(tmp_path / "ours")
    back, info = transformers.AlbertForSequenceClassification.from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not any(info.values()), info
    with torch.no_grad():
        torch.testing.assert_close(
            back.eval()(input_ids=ids, attention_mask=mask, token_type_ids=types).logits, expected, atol=1e-5, rtol=0
        )


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_sharing_is_real_parameter_count_does_not_grow_with_layers():
    two = AlbertForSequenceClassification(AlbertConfig(**{**TINY, "num_hidden_layers": 2}))
    twelve = AlbertForSequenceClassification(AlbertConfig(**{**TINY, "num_hidden_layers": 12}))
    assert count(two) == count(twelve)
    grouped = AlbertForSequenceClassification(AlbertConfig(**{**TINY, "num_hidden_layers": 12, "num_hidden_groups": 3}))
    layer = grouped.albert.encoder.albert_layer_groups[0]
    assert count(grouped) == count(twelve) + 2 * count(layer)


def test_layers_reuse_group_modules_in_order():
    model = AlbertForSequenceClassification(AlbertConfig(**{**TINY, "num_hidden_layers": 6, "num_hidden_groups": 3}))
    used = []
    for i, group in enumerate(model.albert.encoder.albert_layer_groups):
        group.register_forward_hook(lambda *_, i=i: used.append(i))
    model(torch.randint(5, 100, (1, 4)))
    assert used == [0, 0, 1, 1, 2, 2]


def test_pretraining_loss_and_tied_decoder(tmp_path):
    model = AlbertForPreTraining(AlbertConfig(**TINY))
    emb = model.albert.embeddings.word_embeddings.weight
    assert model.predictions.decoder.weight.data_ptr() == emb.data_ptr()
    ids, mask, types = random_batch(TINY["vocab_size"])
    labels = torch.full_like(ids, -100)
    labels[0, 2] = 17
    loss = model(ids, mask, types, mlm_labels=labels, sop_labels=torch.tensor([0, 1, 0]))
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert emb.grad is not None and emb.grad[17].abs().sum() > 0  # MLM gradient reaches the embedding

    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path, head="pretraining")
    assert loaded.predictions.decoder.weight.data_ptr() == loaded.albert.embeddings.word_embeddings.weight.data_ptr()
    torch.testing.assert_close(loaded.albert.embeddings.word_embeddings.weight, emb)


def test_hf_pretraining_checkpoint_loads_and_gives_the_same_loss(tmp_path):
    import transformers

    config = transformers.AlbertConfig(**TINY)
    torch.manual_seed(0)
    reference = transformers.AlbertForPreTraining(config).eval()
    reference.save_pretrained(tmp_path)
    ours = load_pretrained(tmp_path, head="pretraining")
    ids, mask, types = random_batch(TINY["vocab_size"])
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[1, 4] = 11, 42
    sop = torch.tensor([0, 1, 1])
    with torch.no_grad():
        expected = reference(
            input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels, sentence_order_label=sop
        ).loss
        got = ours(ids, mask, types, mlm_labels=labels, sop_labels=sop)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
