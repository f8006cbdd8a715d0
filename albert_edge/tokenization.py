"""Tokenizers, built and converted with the `tokenizers` library so the runtime only ever reads `tokenizer.json`.

- `build_chinese_wordpiece`: a BERT-Chinese style WordPiece vocabulary learnt from texts. `cjk="char"` splits every
  CJK character (the bert-base-chinese convention); `cjk="words"` lets WordPiece learn multi-character pieces
  (greedy longest match at run time), which carries more than single characters.
- `reference_tokenizer`: transformers' tokenizer for any HF folder (`tokenizer.json`, `spiece.model`, `vocab.txt`,
  with `tokenizer_config.json`); `load_tokenizer`: its `tokenizers` pipeline, what a bundle carries.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CJK_MODES = ("char", "words")
CLASS_METACHARS = set("\\]^-[&")  # escaped inside a character class: the same meaning in Oniguruma and Python re


def _bert_post_processor(vocab: dict[str, int]) -> processors.TemplateProcessing:
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    return processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )


def build_chinese_wordpiece(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, cjk: str = "char"
) -> Tokenizer:
    """Learn a WordPiece vocabulary with BERT-Chinese conventions (lowercase, CJK handling, `##` pieces)."""
    if cjk not in CJK_MODES:
        raise ValueError(f"unknown cjk mode {cjk!r}; expected one of {', '.join(CJK_MODES)}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=10_000))
    # handle_chinese_chars puts spaces around every CJK character, so "char" mode sees one char per word.
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=(cjk == "char"), strip_accents=None, lowercase=True
    )
    # Symbols and emoji are words of their own while the vocabulary is learnt, so none is learnt glued to text.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Split(Regex(r"\p{S}"), behavior="isolated")]
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.model = _canonical_wordpiece(tokenizer.get_vocab(), len(SPECIAL_TOKENS))
    tokenizer.post_processor = _bert_post_processor(tokenizer.get_vocab())
    return with_character_fallback(tokenizer)


def with_character_fallback(tokenizer: Tokenizer) -> Tokenizer:
    """The same WordPiece, where no character sinks the run of text it is glued to (WordPiece gives up on a whole
    word, turning it into one `[UNK]`, when one position has no piece):

    - a character the vocabulary has no piece for at all (an emoji or rare character it never learnt) is dropped:
      as `[UNK]` it would say nothing but "something unknown here", and models learn it as noise;
    - a symbol, or a character that cannot continue a word (no `##c` piece), becomes a word of its own.

    Done inside `tokenizers` (Split pre-tokenizers after BertPreTokenizer, on classes of the characters the
    vocabulary knows), so transformers loads it as is and the reference sees the same tokens. Text with no
    symbol and no character lacking a `##` piece tokenizes exactly as before."""
    vocab = tokenizer.get_vocab()
    prefix = "##"
    specials = {t.content for t in tokenizer.get_added_tokens_decoder().values()}  # [CLS] is no piece of text
    in_some_piece = {c for t in vocab if t not in specials for c in t.removeprefix(prefix)}
    continuing = {t[len(prefix) :] for t in vocab if t.startswith(prefix) and len(t) == len(prefix) + 1}
    continuing = {c for c in continuing if not unicodedata.category(c).startswith("S")}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.BertPreTokenizer(),
            pre_tokenizers.Split(Regex(_not_in(in_some_piece)), behavior="removed"),
            pre_tokenizers.Split(Regex(_not_in(continuing)), behavior="isolated"),
        ]
    )
    return tokenizer


def _not_in(chars: set[str]) -> str:
    """A negated character class that Oniguruma and Python's re read alike; a space (which BertPreTokenizer has
    already taken) keeps it from being empty."""
    return "[^" + "".join("\\" + c if c in CLASS_METACHARS else c for c in sorted(chars | {" "})) + "]"


def _canonical_wordpiece(vocab: dict[str, int], specials: int) -> models.WordPiece:
    """The same vocabulary with ids in a fixed order: special tokens first (as trained), then sorted pieces.

    The trainer assigns ids in hash-map order, different on every run (huggingface/tokenizers#1794, fix not
    released): most ids moved between two builds from the same texts, so seeded training was not
    reproducible. WordPiece encodes by greedy longest match over the vocabulary alone, so renumbering
    loses nothing."""
    ordered = sorted(vocab, key=vocab.get)[:specials] + sorted(t for t in vocab if vocab[t] >= specials)
    return models.WordPiece(
        {token: i for i, token in enumerate(ordered)},
        unk_token="[UNK]",
        continuing_subword_prefix="##",
        max_input_chars_per_word=10_000,
    )


def reference_tokenizer(folder: str | Path):
    """transformers' own fast tokenizer for a checkpoint folder: the truth every export is checked against.

    Built as `AutoTokenizer` (and so `pipeline`) builds it when the folder names its tokenizer class, with the
    folder's `tokenizer_config.json` options (do_lower_case, keep_accents, strip_accents, ...). Folders that do not
    name one get the class their files imply: `tokenizer.json` as is, `spiece.model` ALBERT's, `vocab.txt` BERT's.
    """
    import transformers

    folder = Path(folder)
    files = {name: (folder / name).is_file() for name in ("tokenizer.json", "spiece.model", "vocab.txt")}
    if not any(files.values()):
        raise FileNotFoundError(
            f"no tokenizer.json, spiece.model or vocab.txt in {folder}; add the tokenizer files of the checkpoint"
        )
    named = _tokenizer_config(folder).get("tokenizer_class")
    try:
        if named:
            return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, use_fast=True)
        if files["tokenizer.json"]:
            return transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        cls = transformers.AlbertTokenizerFast if files["spiece.model"] else transformers.BertTokenizerFast
        return cls.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # transformers and tokenizers raise many types for unreadable files
        raise ValueError(
            f"the tokenizer files in {folder} are not valid: transformers cannot load them "
            f"({' '.join(str(exc).split())}); re-save them with the tokenizer's save_pretrained"
        ) from exc


def _tokenizer_config(folder: Path) -> dict:
    import json

    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or remove it") from exc
    return config if isinstance(config, dict) else {}


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """The `tokenizers` pipeline of `reference_tokenizer(folder)`, without padding or truncation state.

    A tokenizer.json saved after padded calls carries `padding`; left on, every batch would pad rows with real
    attention, so a text's result would depend on its neighbours. Padding and truncation belong to the caller."""
    return without_padding(Tokenizer.from_str(reference_tokenizer(folder).backend_tokenizer.to_str()))


def without_padding(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """tokenizer.json (no padding or truncation state) and a tokenizer_config.json naming the special tokens, so
    `AutoTokenizer` loads the folder as exactly this tokenizer."""
    import json

    path = Path(folder) / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    without_padding(tokenizer).save(str(path))
    vocab = tokenizer.get_vocab()
    specials = {
        f"{name}_token": token
        for name, token in zip(("pad", "unk", "cls", "sep", "mask"), SPECIAL_TOKENS)
        if token in vocab
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", **specials}
    (path.parent / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def write_vocab_txt(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """vocab.txt in id order, for tools that want BERT's classic vocabulary file."""
    vocab = tokenizer.get_vocab()
    path = Path(folder) / "vocab.txt"
    path.write_text("".join(f"{tok}\n" for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])), encoding="utf-8")
    return path
