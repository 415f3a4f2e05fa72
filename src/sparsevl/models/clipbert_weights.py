"""ClipBERT's released weights onto this project's cross-encoder models.

ClipBERT (jayleicn/ClipBERT) saves its `ClipBert` module's state dict: `cnn.*` (`GridFeatBackbone`:
`cnn.feature` is grid-feats-vqa's whole detectron2 `GeneralizedRCNN`, `cnn.grid_encoder` the
3x3 conv after it) and `transformer.*` (`ClipBertForPreTraining` or a fine-tuning model: `bert` with
its `visual_embeddings`, and the heads). Its `download_pretrained.sh` also gives the two files
pre-training starts from: grid-feats-vqa's `grid_feat_R-50.pth` (detectron2 names under `model`)
and bert-base-uncased.

`map_clipbert_state` renames every tensor of an e2e state dict to the model's name for it, derives
the few the model has and ClipBERT does not (so that the model computes what ClipBERT computes), and
drops, with the reason, those ClipBERT's own forward never reads or this model has no place for.
docs/pretraining.md has the table.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

import torch

from sparsevl.models.pretrained import load_weights
from sparsevl.problems import BadInputError

BACKBONE = "visual.backbone."  # where the models keep the backbone (VisualEncoder.backbone)
DETECTRON2_PREFIX = "cnn.feature."  # ClipBERT's name for grid-feats' GeneralizedRCNN

# detectron2's ResNet (stem, res2..res5) -> Hugging Face's ResNetModel inside ClipBertGridR50
_STEM = re.compile(r"backbone\.stem\.conv1\.(weight|norm\.\w+)$")
_BLOCK = re.compile(r"backbone\.res([2-5])\.(\d+)\.(shortcut|conv[1-3])\.(weight|norm\.\w+)$")

DROPPED_PREFIXES = {
    # grid-feats' Faster R-CNN with attribute head: ClipBERT calls only `feature.backbone`
    "cnn.feature.proposal_generator.": "grid-feats' region proposal network: ClipBERT's forward reads only the backbone",
    "cnn.feature.roi_heads.": "grid-feats' box and attribute heads: ClipBERT's forward reads only the backbone",
    "cnn.feature.pixel_": "detectron2's normalisation constants: the frames are normalised by the backbone's "
                          "pixel_mean / pixel_std here (ClipBERT's img_pixel_mean / img_pixel_std)",
    "transformer.bert.visual_embeddings.position_embeddings.": "defined in ClipBERT's VisualInputEmbedding but "
                                                               "never used by its forward",
    "transformer.classifier.": "a fine-tuned ClipBERT task head (Linear-ReLU-Linear on the pooled state): this "
                               "model's head differs and starts fresh, as ClipBERT's does when fine-tuning",
    "transformer.regressor.": "a fine-tuned ClipBERT regression head: this model has none",
}


@dataclasses.dataclass
class MappedWeights:
    """The model's tensors from ClipBERT's, the source keys left out on purpose (with why), and
    notes on the tensors built rather than copied."""

    weights: dict[str, torch.Tensor]
    dropped: dict[str, str]  # source key -> reason
    notes: list[str]

    def report_lines(self) -> list[str]:
        by_reason: dict[str, list[str]] = {}
        for key, reason in self.dropped.items():
            by_reason.setdefault(reason, []).append(key)
        return self.notes + [f"{len(keys)} dropped ({reason}): {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
                             for reason, keys in by_reason.items()]


def detectron2_resnet_key(name: str) -> str | None:
    """A detectron2 ResNet key (`backbone.res5.0.conv1.norm.weight`) -> ClipBertGridR50's
    (`resnet.encoder.stages.3.layers.0.layer.0.normalization.weight`); None for any other key."""
    if m := _STEM.match(name):
        return "resnet.embedder.embedder." + _conv_part(m.group(1))
    if m := _BLOCK.match(name):
        stage, block, conv, part = m.groups()
        where = "shortcut" if conv == "shortcut" else f"layer.{int(conv[-1]) - 1}"
        return f"resnet.encoder.stages.{int(stage) - 2}.layers.{block}.{where}.{_conv_part(part)}"
    return None


def _conv_part(part: str) -> str:
    return "convolution.weight" if part == "weight" else "normalization." + part[len("norm."):]


def map_clipbert_state(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> MappedWeights:
    """ClipBERT's e2e state dict -> the tensors of a model whose state dict is `target` (names
    and shapes; only read). Keys that match no rule are passed on under their own name, so the
    loader reports them as having no place in the model (nothing is lost silently)."""
    weights: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    notes: list[str] = []
    for key, value in state.items():
        reason = next((why for prefix, why in DROPPED_PREFIXES.items() if key.startswith(prefix)), None)
        if reason is not None:
            dropped[key] = reason
            continue
        ours = _our_name(key, target)
        if isinstance(ours, _Lacking):
            dropped[key] = ours.reason
        elif ours is not _SPECIAL:
            weights[ours] = value
    used = _special_tensors(state, target, weights, notes)
    for key in _SPECIAL_KEYS & state.keys() - used:  # under its own name: reported as having no place
        weights[key] = state[key]
    return MappedWeights(weights, dropped, notes)


_SPECIAL = object()  # handled by _special_tensors: more than a rename
_SPECIAL_KEYS = {
    "transformer.bert.embeddings.token_type_embeddings.weight",
    "transformer.bert.visual_embeddings.token_type_embeddings.weight",
    "transformer.bert.visual_embeddings.row_position_embeddings.weight",
    "transformer.bert.visual_embeddings.col_position_embeddings.weight",
}
_POOLED_HEAD = ("read by a head on BERT's pooled state; this model has no such head (model.pool \"pooler\" "
                "and a matching task have: the pooler and ITM head)")
# (ClipBERT's prefix, ours, why a model may lack it (then the tensor is dropped, said why) or None:
# every model of this architecture has it)
_RENAMES: tuple[tuple[str, str, str | None], ...] = (
    ("transformer.bert.visual_embeddings.LayerNorm.", "cross.visual_embeddings.norm.", None),
    ("transformer.bert.embeddings.", "cross.bert.embeddings.", None),
    ("transformer.bert.encoder.", "cross.bert.encoder.", None),
    ("transformer.bert.pooler.", "cross.bert.pooler.", _POOLED_HEAD),  # the BERT has one with model.pool "pooler"
    ("transformer.cls.seq_relationship.", "itm_head.", _POOLED_HEAD),  # ITM on the pooled state: the matching model's head
    # BERT's MLM head (transform + decoder tied to the word embeddings): the pre-training model's
    ("transformer.cls.predictions.", "mlm_head.predictions.",
     "the masked-language-modelling head of pre-training: only task pretrain has one"),
    ("cnn.grid_encoder.", BACKBONE + "grid_encoder.", None),
)


@dataclasses.dataclass(frozen=True)
class _Lacking:
    reason: str  # why this model has no place for a tensor a rule knows


def _our_name(key: str, target: dict[str, torch.Tensor]) -> str | object:
    """The model's name for `key`, `_SPECIAL`, `key` itself if no rule knows it, or `_Lacking` for
    a known tensor whose place this model lacks."""
    if key in _SPECIAL_KEYS:
        return _SPECIAL
    if key.startswith(DETECTRON2_PREFIX):
        ours = detectron2_resnet_key(key[len(DETECTRON2_PREFIX):])
        return BACKBONE + ours if ours is not None else key
    for prefix, replacement, lacking in _RENAMES:
        if key.startswith(prefix):
            ours = replacement + key[len(prefix):]
            return _Lacking(lacking) if lacking and ours not in target else ours
    return key


def _special_tensors(state: dict, target: dict, weights: dict, notes: list[str]) -> set[str]:
    """The tensors whose layout differs from ClipBERT's, each built so that the model computes
    what ClipBERT computes; returns the source keys used."""
    used = set()
    text_types = state.get("transformer.bert.embeddings.token_type_embeddings.weight")
    visual_type = state.get("transformer.bert.visual_embeddings.token_type_embeddings.weight")
    if text_types is not None and visual_type is not None:
        # ClipBERT: text tokens are type 0 of BERT's table, visual tokens have a 1-row table of their
        # own; here visual tokens are type 1 of BERT's table. BERT's own type 1 is never read by ClipBERT.
        weights["cross.bert.embeddings.token_type_embeddings.weight"] = torch.cat([text_types[:1], visual_type[:1]])
        used |= {"transformer.bert.embeddings.token_type_embeddings.weight",
                 "transformer.bert.visual_embeddings.token_type_embeddings.weight"}
        notes.append("cross.bert.embeddings.token_type_embeddings: row 0 = ClipBERT's text type 0, row 1 = its "
                     "visual_embeddings.token_type_embeddings (ClipBERT never reads BERT's type 1 row)")
    for axis, ours in (("row", "cross.visual_embeddings.row.weight"), ("col", "cross.visual_embeddings.col.weight")):
        key = f"transformer.bert.visual_embeddings.{axis}_position_embeddings.weight"
        source = state.get(key)
        if source is None or ours not in target:
            continue
        rows = target[ours].shape[0]
        weights[ours] = source[:rows]
        used.add(key)
        if source.shape[0] > rows:
            notes.append(f"{ours}: ClipBERT's first {rows} of {source.shape[0]} {axis} positions (a grid has at "
                         f"most {rows}: {rows * 64} px at the backbone's stride 64)")
    _derived(target, weights, notes)
    return used


def _derived(target: dict, weights: dict, notes: list[str]) -> None:
    """Parts of our visual embedding ClipBERT has not: the projection (ClipBERT's grid_encoder
    already gives hidden-size features) starts as the identity, the time table (ClipBERT averages
    a clip's frames and adds no time embedding) as zeros."""
    proj = "cross.visual_embeddings.proj.weight"
    if proj in target and proj not in weights:
        shape = target[proj].shape
        if shape[0] != shape[1]:
            raise BadInputError(f"ClipBERT's grid features are {shape[0]}-dimensional, this model's visual "
                                f"projection takes {shape[1]}: use model.backbone clipbert_grid_r50")
        weights[proj] = torch.eye(shape[0])
        weights["cross.visual_embeddings.proj.bias"] = torch.zeros(shape[0])
        notes.append("cross.visual_embeddings.proj: the identity (ClipBERT's grid_encoder gives the hidden size)")
    time = "cross.visual_embeddings.time.weight"
    if time in target and time not in weights:
        weights[time] = torch.zeros(target[time].shape)
        notes.append("cross.visual_embeddings.time: zeros (ClipBERT adds no time embedding to its mean-pooled frames)")


# --- the files ------------------------------------------------------------------------------------


def is_clipbert_state(state: dict) -> bool:
    """Whether a state dict is in ClipBERT's e2e layout (its `ClipBert` module's names)."""
    return any(k.startswith("cnn.feature.backbone.") for k in state) or any(
        k.startswith("transformer.bert.") for k in state)


def read_torch_file(path: Path) -> dict:
    """A torch file read as tensors and plain data only."""
    if path.suffix == ".pkl":
        raise BadInputError(f"{path}: a pickled detectron2 file is not read (it could run code); give the .pth "
                            "ClipBERT's scripts/download_pretrained.sh downloads (grid_feat_R-50.pth)")
    try:
        # not mmap: ClipBERT's files come from torch 1.5, whose (pre-zip) format cannot be mapped
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch zip file, or holding more than tensors and plain data
        raise BadInputError(f"{path} cannot be read as tensors only (torch.load with weights_only=True): "
                            f"{str(e).splitlines()[0]}") from None


def clipbert_layout(saved: dict, path: Path) -> dict[str, torch.Tensor]:
    """A ClipBERT e2e state dict, or a detectron2 / grid-feats checkpoint (`{"model": {...}}` or
    its bare state dict with `backbone.*` keys), as ClipBERT's `ClipBert` would name its tensors."""
    state = saved.get("model", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(f"{path} holds no state dict (a name -> tensor mapping, or one under 'model')")
    if is_clipbert_state(state):
        return state
    if any(k.startswith("backbone.res") for k in state):  # grid-feats' GeneralizedRCNN, loaded into cnn.feature
        return {DETECTRON2_PREFIX + k: v for k, v in state.items()}
    raise BadInputError(f"{path} is neither ClipBERT's e2e checkpoint (cnn.*, transformer.* tensors) nor a "
                        "detectron2 ResNet checkpoint (backbone.res2... tensors)")


def backbone_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone's tensors (ClipBertGridR50's names) in ClipBERT's layout: the ResNet and, in an
    e2e file, the grid_encoder; the rest of the file is for the rest of the model."""
    mapped = map_clipbert_state(state, {})
    return {k[len(BACKBONE):]: v for k, v in mapped.weights.items() if k.startswith(BACKBONE)}


def load_clipbert_grid_r50(backbone: torch.nn.Module, path: Path, write: Callable[[str], object]) -> None:
    """`backbone` (a ClipBertGridR50) from grid-feats' detectron2 file or ClipBERT's e2e file.
    Every ResNet tensor must be there; the grid_encoder is in an e2e file only (a grid-feats file
    leaves it as initialised, as ClipBERT's pre-training starts). What was read is written out."""
    state = clipbert_layout(read_torch_file(path), path)
    weights = backbone_weights(state)
    report = load_weights(backbone, weights, path, missing_ok=True)
    not_loaded = [k for k in report.missing if not k.startswith("grid_encoder.")]
    if not_loaded:
        raise BadInputError(f"{path} lacks {len(not_loaded)} of the ResNet-50's tensors, e.g. {', '.join(not_loaded[:3])}")
    write(f"model.backbone_dir {path}: {len(weights)} backbone tensors loaded"
          + (f"; {', '.join(report.missing)} not in the file (initialised randomly)" if report.missing else "")
          + f"; {len(state) - len(weights)} other tensors of the file not read by the backbone")
