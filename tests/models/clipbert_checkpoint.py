"""ClipBERT's checkpoint layout, listed from its module definitions (jayleicn/ClipBERT,
src/modeling/{e2e_model,grid_feat,modeling,transformers}.py with detectron2's GeneralizedRCNN as
grid-feats-vqa's R-50-grid.yaml configures it), for tests that cannot download the real file.

`ClipBert.cnn` is `GridFeatBackbone`: `feature` (detectron2's whole model: ResNet-50 backbone with
FrozenBN and res5, the RPN, AttributeStandardROIHeads, pixel_mean/std) and `grid_encoder` (conv,
max-pool, ReLU). `ClipBert.transformer` is `ClipBertForPreTraining` (bert + cls) or a fine-tuning
model (bert + classifier).
"""

from __future__ import annotations

import torch

HIDDEN, INTERMEDIATE, VOCAB = 768, 3072, 30522
RESNET50_STAGES = ((2, 64, 64, 256, 3), (3, 256, 128, 512, 4), (4, 512, 256, 1024, 6), (5, 1024, 512, 2048, 3))
ANCHORS = 15  # detectron2's default anchors: 5 sizes x 3 aspect ratios, one feature map (res5)
OBJECTS, ATTRIBUTES = 1600, 400  # Visual Genome's classes in grid-feats-vqa


def _norm(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.norm.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}


def detectron2_resnet50_shapes(prefix: str = "backbone.") -> dict[str, tuple[int, ...]]:
    """detectron2's build_resnet_backbone, depth 50, FrozenBN: the stem and res2..res5."""
    shapes = {f"{prefix}stem.conv1.weight": (64, 3, 7, 7), **_norm(f"{prefix}stem.conv1", 64)}
    for stage, c_in, c_mid, c_out, blocks in RESNET50_STAGES:
        for i in range(blocks):
            block = f"{prefix}res{stage}.{i}"
            first_in = c_in if i == 0 else c_out
            if i == 0:
                shapes[f"{block}.shortcut.weight"] = (c_out, c_in, 1, 1)
                shapes.update(_norm(f"{block}.shortcut", c_out))
            for conv, shape in (("conv1", (c_mid, first_in, 1, 1)), ("conv2", (c_mid, c_mid, 3, 3)),
                                ("conv3", (c_out, c_mid, 1, 1))):
                shapes[f"{block}.{conv}.weight"] = shape
                shapes.update(_norm(f"{block}.{conv}", shape[0]))
    return shapes


def detectron2_model_shapes() -> dict[str, tuple[int, ...]]:
    """grid-feats-vqa's GeneralizedRCNN (R-50-grid.yaml): the backbone and its detection heads."""
    return {
        "pixel_mean": (3, 1, 1), "pixel_std": (3, 1, 1),
        **detectron2_resnet50_shapes(),
        "proposal_generator.rpn_head.conv.weight": (2048, 2048, 3, 3),
        "proposal_generator.rpn_head.conv.bias": (2048,),
        "proposal_generator.rpn_head.objectness_logits.weight": (ANCHORS, 2048, 1, 1),
        "proposal_generator.rpn_head.objectness_logits.bias": (ANCHORS,),
        "proposal_generator.rpn_head.anchor_deltas.weight": (4 * ANCHORS, 2048, 1, 1),
        "proposal_generator.rpn_head.anchor_deltas.bias": (4 * ANCHORS,),
        "roi_heads.box_head.fc1.weight": (1024, 2048), "roi_heads.box_head.fc1.bias": (1024,),
        "roi_heads.box_head.fc2.weight": (1024, 1024), "roi_heads.box_head.fc2.bias": (1024,),
        "roi_heads.box_predictor.cls_score.weight": (OBJECTS + 1, 1024),
        "roi_heads.box_predictor.cls_score.bias": (OBJECTS + 1,),
        "roi_heads.box_predictor.bbox_pred.weight": (4 * OBJECTS, 1024),
        "roi_heads.box_predictor.bbox_pred.bias": (4 * OBJECTS,),
        "roi_heads.attribute_predictor.obj_embed.weight": (OBJECTS + 1, 256),
        "roi_heads.attribute_predictor.fc.0.weight": (512, 1024 + 256),
        "roi_heads.attribute_predictor.fc.0.bias": (512,),
        "roi_heads.attribute_predictor.attr_score.weight": (ATTRIBUTES, 512),
        "roi_heads.attribute_predictor.attr_score.bias": (ATTRIBUTES,),
    }


