"""Question tokenizers: a BERT WordPiece vocabulary, from a model folder or built from the data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
from transformers import BertTokenizer

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_word_vocab(texts, min_count: int = 1) -> list[str]:
    """Whole words seen at least `min_count` times, split and normalised exactly as BERT's
    tokenizer does (lower case, accents stripped, punctuation apart).

    A list of whole words is a valid WordPiece vocabulary, so the same BERT tokenizer reads it.
    """
    normalizer, splitter = BertNormalizer(lowercase=True), BertPreTokenizer()
    counts = Counter(w for t in texts for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(t)))
    words = sorted(w for w, n in counts.items() if n >= min_count)
    return SPECIAL_TOKENS + [w for w in words if w not in SPECIAL_TOKENS]


def write_vocab(words: list[str], path: str | Path) -> None:
    Path(path).write_text("\n".join(words) + "\n", encoding="utf-8")


def load_tokenizer(vocab_file: str | Path) -> BertTokenizer:
    if not Path(vocab_file).is_file():
        raise FileNotFoundError(f"no vocabulary at {vocab_file}")
    return BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
