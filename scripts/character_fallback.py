"""Give a checkpoint's WordPiece tokenizer the character fallback (`albert_edge.tokenization.with_character_fallback`)
in place: an emoji, symbol or unknown character glued to text becomes its own token instead of turning the whole
run into `[UNK]`. Texts whose every character can continue a word keep their ids, so a model trained before keeps
its answers on them; re-export the checkpoint afterwards.

    python scripts/character_fallback.py models/default models/encoder
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tokenizers import Tokenizer

from albert_edge.tokenization import with_character_fallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="checkpoint folders holding a WordPiece tokenizer.json")
    for folder in parser.parse_args().folders:
        path = folder / "tokenizer.json"
        tokenizer = Tokenizer.from_file(str(path))
        if type(tokenizer.model).__name__ != "WordPiece":
            raise SystemExit(f"{path} is not a WordPiece tokenizer; the fallback is for WordPiece vocabularies")
        with_character_fallback(tokenizer).save(str(path))
        print(f"{path}: character fallback added")


if __name__ == "__main__":
    main()
