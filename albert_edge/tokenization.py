"""Tokenizers, built and converted with the `tokenizers` library so the runtime only ever reads `tokenizer.json`.

- `build_chinese_wordpiece`: a BERT-Chinese style WordPiece vocabulary learnt from texts. `cjk="char"` splits every
  CJK character (the bert-base-chinese convention); `cjk="words"` lets WordPiece learn multi-character pieces
  (greedy longest match at run time), which carries more than single characters.
- `load_tokenizer`: any HF tokenizer folder (`tokenizer.json`, `spiece.model`, `vocab.txt`) as a `Tokenizer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CJK_MODES = ("char", "words")


def _bert_post_processor(vocab: dict[str, int]) -> processors.TemplateProcessing:
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    return processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                         special_tokens=[("[CLS]", cls), ("[SEP]", sep)])


def build_chinese_wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                            cjk: str = "char") -> Tokenizer:
    """Learn a WordPiece vocabulary with BERT-Chinese conventions (lowercase, CJK handling, `##` pieces)."""
    if cjk not in CJK_MODES:
        raise ValueError(f"unknown cjk mode {cjk!r}; expected one of {', '.join(CJK_MODES)}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=10_000))
    # handle_chinese_chars puts spaces around every CJK character, so "char" mode sees one char per word.
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=(cjk == "char"),
                                                      strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##",
                                        show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.model = _canonical_wordpiece(tokenizer.get_vocab(), len(SPECIAL_TOKENS))
    tokenizer.post_processor = _bert_post_processor(tokenizer.get_vocab())
    return tokenizer


def _canonical_wordpiece(vocab: dict[str, int], specials: int) -> models.WordPiece:
    """The same vocabulary with ids in a fixed order: special tokens first (as trained), then sorted pieces.

    The trainer assigns ids in hash-map order, different on every run (huggingface/tokenizers#1794, fix not
    released): measured ~9 000 of 16 000 ids moved between two builds from the same texts, so seeded training
    was not reproducible. WordPiece encodes by greedy longest match over the vocabulary alone, so renumbering
    loses nothing."""
    ordered = sorted(vocab, key=vocab.get)[:specials] + sorted(t for t in vocab if vocab[t] >= specials)
    return models.WordPiece({token: i for i, token in enumerate(ordered)}, unk_token="[UNK]",
                            continuing_subword_prefix="##", max_input_chars_per_word=10_000)


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """Load `tokenizer.json`, or convert `spiece.model` / `vocab.txt` once with transformers' fast tokenizers."""
    folder = Path(folder)
    if (folder / "tokenizer.json").is_file():
        try:
            return Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for malformed files
            raise ValueError(f"{folder / 'tokenizer.json'} is not a valid tokenizers file ({exc})") from exc
    if (folder / "spiece.model").is_file():
        from transformers import AlbertTokenizerFast  # conversion only; the runtime never needs this

        return AlbertTokenizerFast(vocab_file=str(folder / "spiece.model")).backend_tokenizer
    if (folder / "vocab.txt").is_file():
        from transformers import BertTokenizerFast

        return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True,
                                 tokenize_chinese_chars=True).backend_tokenizer
    raise FileNotFoundError(f"no tokenizer.json, spiece.model or vocab.txt in {folder}; "
                            "add the tokenizer files of the checkpoint")


def save_tokenizer(tokenizer: Tokenizer, folder: str | Path) -> Path:
    path = Path(folder) / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the runtime pads per bucket itself; a stored padding setting would fight it
    tokenizer.save(str(path))
    return path


def write_vocab_txt(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """vocab.txt in id order, for tools that want BERT's classic vocabulary file."""
    vocab = tokenizer.get_vocab()
    path = Path(folder) / "vocab.txt"
    path.write_text("".join(f"{tok}\n" for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])), encoding="utf-8")
    return path
