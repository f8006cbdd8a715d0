import json

import numpy as np
import pytest
import torch

from albert_edge.data import dedupe, load_news_texts, load_reviews, normalize
from albert_edge.evaluate import evaluate
from albert_edge.train import TrainArgs, train


@pytest.fixture(scope="module")
def reviews():
    return load_reviews()


def test_no_test_or_dev_text_occurs_in_train(reviews):
    train_keys = {normalize(t) for t in reviews.train.texts}
    assert not train_keys & {normalize(t) for t in reviews.test.texts}
    assert not train_keys & {normalize(t) for t in reviews.dev.texts}


def test_split_is_stratified_seeded_and_fingerprinted(reviews):
    counts = {k: v["count"] for k, v in reviews.manifest["splits"].items()}
    total = sum(counts.values())
    assert 17_000 < total < 17_500 and abs(counts["test"] / total - 0.1) < 0.002
    for split in (reviews.train, reviews.dev, reviews.test):
        assert abs(sum(split.labels) / len(split) - sum(reviews.train.labels) / len(reviews.train)) < 0.01
    again = load_reviews()
    assert again.manifest == reviews.manifest
    assert load_reviews(seed=14).manifest["splits"]["test"]["sha256"] != reviews.manifest["splits"]["test"]["sha256"]


def test_dedupe_drops_repeats_and_contradictions():
    items = dedupe(["好 ", "好", "棒！", "一般"], ["差", "一般", "棒"])
    assert sorted(items) == [("好 ", 1), ("差", 0)]


def test_news_corpus_tags_are_stripped():
    news = load_news_texts()
    assert len(news) > 10_000 and not any("/n" in t or "/v " in t for t in news[:2000])


def test_tiny_training_run_learns_and_checkpoint_round_trips(tmp_path):
    args = TrainArgs(
        out=str(tmp_path / "m"),
        epochs=3,
        batch_size=16,
        lr=2e-3,
        limit=300,
        vocab_size=800,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=64,
        patience=3,
        dropout=0.0,
        threads=1,
    )
    summary = train(args)
    losses = [e["train_loss"] for e in summary["epochs"]]
    assert losses[-1] < losses[0]
    saved = json.loads((tmp_path / "m" / "training.json").read_text())
    assert saved["args"]["max_length"] == 64
    result = evaluate(tmp_path / "m", split="dev")  # loads the checkpoint strictly, reads max_length back
    assert result["max_length"] == 64 and 0.0 <= result["accuracy"] <= 1.0 and result["log_loss"] > 0.0
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}


def test_log_loss_is_the_cross_entropy_of_the_softmax():
    from sklearn.metrics import log_loss as reference

    from albert_edge.evaluate import log_loss

    logits = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32) * 3
    labels = [int(i % 3 == 0) for i in range(50)]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert log_loss(labels, logits) == pytest.approx(reference(labels, probabilities), rel=1e-6)


def test_eval_rejects_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'validation'; expected train, dev or test"):
        evaluate(tmp_path, split="validation")


def test_clause_spans_are_proper_runs_of_clauses():
    import random

    from albert_edge.teacher import clause_spans

    text = "房间很干净，服务也好，就是早餐太差。下次还来！"
    spans = clause_spans(text, 3, random.Random(0))
    assert 1 <= len(spans) <= 3 and len(set(spans)) == len(spans)
    assert all(s in text and s != text for s in spans)
    assert clause_spans("没有标点的一句话", 3, random.Random(0)) == []


def test_augmented_spans_learn_from_the_teacher_only():
    from albert_edge.train import training_set

    reviews = load_reviews()
    texts, labels = reviews.train.texts[:200], reviews.train.labels[:200]
    data = training_set(texts, labels, TrainArgs(out="-", distill=0.8, augment=2))
    n = len(texts)
    assert len(data.texts) > n and data.soft.shape == (len(data.texts), 2)
    assert data.hard_weight[:n].allclose(torch.tensor(0.2)) and data.hard_weight[n:].eq(0).all()
    assert data.soft_weight[n:].eq(1).all() and data.soft.sum(1).allclose(torch.tensor(1.0))


def test_augment_without_teacher_is_refused():
    with pytest.raises(ValueError, match="--augment needs --distill"):
        TrainArgs(out="-", augment=2, distill=0.0)


def test_unknown_teacher_is_refused():
    with pytest.raises(ValueError, match="unknown teacher 'bert'; expected one of char, char"):
        TrainArgs(out="-", distill=0.8, teacher="bert")


