"""CLIP's BPE tokenizer read from a Hugging Face folder tokenizes as transformers' CLIPTokenizer
reading the same files, and survives a checkpoint (its state)."""

from __future__ import annotations

import json

import pytest
from transformers import CLIPTokenizer

from sparsevl.data.clip_tokenizer import (
    BOS,
    EOS,
    build_clip_vocab,
    byte_symbols,
    read_clip_tokenizer,
    write_clip_tokenizer,
)
from sparsevl.data.tokenizer import tokenizer_from_state, tokenizer_state
from sparsevl.problems import BadInputError, MissingInputError

TRAIN = ["a red square moves left", "the blue circle jumps over the green square!"]
SENTENCES = TRAIN + ["A RED circle, then... a green one", "unseen words: zebra 42", "é ü — ☃"]


def write_folder(folder, vocab: dict, merges: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "clip", *build_clip_vocab(TRAIN))
    return tmp_path / "clip"


def test_byte_symbols_are_gpt2s_byte_mapping():
    symbols = byte_symbols()
    assert len(set(symbols)) == 256
    assert symbols[0] == "!" and symbols[93] == "~"  # the printable bytes first, in byte order
    assert symbols[188] == chr(256)  # then byte 0's stand-in


def test_ids_equal_transformers_clip_tokenizer_on_the_same_files(folder):
    ours = read_clip_tokenizer(folder)
    theirs = CLIPTokenizer.from_pretrained(str(folder))  # transformers reading the files itself
    for text in SENTENCES:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
    ids = ours(TRAIN[0])["input_ids"]
    vocab = ours.get_vocab()
    # every training word is one token, between the start and end of text
    assert ids[0] == vocab[BOS] and ids[-1] == vocab[EOS] and len(ids) == 2 + len(TRAIN[0].split())
    assert ours.convert_ids_to_tokens(ids[1:-1]) == [w + "</w>" for w in TRAIN[0].split()]


def test_the_tokenizer_survives_a_checkpoint(folder):
    tokenizer = read_clip_tokenizer(folder)
    state = tokenizer_state(tokenizer)
    assert state["kind"] == "clip"
    again = tokenizer_from_state(json.loads(json.dumps(state)))  # plain data
    for text in SENTENCES:
        assert again(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_bad_folders_are_named(tmp_path, folder):
    with pytest.raises(MissingInputError, match="no CLIP tokenizer in"):
        read_clip_tokenizer(tmp_path)
    (folder / "merges.txt").write_text("#version: 0.2\na b\nabc\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="merges.txt line 3"):
        read_clip_tokenizer(folder)
    (folder / "vocab.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BadInputError, match="vocab.json must map"):
        read_clip_tokenizer(folder)


def test_a_written_vocabulary_reads_as_transformers_reads_it(tmp_path):
    write_clip_tokenizer(*build_clip_vocab(TRAIN), tmp_path / "written")
    ours = read_clip_tokenizer(tmp_path / "written")
    theirs = CLIPTokenizer.from_pretrained(str(tmp_path / "written"))
    for text in SENTENCES:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
