"""CLIP's byte-level BPE tokenizer: from a model folder, or built from the training texts.

- `read_clip_tokenizer(path)`: Hugging Face's layout, `vocab.json` (token -> id) and
  `merges.txt` (an optional `#version` line, then one merge "a b" per line, best first), as in
  `openai/clip-vit-base-patch16`; or, beside OpenAI's `.pt` files, OpenAI's
  `bpe_simple_vocab_16e6.txt.gz` (the CLIP repository's `clip/`): a header line, then the merges;
  its vocabulary is the 256 byte symbols, the same ending a word, one token per merge (at most
  48,894, as OpenAI's tokenizer reads), then the start- and end-of-text tokens: 49,408 tokens.
- `build_clip_vocab(texts)`: for a text tower trained from scratch, the byte symbols plus one
  merge chain per word of the texts, so that words seen in training are single tokens (the BPE
  analogue of `tokenizer.build_word_vocab`); `write_clip_tokenizer` writes it in that layout.

A tokenizer is saved in checkpoints as its vocabulary and merges (`clip_tokenizer_state`).
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Iterable

from transformers import CLIPTokenizer

from sparsevl.files import write_atomic
from sparsevl.problems import BadInputError, MissingInputError

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
OPENAI_BPE = "bpe_simple_vocab_16e6.txt.gz"
OPENAI_MERGES = 49152 - 256 - 2  # the merges OpenAI's tokenizer takes from its file


@functools.lru_cache(maxsize=1)
def byte_symbols() -> tuple[str, ...]:
    """The printable character standing for each byte (GPT-2's byte-level mapping), in OpenAI's
    vocabulary order: the printable Latin-1 bytes stand for themselves and come first, the other
    bytes stand for chr(256), chr(257), ... and follow."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return tuple(map(chr, printable)) + tuple(chr(256 + i) for i in range(len(others)))


def clip_tokenizer(vocab: dict[str, int], merges: list[str]) -> CLIPTokenizer:
    return CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges])


def vocab_from_merges(merges: list[str]) -> dict[str, int]:
    """OpenAI's vocabulary for a list of merges: the byte symbols, the same ending a word
    (`</w>`), one token per merge, then the start- and end-of-text tokens (the highest ids)."""
    base = list(byte_symbols())
    tokens = base + [s + "</w>" for s in base] + ["".join(m.split(" ")) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


def read_clip_tokenizer(path: str | Path) -> CLIPTokenizer:
    """The tokenizer in `path`, a CLIP folder, or in the folder of a CLIP file (OpenAI's `.pt`)."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return _read_hf_files(folder)
    if (folder / OPENAI_BPE).is_file():
        merges = _read_openai_bpe(folder / OPENAI_BPE)
        return clip_tokenizer(vocab_from_merges(merges), merges)
    raise MissingInputError(f"no CLIP tokenizer in {folder}: a Hugging Face CLIP folder has vocab.json and "
                            f"merges.txt beside config.json; beside OpenAI's .pt file, put {OPENAI_BPE} "
                            "(from the CLIP repository's clip/ folder)")


def _read_openai_bpe(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise BadInputError(f"{path} cannot be read as OpenAI's gzipped BPE merges: {e}") from None
    merges = []
    for n, line in enumerate(lines[1:OPENAI_MERGES + 1], start=2):  # the first line is a header
        if not line:
            continue
        if len(line.split(" ")) != 2:
            raise BadInputError(f"{path} line {n}: expected one merge, two symbols separated by a space")
        merges.append(line)
    if not merges:
        raise BadInputError(f"{path} holds no merges after its header line")
    return merges


def _read_hf_files(folder: Path) -> CLIPTokenizer:
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    try:
        vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"{vocab_file} is not a JSON vocabulary (token -> id): {e}") from None
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise BadInputError(f"{vocab_file} must map each token to an integer id")
    merges = []
    for n, line in enumerate(merges_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line or (n == 1 and line.startswith("#version")):
            continue
        if len(line.split(" ")) != 2:
            raise BadInputError(f"{merges_file} line {n}: expected one merge, two symbols separated by a space")
        merges.append(line)
    for token in (BOS, EOS):
        if token not in vocab:
            raise BadInputError(f"{vocab_file} has no {token} token: not a CLIP vocabulary")
    return clip_tokenizer(vocab, merges)


def build_clip_vocab(texts: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Vocabulary and merges in which every word of `texts` (as CLIP's pre-tokenizer splits them)
    is one token: per word, merges joining its symbols left to right. Merges are ranked by the
    length of what they make, so a word's shorter prefixes are always made first."""
    splitter = clip_tokenizer(vocab_from_merges([]), []).backend_tokenizer
    words = set()
    for text in texts:
        for word, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(text)):
            words.add(word)
    made: dict[tuple[str, str], int] = {}  # merge -> length (in symbols) of its result
    for word in sorted(words):
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        current = symbols[0]
        for n, symbol in enumerate(symbols[1:], start=2):
            made.setdefault((current, symbol), n)
            current += symbol
    merges = [f"{a} {b}" for (a, b), _ in sorted(made.items(), key=lambda item: (item[1], item[0]))]
    return vocab_from_merges(merges), merges


def clip_tokenizer_state(tokenizer: CLIPTokenizer) -> dict:
    vocab = tokenizer.get_vocab()
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return {"kind": "clip", "vocab": sorted(vocab, key=vocab.get), "merges": merges}


def clip_tokenizer_from_state(state: dict) -> CLIPTokenizer:
    return clip_tokenizer({t: i for i, t in enumerate(state["vocab"])}, list(state["merges"]))


def write_clip_tokenizer(vocab: dict[str, int], merges: list[str], folder: Path) -> None:
    """`vocab.json` and `merges.txt` in Hugging Face's layout, each written whole or not at all."""
    text = {
        "vocab.json": json.dumps(vocab, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "".join(f"{m}\n" for m in merges),
    }
    for name, content in text.items():
        write_atomic(folder / name, lambda f, content=content: f.write(content.encode("utf-8")))
