"""Tiny random Hugging Face BLIP folders, retrieval and question answering (config.json, weights,
the BERT tokenizer with BLIP's added [DEC] and [ENC]), written with `save_pretrained` as real ones
are, for the tests of the BLIP models."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertTokenizer, BlipConfig, BlipForImageTextRetrieval, BlipForQuestionAnswering

from sparsevl.data.tokenizer import build_word_vocab

IMAGE_SIZE = 32
PATCH = 8


def write_tiny_blip(folder: Path, texts: list[str], seed: int = 0, enc_token: bool = True) -> BlipForImageTextRetrieval:
    """A random BLIP whose vocabulary makes every word of `texts` one token; its tokenizer adds
    [DEC] and (with `enc_token`) [ENC] after the words, as BLIP's own tokenizer does."""
    tokenizer = blip_tokenizer(texts, enc_token)
    model = BlipForImageTextRetrieval(tiny_config(tokenizer)).eval()
    randomize(model, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def write_tiny_blip_qa(folder: Path, texts: list[str], seed: int = 0, enc_token: bool = True,
                       sep_bias: float = 3.0) -> BlipForQuestionAnswering:
    """A random BLIP VQA model (question encoder, answer decoder) with the tokenizer of
    `write_tiny_blip`; the decoder's [SEP] logit is raised by `sep_bias`, so that its answers
    end after a few words as a trained one's do, rather than running on to any length limit."""
    tokenizer = blip_tokenizer(texts, enc_token)
    model = BlipForQuestionAnswering(tiny_config(tokenizer)).eval()
    randomize(model, seed)
    with torch.no_grad():
        model.text_decoder.cls.predictions.bias[tokenizer.sep_token_id] += sep_bias
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def blip_tokenizer(texts: list[str], enc_token: bool) -> BertTokenizer:
    words = build_word_vocab(texts)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    if enc_token:
        tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


def tiny_config(tokenizer: BertTokenizer) -> BlipConfig:
    return BlipConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 64, "encoder_hidden_size": 32,
                     "pad_token_id": 0, "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": IMAGE_SIZE, "patch_size": PATCH},
        image_text_hidden_size=16,
    )


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every weight random (LayerNorms too), so that nothing matches by accident."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = "norm" in name.lower() and name.endswith("weight")
            p.normal_(1.0 if is_norm else 0.0, 0.2)