@pytest.mark.parametrize("kind", ["char", "char+words"])
def test_each_teacher_gives_out_of_fold_probabilities(reviews, kind):
    import numpy as np

    from albert_edge.teacher import out_of_fold_probabilities, teacher_pipeline

    texts, labels = reviews.train.texts[:300], reviews.train.labels[:300]
    probs, _ = out_of_fold_probabilities(texts, labels, 3, 0, kind)
    assert probs.shape == (300, 2) and np.allclose(probs.sum(1), 1.0)
    # out of fold: a model fitted on all 300 is surer of its own training labels than the fold models are
    fitted = teacher_pipeline(kind).fit(texts, labels).predict_proba(texts)
    own = np.arange(300), np.asarray(labels)
    assert fitted[own].mean() > probs[own].mean()


def test_ema_weights_are_what_gets_scored_and_saved(tmp_path, reviews):
    from safetensors.torch import load_file

    from albert_edge.checkpoint import load_pretrained
    from albert_edge.evaluate import classification_metrics, pytorch_logits
    from albert_edge.tokenization import load_tokenizer
    from albert_edge_runtime.encoding import TextEncoder

    def run(name, ema):
        args = TrainArgs(
            out=str(tmp_path / name),
            epochs=2,
            batch_size=16,
            lr=2e-3,
            limit=200,
            vocab_size=600,
            embedding_size=16,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_length=32,
            dropout=0.0,
            threads=1,
            ema=ema,
        )
        return train(args)

    plain, averaged = run("plain", 0.0), run("ema", 0.9)
    weights = [load_file(tmp_path / name / "model.safetensors") for name in ("plain", "ema")]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    model = load_pretrained(tmp_path / "ema")
    encoder = TextEncoder(load_tokenizer(tmp_path / "ema"), 32, "head+tail")
    dev = reviews.dev.texts[:200], reviews.dev.labels[:200]
    accuracy = classification_metrics(dev[1], pytorch_logits(model, encoder, dev[0]).argmax(1))["accuracy"]
    assert accuracy == averaged["best_dev_accuracy"] and plain["args"]["ema"] == 0.0


def test_ema_decay_is_checked():
    with pytest.raises(ValueError, match=r"--ema is a decay per step in \[0, 1\)"):
        TrainArgs(out="-", ema=1.5)


TINY = dict(
    vocab_size=600,
    embedding_size=16,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_length=32,
    threads=1,
)


def test_pretraining_continues_where_it_stopped_and_fine_tuning_starts_from_it(tmp_path):
    from safetensors.torch import load_file

    from albert_edge.pretrain import PretrainArgs, run_pretraining

    args = dict(out=str(tmp_path / "pt"), minutes=60.0, limit=200, batch_size=16, **TINY)
    first = run_pretraining(PretrainArgs(until_step=4, **args))
    tokenizer = (tmp_path / "pt" / "tokenizer.json").read_text()
    second = run_pretraining(PretrainArgs(until_step=8, **args))
    assert (first["step"], second["step"]) == (4, 8) and second["seconds"] > first["seconds"]
    assert (tmp_path / "pt" / "tokenizer.json").read_text() == tokenizer  # continued, not rebuilt
    assert sorted(p.name for p in (tmp_path / "pt" / ".checkpoint").iterdir()) == []  # all moved in
    pretrained = load_file(tmp_path / "pt" / "model.safetensors")
    # lr 0: fine-tuning leaves the encoder as it was loaded, so what gets saved is the pretrained encoder
    train(
        TrainArgs(
            out=str(tmp_path / "ft"), init_from=str(tmp_path / "pt"), epochs=1, lr=0.0, limit=100, dropout=0.0, **TINY
        )
    )
    tuned = load_file(tmp_path / "ft" / "model.safetensors")
    assert all(torch.equal(pretrained[k], tuned[k]) for k in pretrained if k.startswith("albert."))
    assert (tmp_path / "ft" / "tokenizer.json").read_text() == tokenizer


def test_pretraining_folder_errors(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="has files but no pretrain_state.pt; choose an empty or new folder"):
        run_pretraining(PretrainArgs(out=str(tmp_path), until_step=1, limit=50, **TINY))
    with pytest.raises(FileNotFoundError, match="config.json not found; a checkpoint folder needs a Hugging Face"):
        train(TrainArgs(out=str(tmp_path / "ft"), init_from=str(tmp_path), epochs=1, limit=50, **TINY))
    with pytest.raises(ValueError, match="--init-from and --pretrain-minutes both pretrain"):
        TrainArgs(out="-", init_from=str(tmp_path), pretrain_minutes=5)


