import random
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from albert_edge.tokenization import (
    build_chinese_wordpiece,
    load_tokenizer,
    save_tokenizer,
    with_character_fallback,
    write_vocab_txt,
)
from albert_edge_runtime.encoding import TextEncoder

CORPUS = [
    "这个产品很好，质量不错",
    "质量太差了，再也不买了",
    "服务态度非常好 Very GOOD service!",
    "物流很快，包装完好 👍",
    "价格 299 元，性价比高",
    "房间干净，早餐一般般",
    "iPhone 的屏幕很清晰",
] * 20


def mixed_strings(n: int = 200) -> list[str]:
    rng = random.Random(0)
    pieces = [
        "好",
        "差",
        "产品",
        "质量",
        "Hello",
        "WORLD",
        "café",
        "123",
        "4.5",
        "😀",
        "👍🏽",
        "，",
        "!",
        "  ",
        "\t",
        "中文English混合",
        "ｆｕｌｌｗｉｄｔｈ",
        "ÀÉÎ",
        "日本語",
        "한국어",
        "?!",
        "\u3000",
        "x" * 120,
    ]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def bert_pre_tokenizer_only(tokenizer):
    """The tokenizer without `with_character_fallback`'s Splits: BERT's own conventions, to compare with BERT."""
    from tokenizers import pre_tokenizers

    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def test_char_wordpiece_matches_bert_tokenizer_fast(tmp_path):
    from transformers import BertTokenizerFast

    ours = build_chinese_wordpiece(CORPUS, vocab_size=300, min_frequency=1, cjk="char")
    write_vocab_txt(ours, tmp_path)
    reference = BertTokenizerFast(
        vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=True, tokenize_chinese_chars=True
    )
    save_tokenizer(bert_pre_tokenizer_only(ours), tmp_path)
    reloaded = load_tokenizer(tmp_path)
    texts = mixed_strings()
    assert [e.ids for e in reloaded.encode_batch(texts)] == reference(texts)["input_ids"]


def test_vocab_txt_folder_converts_to_the_same_ids(tmp_path):
    ours = build_chinese_wordpiece(CORPUS, vocab_size=300, min_frequency=1, cjk="char")
    write_vocab_txt(ours, tmp_path)
    converted = load_tokenizer(tmp_path)  # no tokenizer.json yet: built from vocab.txt, BERT's conventions
    texts = mixed_strings()
    assert [e.ids for e in converted.encode_batch(texts)] == [
        e.ids for e in bert_pre_tokenizer_only(ours).encode_batch(texts)
    ]


def test_words_mode_learns_multi_character_pieces():
    tok = build_chinese_wordpiece(CORPUS, vocab_size=400, min_frequency=1, cjk="words")
    assert any(len(t.lstrip("#")) > 1 and "\u4e00" <= t.lstrip("#")[0] <= "\u9fff" for t in tok.get_vocab())
    with pytest.raises(ValueError, match="unknown cjk mode 'bytes'; expected one of char, words"):
        build_chinese_wordpiece(CORPUS, vocab_size=100, cjk="bytes")


def test_sentencepiece_unigram_round_trips(tmp_path):
    import sentencepiece as spm
    from transformers import AlbertTokenizerFast

    (tmp_path / "corpus.txt").write_text(
        "\n".join(
            [
                "the quick brown fox jumps over the lazy dog",
                "ALBERT shares weights across layers",
                "a lite bert for self supervised learning",
            ]
            * 30
        )
    )
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "corpus.txt"),
        model_prefix=str(tmp_path / "spiece"),
        vocab_size=45,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    reference = AlbertTokenizerFast(vocab_file=str(tmp_path / "spiece.model"))
    texts = ["The quick fox shares layers", "lazy BERT!", "", "unseen wörds 123"]
    converted = load_tokenizer(tmp_path)
    save_tokenizer(converted, tmp_path / "out")
    reloaded = load_tokenizer(tmp_path / "out")
    assert [e.ids for e in reloaded.encode_batch(texts)] == reference(texts)["input_ids"]


