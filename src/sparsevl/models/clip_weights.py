"""A whole CLIP checkpoint (image tower, text tower, both projections, the logit scale) -> the dual
encoder's parts.

Read from local files; nothing is downloaded:

- **a Hugging Face CLIP folder** (`openai/clip-vit-base-patch16`, `clip-vit-large-patch14`:
  config.json with `model_type: clip`, the weights, and the tokenizer's vocab.json and merges.txt);
- **OpenAI's released file** (`ViT-B-16.pt`, `ViT-L-14.pt`; a TorchScript archive or a plain
  state_dict), its tokenizer's `bpe_simple_vocab_16e6.txt.gz` beside it. The image tower as in
  `vit_weights`, its projection `visual.proj` (width x embed, applied as x @ proj); the text tower
  `token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.{ln_1,
  attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}`,
  `ln_final`, `text_projection` (width x embed) and `logit_scale`. The text architecture comes
  from the shapes (one head per 64 channels, QuickGELU, as CLIP's); the end-of-text token is the
  vocabulary's last, whose state is the text's.

The image tower is mapped onto our `VisionTransformer` as `vit_weights` does for the video
classifier; the text tower is Hugging Face's `CLIPTextModel`. `write_clip_folder` writes a dual
encoder back as a Hugging Face CLIP folder (the zero-shot demo pre-trains its own small CLIP).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

from sparsevl.models.dual_encoder import DualEncoder
from sparsevl.models.pretrained import checkpoint_path, load_hf_vision_model
from sparsevl.models.vit import ViTArch
from sparsevl.models.vit_weights import from_hf_clip, from_openai, openai_arch, openai_visual, read_openai_clip
from sparsevl.problems import BadInputError

State = dict[str, torch.Tensor]


@dataclasses.dataclass
class ClipCheckpoint:
    vit_arch: ViTArch
    vit_state: State  # our VisionTransformer's names
    visual_proj: torch.Tensor  # (embed, width): a Linear's weight
    text_config: dict  # a CLIPTextConfig
    text_state: State  # CLIPTextModel's names
    text_proj: torch.Tensor  # (embed, width)
    logit_scale: torch.Tensor  # log of the similarity scale


# per text block: OpenAI's name -> CLIPTextModel's (q, k and v are split from in_proj)
_OPENAI_TEXT_BLOCK = {"attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                      "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}


def read_clip_checkpoint(path: str | Path | None) -> ClipCheckpoint:
    """Both towers of the CLIP in `path`: a Hugging Face CLIP folder or OpenAI's file."""
    path = checkpoint_path("clip_vit", path)
    if path.is_file():
        return _from_openai_file(path)
    model = load_hf_vision_model(CLIPModel, "clip_vit", path, ("clip",))
    arch, vit_state = from_hf_clip(model.vision_model, path)
    state = model.state_dict()
    text_state = {k.removeprefix("text_model."): v for k, v in state.items() if k.startswith("text_model.")}
    return ClipCheckpoint(arch, vit_state, state["visual_projection.weight"], model.config.text_config.to_dict(),
                          text_state, state["text_projection.weight"], state["logit_scale"])


def _from_openai_file(path: Path) -> ClipCheckpoint:
    state = read_openai_clip(path)
    visual = openai_visual(state, path)
    needed = ("visual.proj", "token_embedding.weight", "positional_embedding", "ln_final.weight",
              "text_projection", "logit_scale")
    missing = [k for k in needed if k not in state]
    if missing:
        raise BadInputError(f"{path} is not a whole CLIP in OpenAI's layout (no {', '.join(missing)}): the dual "
                            "encoder needs both towers")
    config, text_state = openai_text(state)
    return ClipCheckpoint(openai_arch(visual), from_openai(visual), visual["proj"].T.contiguous(), config.to_dict(),
                          text_state, state["text_projection"].T.contiguous(), state["logit_scale"])


