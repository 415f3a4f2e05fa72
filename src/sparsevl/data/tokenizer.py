"""Text tokenizers: a BERT WordPiece vocabulary, from a model folder or built from the data (and
CLIP's byte-level BPE, `clip_tokenizer`).

A tokenizer is saved with every checkpoint as plain data (`tokenizer_state`) and rebuilt from it
(`tokenizer_from_state`), so a checkpoint alone tokenizes exactly as its run did.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
from transformers import BertTokenizer, CLIPTokenizer

from sparsevl.data.clip_tokenizer import clip_tokenizer_from_state, clip_tokenizer_state
from sparsevl.problems import MissingInputError

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


def read_vocab_file(path: str | Path) -> list[str]:
    """A BERT `vocab.txt`: one token per line, the line number is the id."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no vocabulary at {path}: a BERT-layout text model folder has a vocab.txt")
    return path.read_text(encoding="utf-8").splitlines()


def read_tokenizer_folder(folder: str | Path) -> BertTokenizer:
    """The BERT tokenizer a model folder was saved with (vocab.txt or tokenizer.json, as
    `save_pretrained` writes either), as a plain vocabulary: its added tokens (BLIP's [DEC] and
    [ENC]) keep their ids, so a checkpoint's tokenizer is the folder's."""
    folder = Path(folder)
    # from_pretrained gives an empty tokenizer, without an error, for a folder with neither file
    if not any((folder / name).is_file() for name in ("vocab.txt", "tokenizer.json")):
        raise MissingInputError(f"{folder}: no BERT tokenizer there (vocab.txt or tokenizer.json)")
    try:
        saved = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise MissingInputError(f"{folder}: the BERT tokenizer there cannot be read: {e}") from None
    ids = saved.get_vocab()
    vocab = sorted(ids, key=ids.get)
    if [ids[w] for w in vocab] != list(range(len(vocab))):
        raise MissingInputError(f"{folder}: the tokenizer's ids are not 0..{len(vocab) - 1} without gaps")
    return bert_tokenizer(vocab, bool(saved.do_lower_case))


def bert_tokenizer(vocab: list[str], lowercase: bool = True) -> BertTokenizer:
    return BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=lowercase)


def tokenizer_state(tokenizer: BertTokenizer | CLIPTokenizer) -> dict:
    if isinstance(tokenizer, CLIPTokenizer):
        return clip_tokenizer_state(tokenizer)
    vocab = tokenizer.get_vocab()
    return {"kind": "bert", "vocab": sorted(vocab, key=vocab.get), "lowercase": bool(tokenizer.do_lower_case)}


def tokenizer_from_state(state: dict) -> BertTokenizer | CLIPTokenizer:
    if state.get("kind") == "clip":
        return clip_tokenizer_from_state(state)
    if state.get("kind") != "bert":
        raise ValueError(f"unknown tokenizer kind {state.get('kind')!r} in the checkpoint")
    return bert_tokenizer(state["vocab"], state["lowercase"])
