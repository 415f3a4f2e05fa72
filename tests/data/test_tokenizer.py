"""A model folder's BERT tokenizer (BLIP's: vocab.txt or tokenizer.json with added [DEC] and [ENC])
is read as the plain vocabulary checkpoints save, with the same ids and the same tokenization."""

from __future__ import annotations

import pytest
from transformers import BertTokenizer

from sparsevl.data.tokenizer import read_tokenizer_folder, tokenizer_from_state, tokenizer_state
from sparsevl.problems import MissingInputError

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "ball", "##s", "rolls"]


def test_a_saved_tokenizer_reads_with_its_added_tokens_and_survives_a_checkpoint(tmp_path):
    saved = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    saved.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    saved.save_pretrained(tmp_path)
    tokenizer = read_tokenizer_folder(tmp_path)
    assert tokenizer.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [10, 11]
    text = "A red balls rolls, green"
    expected = saved(text)["input_ids"]
    assert tokenizer(text)["input_ids"] == expected == [2, 5, 6, 7, 8, 9, 1, 1, 3]
    assert tokenizer_from_state(tokenizer_state(tokenizer))(text)["input_ids"] == expected


def test_a_folder_without_a_tokenizer_is_said(tmp_path):
    with pytest.raises(MissingInputError, match=f"{tmp_path}: no BERT tokenizer there"):
        read_tokenizer_folder(tmp_path)
