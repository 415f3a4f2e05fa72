"""One factory: a `ModelConfig` (a small JSON section) in, a model out.

The parts are chosen by name from the tables below, the project's one registry of model parts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from torch import nn
from transformers import BertConfig, BertModel

from sparsevl.models.backbones import TinyCNN
from sparsevl.models.cross_encoder import CrossEncoder
from sparsevl.models.fusion import ConcatFusion, MeanFusion, TimeEmbedFusion
from sparsevl.models.matching import VideoTextMatchingModel
from sparsevl.models.pretrained import (
    CHECKPOINT_LAYOUTS,
    checkpoint_path,
    load_clip_vit,
    load_efficientnet_lite0,
    load_resnet50,
)
from sparsevl.models.video_qa import VideoQAModel, VisualEncoder


@dataclasses.dataclass
class ModelConfig:
    # docs/backbones.md: each backbone, its checkpoint layout, normalisation and grid stride
    backbone: Literal["tiny_cnn", "efficientnet_lite0", "resnet50", "clip_vit"] = "tiny_cnn"
    backbone_channels: int = 128  # channels of the grid features (tiny_cnn)
    backbone_blocks: int = 4  # stride-2 blocks: grid = frame size / 2**blocks (tiny_cnn)
    # The local checkpoint (folder or file) of a pretrained backbone; required for all but tiny_cnn.
    backbone_dir: str | None = None
    # efficientnet_lite0: the grid after the head conv (32: 1280 channels, 7 x 7 at 224 px) or the
    # 112-channel stage (16: 8 x 8 at 128 px). resnet50 is fixed at 32, clip_vit at its patch size.
    backbone_stride: Literal[16, 32] = 32
    fusion: Literal["mean", "concat", "time_embed"] = "concat"
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

    def validate(self) -> None:
        if self.text_model_dir is None and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.backbone in CHECKPOINT_LAYOUTS and self.backbone_dir is None:
            checkpoint_path(self.backbone, None)  # raises: names backbone_dir and what to put there


BACKBONES = {
    "tiny_cnn": lambda cfg: TinyCNN(cfg.backbone_channels, num_blocks=cfg.backbone_blocks),
    "efficientnet_lite0": lambda cfg: load_efficientnet_lite0(cfg.backbone_dir, cfg.backbone_stride),
    "resnet50": lambda cfg: load_resnet50(cfg.backbone_dir),
    "clip_vit": lambda cfg: load_clip_vit(cfg.backbone_dir),
}
FUSIONS = {"mean": MeanFusion, "concat": ConcatFusion, "time_embed": TimeEmbedFusion}


def build_bert(cfg: ModelConfig, vocab_size: int) -> BertModel:
    if cfg.text_model_dir is not None:
        folder = Path(cfg.text_model_dir)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"text_model_dir {folder} has no config.json: put a BERT-layout folder there "
                "(config.json, model.safetensors or pytorch_model.bin, vocab.txt)"
            )
        return BertModel.from_pretrained(str(folder), add_pooling_layer=False)
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
    return BertModel(bert_cfg, add_pooling_layer=False)


def build_visual_encoder(cfg: ModelConfig, num_frm: int) -> VisualEncoder:
    backbone = BACKBONES[cfg.backbone](cfg)
    fusion = FUSIONS[cfg.fusion](backbone.out_channels, num_frm)
    return VisualEncoder(backbone, fusion, cfg.frozen_bn)


def build_towers(cfg: ModelConfig, num_frm: int, vocab_size: int) -> tuple[VisualEncoder, CrossEncoder]:
    visual = build_visual_encoder(cfg, num_frm)
    return visual, CrossEncoder(build_bert(cfg, vocab_size), visual.fusion.out_channels)


def build_video_qa_model(cfg: ModelConfig, num_frm: int, num_labels: int, vocab_size: int) -> nn.Module:
    return VideoQAModel(*build_towers(cfg, num_frm, vocab_size), num_labels, cfg.pool)


def build_matching_model(cfg: ModelConfig, num_frm: int, vocab_size: int) -> nn.Module:
    """Retrieval and multiple-choice QA: one model, so a retrieval checkpoint answers multiple choice."""
    return VideoTextMatchingModel(*build_towers(cfg, num_frm, vocab_size), cfg.embed_dim, cfg.pool)
