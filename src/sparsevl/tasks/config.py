"""The run config: what `sparsevl train --config FILE --key value ...` reads, and what a checkpoint
keeps so that evaluation and prediction can rebuild the run.

General settings at the top level, the model in `model`, and one section per task for what only
that task reads (`retrieval` for retrieval and multiple choice). A task's name is a key of the
registry (`sparsevl.tasks.registry`) or, for a task outside this package, `module:Class`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from sparsevl.models.factory import ModelConfig
from sparsevl.tasks.clipbert_config import convert_clipbert, is_clipbert_config, print_report
from sparsevl.tasks.registry import check_task_name


@dataclasses.dataclass
class RetrievalConfig:
    """Video-text matching: retrieval and multiple-choice QA."""

    # what retrieval trains: the cross-encoder's ITM head, the dual encoder, or both (summed)
    objective: Literal["itm", "contrastive", "itm+contrastive"] = "itm"
    itm_neg_size: int = 1  # negative captions per video for the ITM loss (ClipBERT's name)
    # where ITM negatives come from: random captions of the split (ClipBERT), or the batch's other
    # captions drawn by dual-encoder similarity (needs the contrastive objective)
    itm_negatives: Literal["random", "hard"] = "random"
    loss_type: Literal["ce", "rank"] = "ce"  # ITM loss: 2-way cross-entropy, or ClipBERT's ranking hinge
    margin: float = 0.2  # of the rank loss, on sigmoid match scores
    # how evaluation scores pairs: every pair by the cross-encoder (ClipBERT), dual-encoder
    # similarity, or the dual encoder's top `rerank_k` videos per text re-scored by the cross-encoder
    eval_mode: Literal["cross", "dual", "rerank"] = "cross"
    rerank_k: int = 16
    # what re-ranking sorts the candidates by: the cross-encoder's match log-odds alone ("itm"), or
    # plus `rerank_dual_weight` x the dual encoder's logit (its temperature-scaled similarity):
    # the two scores' evidence summed, so a candidate both rank well wins ("itm+dual")
    rerank_score: Literal["itm", "itm+dual"] = "itm"
    rerank_dual_weight: float = 1.0
    eval_pairs_per_batch: int = 512  # (text, video) pairs per cross-encoder forward at evaluation
    # keep every video's visual tokens on the CPU at evaluation and move only the pairs being scored
    # to the device: device memory bounded by eval_pairs_per_batch, not the number of videos (long
    # videos, e.g. ActivityNet at 96 frames; the TimeSformer + BERT retrieval suite's name)
    low_resource_eval: bool = False

    def validate(self) -> None:
        if self.itm_negatives == "hard" and self.objective != "itm+contrastive":
            raise ValueError("itm_negatives = hard needs objective = itm+contrastive")


@dataclasses.dataclass
class ClassificationConfig:
    """Video classification (action recognition): docs/action_recognition.md. The frames per clip
    are `model.num_frm`, dense clips' spacing `frm_stride`, training clips `train_n_clips`, the
    test's temporal views `inference_n_clips` and the frame size `img_size`."""

    # dense: num_frm frames frm_stride apart (Kinetics); segment: one frame per num_frm segments (TSN, SSv2)
    sampling: Literal["dense", "segment"] = "dense"
    # training crops: random_resized_crop takes scale_range of the frame's area; short_side_jitter
    # scales the short side to a random scale_range x img_size and crops img_size
    resize: Literal["random_resized_crop", "short_side_jitter"] = "random_resized_crop"
    scale_range: tuple[float, float] = (0.08, 1.0)
    hflip: bool = True  # random horizontal flips in training; off where labels say left or right (SSv2)
    test_spatial_views: Literal[1, 3] = 1  # crops per clip at test (x inference_n_clips temporal views)
    label_smoothing: float = 0.0

    def validate(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must be 0 < low <= high, got {list(self.scale_range)}")
        if self.resize == "random_resized_crop" and hi > 1:
            raise ValueError("random_resized_crop takes fractions of the frame's area: scale_range within (0, 1]")
        if self.resize == "short_side_jitter" and lo < 1:
            raise ValueError("short_side_jitter scales the short side to at least img_size: scale_range >= 1")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclasses.dataclass
class RunConfig:
    task: str = "video_qa"  # a registry name (sparsevl.tasks.registry) or module:Class
    txt_db: str = ""  # folder with {split}.jsonl (and ans2label.json for video_qa)
    # LMDB written by `sparsevl extract-frames`; or a list of them, or a folder of shards with the
    # manifest of `sparsevl vis-db index`, read as one store
    vis_db: str | list[str] = ""
    output_dir: str = ""  # the run folder: config.json, log.jsonl, tb/, ckpt/, results/
    train_split: str = "train"
    val_split: str | None = "val"  # None: no periodic validation
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    # Start from the weights of another run (a ckpt/step_*.pt, e.g. of pre-training) or a state
    # dict file: tensors the new model lacks or adds are reported, another shape is an error
    # unless its name starts with one of `init_skip` (e.g. ["head."] for a new answer head).
    init_checkpoint: str | None = None
    init_skip: list[str] = dataclasses.field(default_factory=list)
    retrieval: RetrievalConfig = dataclasses.field(default_factory=RetrievalConfig)
    classification: ClassificationConfig = dataclasses.field(default_factory=ClassificationConfig)

    # sparse sampling (ClipBERT's names; frames per clip are `model.num_frm`, the model is built for them)
    frm_stride: int = 1  # stored frames between a clip's frames (1 = consecutive)
    train_n_clips: int = 2
    inference_n_clips: int = 4
    score_agg_func: Literal["mean", "max", "lse"] = "mean"
    img_size: int = 64  # frames are resized (longer side) and padded to img_size x img_size

    # optimisation
    train_batch_size: int = 32  # videos per step, each with all of its questions
    val_batch_size: int = 64
    num_epochs: int = 10
    max_steps: int = 0  # > 0: stop after this many optimiser steps
    lr: float = 1e-3  # cross-encoder and heads
    backbone_lr: float = 1e-3  # visual backbone
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # of all steps, then linear decay to 0
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    grad_accum_steps: int = 1
    amp: Literal["none", "fp16", "bf16"] = "none"

    # bookkeeping
    valid_every_epochs: int = 1  # validate and checkpoint every N epochs (and at the end)
    save_every_steps: int = 0  # > 0: also checkpoint every N steps, for resuming long epochs
    log_every_steps: int = 10
    seed: int = 42
    # deterministic kernels where torch has them (same seed, same machine: same weights); slower on GPUs
    deterministic: bool = False
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # a bad record or sample (no frames, unreadable frame, missing field): skipped, reported in
    # problems.log and counted (and wrong in evaluation), or the run stops naming it
    on_error: Literal["skip", "stop"] = "skip"

    @classmethod
    def adapt_config_file(cls, data: dict, source: str) -> dict:
        """`load_config`'s hook: a ClipBERT config file (jayleicn/ClipBERT, src/configs/*.json) is
        mapped to ours by `clipbert_config`, which reports on stderr what did not carry over."""
        ours = {f.name for f in dataclasses.fields(cls)}
        if not is_clipbert_config(data, ours):
            return data
        mapped, report = convert_clipbert(data, source, ours)
        print_report(source, report)
        return mapped

    def validate(self) -> None:
        check_task_name(self.task)
        for name in ("txt_db", "vis_db", "output_dir"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be set")
        for name in ("frm_stride", "train_n_clips", "inference_n_clips", "img_size",
                     "train_batch_size", "val_batch_size", "grad_accum_steps", "valid_every_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