def test_missing_tokenizer_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json, spiece.model or vocab.txt in"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="the tokenizer files in .* are not valid: transformers cannot load them"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize(
    "strategy, expected_content", [("head", list(range(10, 16))), ("head+tail", [10, 11, 12, 27, 28, 29])]
)
def test_truncation_strategies(strategy, expected_content):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, **{f"w{i}": i for i in range(10, 30)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    encoder = TextEncoder(tok, max_length=8, truncation=strategy)
    long, short = encoder.encode_batch([" ".join(f"w{i}" for i in range(10, 30)), "w10 w11"])
    assert long.input_ids == [1, *expected_content, 2] and long.truncated
    assert short.input_ids == [1, 10, 11, 2] and not short.truncated
    with pytest.raises(ValueError, match="unknown truncation 'middle'; expected one of head, head\\+tail"):
        TextEncoder(tok, max_length=8, truncation="middle")


@pytest.mark.parametrize("cjk", ["char", "words"])
def test_vocabulary_ids_are_the_same_on_every_build(cjk):
    from albert_edge.data import load_reviews
    from albert_edge.tokenization import SPECIAL_TOKENS

    texts = load_reviews().train.texts[:200]  # without renumbering, ~1 300 of ~2 800 ids moved between builds
    builds = [build_chinese_wordpiece(texts, vocab_size=600, cjk=cjk) for _ in range(4)]
    assert len({b.to_str() for b in builds}) == 1
    assert [builds[0].token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))


@pytest.fixture(scope="module")
def long_text_tokenizers(tmp_path_factory):
    """The default bundle's WordPiece (the built-in runtime tokenizer) and an English SentencePiece ALBERT's."""
    import transformers

    from albert_edge_runtime.classifier import default_bundle_path
    from albert_edge_runtime.encoding import load_tokenizer_json
    from tests.hf_folders import train_spiece

    folder = tmp_path_factory.mktemp("sp")
    spiece = transformers.AlbertTokenizerFast(vocab_file=str(train_spiece(folder))).backend_tokenizer
    wordpiece = load_tokenizer_json((default_bundle_path() / "tokenizer.json").read_text(encoding="utf-8"))
    return {"wordpiece": wordpiece, "spiece": spiece}


def uncut(encoder: TextEncoder, text: str) -> list[int]:
    """What the encoder must give: the WHOLE text tokenized, then cut."""
    content, _ = encoder._cut(encoder.tokenizer.encode(text, add_special_tokens=False).ids)
    return encoder.prefix + content + encoder.suffix


BLANKS = [" ", "\u3000", "\t", "\n", "\r\n", "\u00a0"]
WORDS = ["很好", "太差了，", "The phone is excellent.", "terrible", "质量", "x" * 40, "😀", "\x1c", "\u200b", "e\u0301"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(WORDS + BLANKS), st.integers(1, 150)).map(lambda t: t[0] * t[1]), max_size=14
    ),
    kind=st.sampled_from(["wordpiece", "spiece"]),
    truncation=st.sampled_from(["head", "head+tail"]),
    max_length=st.sampled_from([6, 9, 16]),
)
# Found by CI: one unbroken run from a cut to the text's end (shorter than MAX_UNBROKEN) was cut inside.
@example(pieces=["😀" * 67, "\u200b" * 150, "terrible" * 29], kind="spiece", truncation="head", max_length=9)
@example(pieces=["terrible" * 29, "\u200b" * 150, "😀" * 67], kind="spiece", truncation="head+tail", max_length=9)
def test_cutting_a_long_text_never_changes_the_kept_tokens(long_text_tokenizers, pieces, kind, truncation, max_length):
    import albert_edge_runtime.encoding as encoding

    encoder = TextEncoder(long_text_tokenizers[kind], max_length, truncation)
    # Runs without a break longer than MAX_UNBROKEN are the documented exception: none here is that long.
    assume(all(len(run) <= encoding.MAX_UNBROKEN for run in re.split(encoding._HARD_BREAK, "".join(pieces))))
    text = "".join(pieces)
    assert encoder.encode(text).input_ids == uncut(encoder, text)