def bert_layer_shapes(prefix: str) -> dict[str, tuple[int, ...]]:
    h, i = HIDDEN, INTERMEDIATE
    shapes = {}
    for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
        shapes.update({f"{prefix}.{name}.weight": (h, h), f"{prefix}.{name}.bias": (h,)})
    shapes.update({
        f"{prefix}.attention.output.LayerNorm.weight": (h,), f"{prefix}.attention.output.LayerNorm.bias": (h,),
        f"{prefix}.intermediate.dense.weight": (i, h), f"{prefix}.intermediate.dense.bias": (i,),
        f"{prefix}.output.dense.weight": (h, i), f"{prefix}.output.dense.bias": (h,),
        f"{prefix}.output.LayerNorm.weight": (h,), f"{prefix}.output.LayerNorm.bias": (h,),
    })
    return shapes


def clipbert_base_model_shapes(num_layers: int, vocab: int = VOCAB) -> dict[str, tuple[int, ...]]:
    """ClipBertBaseModel (base_model.json): BERT's embeddings, the visual embeddings, encoder, pooler."""
    h = HIDDEN
    shapes = {
        "embeddings.word_embeddings.weight": (vocab, h), "embeddings.position_embeddings.weight": (512, h),
        "embeddings.token_type_embeddings.weight": (2, h),
        "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
        "visual_embeddings.position_embeddings.weight": (512, h),
        "visual_embeddings.row_position_embeddings.weight": (100, h),
        "visual_embeddings.col_position_embeddings.weight": (100, h),
        "visual_embeddings.token_type_embeddings.weight": (1, h),
        "visual_embeddings.LayerNorm.weight": (h,), "visual_embeddings.LayerNorm.bias": (h,),
        "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,),
    }
    for n in range(num_layers):
        shapes.update(bert_layer_shapes(f"encoder.layer.{n}"))
    return shapes


def pretraining_heads_shapes(vocab: int = VOCAB) -> dict[str, tuple[int, ...]]:
    """BertPreTrainingHeads: the MLM head (decoder tied to the word embeddings, its bias linked to
    `predictions.bias`, both saved) and the ITM head (`seq_relationship`)."""
    h = HIDDEN
    return {
        "predictions.bias": (vocab,), "predictions.transform.dense.weight": (h, h),
        "predictions.transform.dense.bias": (h,), "predictions.transform.LayerNorm.weight": (h,),
        "predictions.transform.LayerNorm.bias": (h,), "predictions.decoder.weight": (vocab, h),
        "predictions.decoder.bias": (vocab,), "seq_relationship.weight": (2, h), "seq_relationship.bias": (2,),
    }


def e2e_shapes(num_layers: int = 12, vocab: int = VOCAB, num_labels: int | None = None) -> dict[str, tuple[int, ...]]:
    """ClipBert's state dict: ClipBertForPreTraining's (the released checkpoint), or with
    `num_labels` a fine-tuned ClipBertForSequenceClassification's (classifier instead of cls)."""
    shapes = {f"cnn.feature.{k}": v for k, v in detectron2_model_shapes().items()}
    shapes["cnn.grid_encoder.0.weight"] = (HIDDEN, 2048, 3, 3)
    shapes.update({f"transformer.bert.{k}": v for k, v in clipbert_base_model_shapes(num_layers, vocab).items()})
    if num_labels is None:
        shapes.update({f"transformer.cls.{k}": v for k, v in pretraining_heads_shapes(vocab).items()})
    else:
        shapes.update({"transformer.classifier.0.weight": (2 * HIDDEN, HIDDEN), "transformer.classifier.0.bias": (2 * HIDDEN,),
                       "transformer.classifier.2.weight": (num_labels, 2 * HIDDEN),
                       "transformer.classifier.2.bias": (num_labels,)})
    return shapes


def fill(shapes: dict[str, tuple[int, ...]], random: tuple[str, ...] = (), seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of these shapes: the tensors named in `random` random, every other one filled
    with its own constant (its index + 1, a zero-stride view: a small file), so that where each
    lands can be told."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, (name, shape) in enumerate(shapes.items()):
        if name in random:
            state[name] = torch.randn(shape, generator=g)
        else:
            state[name] = torch.full((1,) * len(shape), float(index + 1)).expand(shape)
    return state
