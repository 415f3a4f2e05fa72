"""A whole CLIP checkpoint (image tower, text tower, both projections, the logit scale) -> the dual
encoder's parts.

Read from a local Hugging Face CLIP folder (`openai/clip-vit-base-patch16`,
`clip-vit-large-patch14`: config.json with `model_type: clip`, the weights, and the tokenizer's
vocab.json and merges.txt); nothing is downloaded. The image tower is mapped onto our
`VisionTransformer` as `vit_weights` does for the video classifier; the text tower stays
Hugging Face's `CLIPTextModel`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from transformers import CLIPModel

from sparsevl.models.pretrained import load_hf_vision_model
from sparsevl.models.vit import ViTArch
from sparsevl.models.vit_weights import from_hf_clip

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


def read_clip_checkpoint(folder: str | Path | None) -> ClipCheckpoint:
    """Both towers of the Hugging Face CLIP model in `folder`."""
    model = load_hf_vision_model(CLIPModel, "clip_vit", folder, ("clip",))
    arch, vit_state = from_hf_clip(model.vision_model, Path(folder))
    state = model.state_dict()
    text_state = {k.removeprefix("text_model."): v for k, v in state.items() if k.startswith("text_model.")}
    return ClipCheckpoint(arch, vit_state, state["visual_projection.weight"], model.config.text_config.to_dict(),
                          text_state, state["text_projection.weight"], state["logit_scale"])