@pytest.mark.parametrize(
    "kind, text",
    [
        ("spiece", "The phone is excellent" + " " * 3000 + "The phone is terrible. " * 40),
        ("wordpiece", "很好" + " " * 1500 + "太差了，" * 100 + " " * 1500 + "很好"),
        ("wordpiece", "很好" + "\u3000" * 3000 + "太差了，" * 100),
    ],
)
def test_runs_of_blanks_keep_the_tokens_the_whole_text_has(long_text_tokenizers, kind, text):
    encoder = TextEncoder(long_text_tokenizers[kind], 128, "head+tail")
    encoded = encoder.encode(text)
    assert encoded.input_ids == uncut(encoder, text) and encoded.truncated


@pytest.mark.parametrize("cjk", ["words", "char"])
def test_symbols_and_unknown_characters_never_sink_the_words_beside_them(tmp_path, cjk):
    texts = ["这个产品很好👍", "质量不错👍", "太差了😡", "很好", "质量太差了", "不错♥"] * 20
    tokenizer = build_chinese_wordpiece(texts, vocab_size=200, min_frequency=1, cjk=cjk)
    vocab = tokenizer.get_vocab()
    assert "👍" in vocab and "##👍" not in vocab  # learnt as a word of its own, never glued
    save_tokenizer(tokenizer, tmp_path)
    reference = load_tokenizer(tmp_path)  # transformers' own reading of the saved folder
    for text, unknown in [("质量不错👍", ""), ("质量不错🙂", "🙂"), ("质量不错䶮很好", "䶮"), ("很好♥♥", "")]:
        tokens = reference.encode(text, add_special_tokens=False).tokens  # a character no piece has is dropped
        assert "[UNK]" not in tokens and "".join(t.removeprefix("##") for t in tokens) == text.replace(unknown, ""), (
            tokens
        )
    assert reference.encode("很好♥", add_special_tokens=False).tokens[-1] == "♥"  # a known symbol is a word of its own


def test_the_fallback_keeps_every_known_text_as_it_was():
    from tokenizers import Tokenizer

    from albert_edge.data import load_reviews

    texts = load_reviews().test.texts
    plain = build_chinese_wordpiece(texts, vocab_size=3000, min_frequency=1, cjk="words")
    plain_json = plain.to_str()
    spec = __import__("json").loads(plain_json)
    spec["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    before = Tokenizer.from_str(__import__("json").dumps(spec))
    after = with_character_fallback(Tokenizer.from_str(plain_json))
    vocab = before.get_vocab()
    continuing = {t[2:] for t in vocab if t.startswith("##")}
    unk = vocab["[UNK]"]

    def plain(c: str) -> bool:  # split off by BertPreTokenizer anyway, or a non-symbol that can continue a word
        kind = unicodedata.category(c)
        return c.isspace() or kind.startswith("P") or (c in continuing and not kind.startswith("S"))

    known = [t for t in texts if all(map(plain, t)) and unk not in before.encode(t).ids]
    assert len(known) > 500
    assert [before.encode(t).ids for t in known] == [after.encode(t).ids for t in known]
    assert (
        after.encode("很好" * 3 + "😀").ids == after.encode("很好" * 3).ids and unk not in after.encode("很好" * 3).ids
    )
    assert before.encode("很好" * 3 + "😀").ids == [2, unk, 3]  # without the fallback: the whole run is lost


def test_the_encoder_finds_the_special_tokens_when_the_vocabulary_has_no_a():
    tokenizer = build_chinese_wordpiece(["这个产品很好", "质量太差了"] * 5, vocab_size=60, min_frequency=1)
    assert tokenizer.encode("a", add_special_tokens=False).ids == []  # dropped: no piece has it
    encoded = TextEncoder(tokenizer, 16).encode("很好")
    assert encoded.input_ids == tokenizer.encode("很好").ids and not encoded.truncated