def test_pretraining_stops_at_the_step_asked_across_calls(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining

    args = dict(out=str(tmp_path / "pt"), minutes=5.0, limit=50, batch_size=16, **TINY)
    assert run_pretraining(PretrainArgs(until_step=3, **args))["step"] == 3  # long before its 5 minutes
    assert run_pretraining(PretrainArgs(until_step=5, **args))["step"] == 5  # continued: 2 more, not 5
    assert run_pretraining(PretrainArgs(until_step=5, **args))["step"] == 5  # already there: no step taken
    assert torch.load(tmp_path / "pt" / "pretrain_state.pt", weights_only=True)["step"] == 5  # what resumes
    log_path = tmp_path / "pt" / "pretrain.json"
    log_path.write_text(json.dumps([{"step": 400, "loss": 9.9}]))  # logged by a run killed before its checkpoint
    assert run_pretraining(PretrainArgs(until_step=6, **args))["step"] == 6
    assert json.loads(log_path.read_text()) == []  # steps 6..400 are redone: their old losses must not stay
    with pytest.raises(ValueError, match="--until-step -1 is negative; give the step to stop at, or 0 for none"):
        PretrainArgs(until_step=-1, **args)
    wider = {**args, "hidden_size": 48}
    with pytest.raises(ValueError, match=r"was pretrained with hidden_size 32 \(asked 48\); pass the same shape flags"):
        run_pretraining(PretrainArgs(until_step=7, **wider))
    with pytest.raises(ValueError, match=r"was pretrained with hidden_size 32 \(asked 48\); pass the same shape flags"):
        train(
            TrainArgs(
                out=str(tmp_path / "ft"), init_from=args["out"], epochs=1, limit=50, **{**TINY, "hidden_size": 48}
            )
        )


def test_pretrain_minutes_moves_the_encoder_that_fine_tuning_starts_from(tmp_path):
    from safetensors.torch import load_file

    for name, minutes in (("plain", 0.0), ("pretrained", 60.0)):  # lr 0: what is saved is the encoder fine-tuning got
        train(
            TrainArgs(
                out=str(tmp_path / name),
                pretrain_minutes=minutes,
                pretrain_steps=3,
                epochs=1,
                lr=0.0,
                limit=50,
                dropout=0.0,
                **TINY,
            )
        )
    plain, pretrained = (load_file(tmp_path / n / "model.safetensors") for n in ("plain", "pretrained"))
    assert any(not torch.equal(plain[k], pretrained[k]) for k in plain if k.startswith("albert.encoder."))


def test_fine_tuning_refuses_a_pretraining_of_another_shape(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining

    run_pretraining(PretrainArgs(out=str(tmp_path / "pt"), until_step=2, limit=50, batch_size=16, **TINY))
    with pytest.raises(ValueError, match=r"pretrained with hidden_size 32 \(asked 48\); pass the same shape flags"):
        train(
            TrainArgs(
                out=str(tmp_path / "ft"),
                init_from=str(tmp_path / "pt"),
                epochs=1,
                limit=50,
                **{**TINY, "hidden_size": 48},
            )
        )


def test_token_dropout_masks_only_real_tokens_and_draws_anew_each_step():
    from albert_edge.tokenization import build_chinese_wordpiece
    from albert_edge.train import token_dropper
    from albert_edge_runtime.encoding import TextEncoder

    texts = ["这个产品非常好我很喜欢", "质量太差了不推荐购买", "物流很快包装完好"] * 30
    tokenizer = build_chinese_wordpiece(texts, vocab_size=200, cjk="char")
    encoder = TextEncoder(tokenizer, 32, "head+tail")
    pad, mask = tokenizer.token_to_id("[PAD]"), tokenizer.token_to_id("[MASK]")
    rows = [e.input_ids for e in encoder.encode_batch(texts[:3])]
    ids = torch.full((3, 16), pad)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
    special = torch.isin(ids, torch.tensor(sorted(set(encoder.prefix + encoder.suffix + [pad]))))
    drop = token_dropper(encoder, pad, 0.5, seed=0)
    first, second = drop(ids), drop(ids)
    assert torch.equal(first[special], ids[special]) and torch.equal(second[special], ids[special])
    changed = first != ids
    assert torch.all(first[changed] == mask) and 0.2 < changed[~special].float().mean() < 0.8
    assert not torch.equal(first, second)  # a new draw every step
    assert torch.equal(token_dropper(encoder, pad, 0.5, seed=0)(ids), first)  # seeded


def test_token_dropout_is_a_probability():
    with pytest.raises(ValueError, match=r"--token-dropout is a probability in \[0, 1\)"):
        TrainArgs(out="-", token_dropout=1.0)
