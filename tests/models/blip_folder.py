"""A tiny random Hugging Face BLIP retrieval folder (config.json, weights, the BERT tokenizer with
BLIP's added [DEC] and [ENC]), written with `save_pretrained` as a real one is, for the tests of
the BLIP model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertTokenizer, BlipConfig, BlipForImageTextRetrieval

from sparsevl.data.tokenizer import build_word_vocab

IMAGE_SIZE = 32
PATCH = 8


def write_tiny_blip(folder: Path, texts: list[str], seed: int = 0, enc_token: bool = True) -> BlipForImageTextRetrieval:
    """A random BLIP whose vocabulary makes every word of `texts` one token; its tokenizer adds
    [DEC] and (with `enc_token`) [ENC] after the words, as BLIP's own tokenizer does."""
    words = build_word_vocab(texts)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    if enc_token:
        tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    config = BlipConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 64, "encoder_hidden_size": 32,
                     "pad_token_id": 0, "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": IMAGE_SIZE, "patch_size": PATCH},
        image_text_hidden_size=16,
    )
    torch.manual_seed(seed)
    model = BlipForImageTextRetrieval(config).eval()
    with torch.no_grad():  # every weight random (LayerNorms too), so that nothing matches by accident
        for name, p in model.named_parameters():
            is_norm = "norm" in name.lower() and name.endswith("weight")
            p.normal_(1.0 if is_norm else 0.0, 0.2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model
