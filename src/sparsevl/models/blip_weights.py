"""A Hugging Face BLIP folder -> the parts of our BLIP model.

The folder is what `transformers.BlipForImageTextRetrieval.save_pretrained` writes (the layout of
`Salesforce/blip-itm-base-coco` and its siblings), or, for open-ended QA,
`BlipForQuestionAnswering`'s (`Salesforce/blip-vqa-base`): config.json with `model_type: blip`,
the weights, and the BERT tokenizer's files. Nothing is downloaded.

- The image tower (`vision_model.*`) is mapped onto our `VisionTransformer`, which then gains
  divided space-time attention and temporal embeddings for any clip length. BLIP's ViT is the
  DeiT/timm layout: no LayerNorm before the blocks, a fused `qkv`, a patch convolution with a bias,
  exact GELU, and the final LayerNorm (`post_layernorm`) applied to every token.
- The text tower (`text_encoder.*`, BERT with a cross-attention in every layer) stays
  `transformers.BlipTextModel`: it needs no change for video (its cross-attention reads any number
  of visual tokens), so it is used as it is.
- `vision_proj`, `text_proj` (ITC) and `itm_head` (ITM) are plain linear layers; the QA model's
  answer decoder (`text_decoder.*`) stays `transformers.BlipTextLMHeadModel`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from transformers import BertTokenizer, BlipForImageTextRetrieval, PreTrainedModel

from sparsevl.models.pretrained import checkpoint_path, load_hf_vision_model
from sparsevl.models.vit import CLIP_MEAN, CLIP_STD, ViTArch
from sparsevl.problems import BadInputError, MissingInputError

State = dict[str, torch.Tensor]

# BLIP's own tokenizer puts this token first for the image-grounded text encoder (ITM, the VQA question); see `_enc_token_id`
ENC_TOKEN = "[ENC]"

# per vision layer: BLIP's name -> ours
_VISION_BLOCK = {"self_attn.qkv": "attn.qkv", "self_attn.projection": "attn.out", "layer_norm1": "ln_1",
                 "layer_norm2": "ln_2", "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2"}


@dataclasses.dataclass
class BlipCheckpoint:
    vit_arch: ViTArch
    vit_state: State  # our VisionTransformer's names
    text_config: dict  # a BlipTextConfig
    # the rest, in the folder's names: text_encoder.*, and vision_proj.*, text_proj.*, itm_head.*
    # (retrieval) or text_decoder.* (QA)
    state: State
    embed_dim: int  # of the ITC space (retrieval)
    itm_token_id: int | None  # the [ENC] token's id, if the folder's tokenizer has one
    logit_scale: float  # the config's initial log similarity scale (the retrieval model has no learned one)


def read_blip_folder(folder: str | Path | None,
                     model_class: type[PreTrainedModel] = BlipForImageTextRetrieval) -> BlipCheckpoint:
    """The folder read as `model_class` (BlipForImageTextRetrieval or BlipForQuestionAnswering)."""
    path = checkpoint_path("blip_vit", folder)
    _check_blip_kind(path, model_class)
    model = load_hf_vision_model(model_class, "blip_vit", path, ("blip",))
    vision = model.config.vision_config
    if vision.hidden_act != "gelu":
        raise BadInputError(f"{path}: BLIP vision activation {vision.hidden_act!r} is not supported (gelu)")
    mean, std = _pixel_statistics(path)
    arch = ViTArch(width=vision.hidden_size, layers=vision.num_hidden_layers, heads=vision.num_attention_heads,
                   patch_size=vision.patch_size, grid=vision.image_size // vision.patch_size,
                   mlp_dim=vision.intermediate_size, act="gelu", eps=vision.layer_norm_eps, ln_pre=False,
                   patch_bias=True, pixel_mean=mean, pixel_std=std)
    state = model.state_dict()
    rest = {k: v for k, v in state.items() if not k.startswith("vision_model.")}
    return BlipCheckpoint(
        vit_arch=arch, vit_state=from_hf_blip_vision(state), text_config=model.config.text_config.to_dict(),
        state=rest, embed_dim=model.config.image_text_hidden_size, itm_token_id=_enc_token_id(path),
        logit_scale=float(model.config.logit_scale_init_value),
    )


_BLIP_USES = {"BlipForImageTextRetrieval": "retrieval and multiple_choice",
              "BlipForQuestionAnswering": "video_qa"}


def _check_blip_kind(folder: Path, model_class: type[PreTrainedModel]) -> None:
    """A BLIP folder of another kind than the task needs is said as such (rather than as the
    other model's missing weights); a config.json without `architectures` is tried as it is."""
    try:
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return  # load_hf_vision_model says what is wrong with it
    kinds = [name for name in saved if name in _BLIP_USES]
    if kinds and model_class.__name__ not in kinds:
        raise BadInputError(f"{folder} holds a {kinds[0]} (for {_BLIP_USES[kinds[0]]}); this task needs a "
                            f"{model_class.__name__} folder (for {_BLIP_USES[model_class.__name__]})")


def from_hf_blip_vision(state: State) -> State:
    """`vision_model.*` of a BLIP state_dict in our `VisionTransformer`'s names."""
    hf = {k.removeprefix("vision_model."): v for k, v in state.items() if k.startswith("vision_model.")}
    out = {
        "patch_embed.weight": hf["embeddings.patch_embedding.weight"],
        "patch_embed.bias": hf["embeddings.patch_embedding.bias"],
        "cls_token": hf["embeddings.class_embedding"].reshape(-1),
        "pos_embed": hf["embeddings.position_embedding"][0],
        "ln_post.weight": hf["post_layernorm.weight"],
        "ln_post.bias": hf["post_layernorm.bias"],
    }
    for key, value in hf.items():
        if key.startswith("encoder.layers."):
            _, _, index, rest = key.split(".", 3)
            name = next(ours + rest[len(theirs):] for theirs, ours in _VISION_BLOCK.items() if rest.startswith(theirs + "."))
            out[f"blocks.{index}.{name}"] = value
    return out


def _pixel_statistics(folder: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The image processor's mean and std (preprocessor_config.json); BLIP's are CLIP's."""
    config_file = folder / "preprocessor_config.json"
    if not config_file.is_file():
        return CLIP_MEAN, CLIP_STD
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        return tuple(map(float, config["image_mean"])), tuple(map(float, config["image_std"]))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{config_file}: no image_mean and image_std lists ({e})") from None


def _enc_token_id(folder: Path) -> int | None:
    """BLIP's image-grounded text encoder reads "[ENC]" in place of "[CLS]" (BLIP's and TESTA's ITM
    do so, in training and evaluation). `transformers.BlipForImageTextRetrieval` keeps [CLS]; a
    folder whose tokenizer has no [ENC] is scored that way. (The task reads the same tokenizer
    with `sparsevl.data.tokenizer.read_tokenizer_folder`.)"""
    if not any((folder / name).is_file() for name in ("vocab.txt", "tokenizer.json")):
        raise MissingInputError(f"{folder}: no BERT tokenizer there (vocab.txt or tokenizer.json)")
    try:
        tokenizer = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise BadInputError(f"{folder}: the BERT tokenizer there cannot be read: {e}") from None
    return tokenizer.get_vocab().get(ENC_TOKEN)
