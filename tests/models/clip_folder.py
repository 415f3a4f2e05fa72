"""A tiny random Hugging Face CLIP folder (config.json, weights, vocab.json, merges.txt), written
with `save_pretrained` as a real one is, for the tests of the CLIP dual encoder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

from sparsevl.data.clip_tokenizer import BOS, EOS, build_clip_vocab

IMAGE_SIZE = 16


def write_tiny_clip(folder: Path, texts: list[str], seed: int = 0, layers: int = 2, width: int = 32,
                    heads: int = 2) -> CLIPModel:
    """A random CLIP whose vocabulary makes every word of `texts` one token."""
    vocab, merges = build_clip_vocab(texts)
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": width, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": heads, "max_position_embeddings": 77, "bos_token_id": vocab[BOS],
                     "eos_token_id": vocab[EOS], "pad_token_id": vocab[EOS]},
        vision_config={"hidden_size": width, "intermediate_size": 64, "num_hidden_layers": layers,
                       "num_attention_heads": heads, "image_size": IMAGE_SIZE, "patch_size": 4},
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    with torch.no_grad():  # every weight random (LayerNorms too), so that nothing matches by accident
        for name, p in model.named_parameters():
            if name != "logit_scale":
                p.normal_(1.0 if name.endswith("norm1.weight") or name.endswith("norm2.weight") else 0.0, 0.2)
    model.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return model
