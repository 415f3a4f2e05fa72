"""A whole CLIP from OpenAI's released file (both towers, projections, logit scale) and its
tokenizer from `bpe_simple_vocab_16e6.txt.gz`: the same model as the Hugging Face CLIP it was
written from (its names written out here independently of the reader)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from sparsevl.data.clip_tokenizer import OPENAI_BPE, OPENAI_MERGES, byte_symbols, read_clip_tokenizer
from sparsevl.models.factory import ModelConfig, build_dual_encoder, pretrained_model_section
from sparsevl.problems import BadInputError
from tests.models.clip_folder import IMAGE_SIZE, write_tiny_clip
from tests.models.test_clip_text import TEXTS, pixel_values
from tests.models.test_vit import openai_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_bpe(path, merges: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(["\"bpe_simple_vocab_16e6.txt#version: 0.2", *merges]) + "\n")


def openai_clip_state(hf) -> dict[str, torch.Tensor]:
    """OpenAI's names for a Hugging Face CLIPModel: the image tower as `test_vit` writes it, the
    text tower here (in_proj is q, k, v stacked; projections are width x embed, used as x @ proj)."""
    out = openai_layout(hf.vision_model)
    s = hf.state_dict()
    out |= {
        "visual.proj": s["visual_projection.weight"].T,
        "token_embedding.weight": s["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": s["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": s["text_model.final_layer_norm.weight"], "ln_final.bias": s["text_model.final_layer_norm.bias"],
        "text_projection": s["text_projection.weight"].T,
        "logit_scale": s["logit_scale"],
    }
    for i in range(hf.config.text_config.num_hidden_layers):
        hf_block, block = f"text_model.encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            out[f"{block}attn.in_proj_{p}"] = torch.cat([s[f"{hf_block}self_attn.{x}_proj.{p}"] for x in "qkv"])
            for ours, theirs in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                                 ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                out[f"{block}{ours}.{p}"] = s[f"{hf_block}{theirs}.{p}"]
    return out


def test_openai_file_and_bpe_are_the_same_clip(tmp_path):
    hf = write_tiny_clip(tmp_path / "hf", TEXTS, width=64, heads=1)  # OpenAI's layout: one head per 64 channels
    openai = tmp_path / "openai"
    openai.mkdir()
    torch.save(openai_clip_state(hf), openai / "ViT-tiny.pt")
    merges = (tmp_path / "hf" / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
    write_bpe(openai / OPENAI_BPE, merges)

    tokenizer = read_clip_tokenizer(openai / "ViT-tiny.pt")
    assert tokenizer.get_vocab() == json.loads((tmp_path / "hf" / "vocab.json").read_text(encoding="utf-8"))
    section = pretrained_model_section(openai / "ViT-tiny.pt")  # what `evaluate --init-from FILE` builds
    ours = build_dual_encoder(ModelConfig(**section, max_text_len=77)).eval()
    tokens = tokenizer(TEXTS, padding=True, return_tensors="pt")
    frames = torch.randint(0, 256, (2, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = hf(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixel_values(frames))
        texts = ours.text_embedding(tokens["input_ids"], tokens["attention_mask"])
        videos = ours.video_embedding(ours.encode_clips(frames[:, None, None]))
    torch.testing.assert_close(texts, out.text_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(videos, out.image_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.temperature_scale() * texts @ videos.T, out.logits_per_text, atol=1e-5, rtol=0)


def test_openais_full_vocabulary_numbers_tokens_as_released_clip(tmp_path):
    """49,408 tokens: "a" is 320 and the text markers 49406 and 49407 in every OpenAI CLIP (any
    48,894 merges of two single symbols leave a one-letter word alone)."""
    symbols = byte_symbols()
    merges = [f"{a} {b}" for a in symbols for b in symbols][:OPENAI_MERGES]
    write_bpe(tmp_path / OPENAI_BPE, merges + ["x y"])  # lines past 48,894 are not read, as OpenAI's
    tokenizer = read_clip_tokenizer(tmp_path)
    assert len(tokenizer.get_vocab()) == 49408
    assert tokenizer("a")["input_ids"] == [49406, 320, 49407]
    assert tokenizer.convert_ids_to_tokens([0, 256]) == ["!", "!</w>"]


def test_a_file_without_the_text_tower_is_named(tmp_path):
    hf = write_tiny_clip(tmp_path / "hf", TEXTS, width=64, heads=1)
    visual_only = {k: v for k, v in openai_clip_state(hf).items() if k.startswith("visual.")}
    torch.save(visual_only, tmp_path / "visual.pt")
    with pytest.raises(BadInputError, match="not a whole CLIP in OpenAI's layout"):
        build_dual_encoder(ModelConfig(**pretrained_model_section(tmp_path / "visual.pt")))