def openai_text(state: State) -> tuple[CLIPTextConfig, State]:
    """The text tower of an OpenAI CLIP state_dict as a CLIPTextModel's config and weights."""
    vocab, width = state["token_embedding.weight"].shape
    blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith("transformer.resblocks.")})
    config = CLIPTextConfig(
        vocab_size=vocab, hidden_size=width, num_hidden_layers=len(blocks), num_attention_heads=width // 64,
        intermediate_size=state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        max_position_embeddings=state["positional_embedding"].shape[0], projection_dim=state["text_projection"].shape[1],
        hidden_act="quick_gelu", layer_norm_eps=1e-5, bos_token_id=vocab - 2, eos_token_id=vocab - 1,
        pad_token_id=vocab - 1,
    )
    out = {
        "embeddings.token_embedding.weight": state["token_embedding.weight"],
        "embeddings.position_embedding.weight": state["positional_embedding"],
        "final_layer_norm.weight": state["ln_final.weight"],
        "final_layer_norm.bias": state["ln_final.bias"],
    }
    for i in blocks:
        ours, theirs = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            for name, part in zip("qkv", state[f"{theirs}attn.in_proj_{p}"].chunk(3)):
                out[f"{ours}self_attn.{name}_proj.{p}"] = part
            for old, new in _OPENAI_TEXT_BLOCK.items():
                out[f"{ours}{new}.{p}"] = state[f"{theirs}{old}.{p}"]
    return config, out


# our image block's parameters -> CLIPVisionModel's (q, k and v are one `qkv` here)
_HF_VISION_BLOCK = {"attn.out": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                    "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"}


def hf_vision_state(arch: ViTArch, state: State) -> State:
    """Our image transformer's weights under CLIPVisionModel's names (the inverse of `from_hf_clip`)."""
    out = {
        "embeddings.patch_embedding.weight": state["patch_embed.weight"],
        "embeddings.class_embedding": state["cls_token"],
        "embeddings.position_embedding.weight": state["pos_embed"],
    }
    for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for p in ("weight", "bias"):
            out[f"{theirs}.{p}"] = state[f"{ours}.{p}"]
    for i in range(arch.layers):
        for p in ("weight", "bias"):
            for name, part in zip("qkv", state[f"blocks.{i}.attn.qkv.{p}"].chunk(3)):
                out[f"encoder.layers.{i}.self_attn.{name}_proj.{p}"] = part
            for ours, theirs in _HF_VISION_BLOCK.items():
                out[f"encoder.layers.{i}.{theirs}.{p}"] = state[f"blocks.{i}.{ours}.{p}"]
    return out


def write_clip_folder(model: DualEncoder, folder: Path) -> None:
    """The dual encoder's CLIP (without a BT-Adapter branch) as a Hugging Face CLIP folder's config
    and weights, written to a temporary folder and renamed: complete, or not there."""
    arch = model.visual.backbone.arch
    if not arch.ln_pre or arch.patch_bias or model.visual.branch is not None:
        raise ValueError("only a plain CLIP dual encoder has a Hugging Face CLIP layout")
    vision = CLIPVisionConfig(hidden_size=arch.width, intermediate_size=arch.mlp_dim, num_hidden_layers=arch.layers,
                              num_attention_heads=arch.heads, image_size=arch.grid * arch.patch_size,
                              patch_size=arch.patch_size, hidden_act=arch.act, layer_norm_eps=arch.eps)
    config = CLIPConfig(text_config=model.text.model.config.to_dict(), vision_config=vision.to_dict(),
                        projection_dim=model.visual.proj.out_features)
    state = {f"vision_model.{k}": v for k, v in hf_vision_state(arch, model.visual.backbone.state_dict()).items()}
    state |= {f"text_model.{k}": v for k, v in model.text.model.state_dict().items()}
    state |= {"visual_projection.weight": model.visual.proj.weight, "text_projection.weight": model.text.proj.weight,
              "logit_scale": model.logit_scale}
    clip = CLIPModel(config)
    clip.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        clip.save_pretrained(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
