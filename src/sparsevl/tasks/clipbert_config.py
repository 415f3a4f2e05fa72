"""ClipBERT's own config files read as training configs.

ClipBERT (jayleicn/ClipBERT) configures a run with a flat JSON file (`src/configs/*.json`, e.g.
`msrvtt_qa_base_resnet50.json`) whose keys are the argparse options of `src/configs/config.py`.
`from_clipbert(path, our_keys)` maps such a file to the data of a `RunConfig` and lists, as report lines,
what did not carry over: a key with no meaning here is reported (never silently dropped, never an
error), and so is every value that was derived or approximated. `load_config` reads a file through
it when the file has a key only ClipBERT uses (the `RunConfig.adapt_config_file` hook); the
report is printed, and the resolved config saved with the run is ours.

Keys of ours in such a file (e.g. a `model` section naming the backbone) are taken as they are, so
a ClipBERT config can be completed without rewriting it.
"""

from __future__ import annotations

import os
import posixpath
import sys
from typing import Any

from sparsevl.config import ConfigError, _read_json
from sparsevl.txt_db import ANS2LABEL_NAMES

# ClipBERT key -> our (dotted) key, the value carried over as it is.
RENAMED = {
    "num_frm": "model.num_frm",
    "train_n_clips": "train_n_clips",
    "inference_n_clips": "inference_n_clips",
    "score_agg_func": "score_agg_func",
    "max_img_size": "img_size",
    "learning_rate": "lr",
    "cnn_learning_rate": "backbone_lr",
    "weight_decay": "weight_decay",
    "num_train_epochs": "num_epochs",
    "train_batch_size": "train_batch_size",
    "val_batch_size": "val_batch_size",
    "gradient_accumulation_steps": "grad_accum_steps",
    "warmup_ratio": "warmup_ratio",
    "seed": "seed",
    "output_dir": "output_dir",
    "n_workers": "num_workers",
    "itm_neg_size": "retrieval.itm_neg_size",
    "margin": "retrieval.margin",
    "max_txt_len": "model.max_text_len",
    "dropout": "model.dropout",
}

_EVALUATE = "evaluation is `sparsevl evaluate --checkpoint CKPT --split SPLIT`"
# ClipBERT's weight files (scripts/download_pretrained.sh): the whole pre-trained model, or the
# two it starts from; ClipBERT reads the latter only without the former (setup_model).
WEIGHT_PATHS = ("e2e_weights_path", "detectron2_weights_path", "bert_weights_path")
# ClipBERT's model, for its weights: its backbone, frames mean-pooled, heads on BERT's pooler
CLIPBERT_MODEL = {"backbone": "clipbert_grid_r50", "fusion": "mean", "pool": "pooler"}
_SCHEDULE = "here: warmup over warmup_ratio of the steps, then linear decay to 0"

# ClipBERT keys with no counterpart here, and what is done instead.
NOT_USED = {
    "fps": (
        "the frame rate of the clips is that of the vis_db: chosen at extraction (`sparsevl "
        "extract-frames --fps N`), or when a ClipBERT vis_db is opened (1 fps by default); "
        "frm_stride 1 takes consecutive stored frames"
    ),
    "img_pixel_mean": "each backbone normalises frames as its checkpoint expects",
    "img_pixel_std": "each backbone normalises frames as its checkpoint expects",
    "img_input_format": "frames are RGB; each backbone converts as its checkpoint expects",
    "max_n_example_per_group": "a batch item is one video with all of its questions or captions",
    "frm_sampling_strategy": "here: random clip positions in training, uniform at inference",
    "random_sample_clips": "here: random clip positions in training, uniform at inference",
    "model_config": (
        "the BERT's sizes come from model.text_model_dir's config.json (or model.hidden_size, "
        "num_layers, ... without one)"
    ),
    "detectron2_model_cfg": (
        "ClipBERT's ResNet-50 grid features (detectron2's R-50-grid): here model.backbone clipbert_grid_r50, "
        "chosen with ClipBERT's weight files (docs/pretraining.md), or resnet50 with model.backbone_dir "
        "(docs/backbones.md); left as the file or the defaults have it"
    ),
    "optim": "here: AdamW",
    "cnn_optim": "here: AdamW, as for the rest of the model",
    "betas": "here: AdamW's default betas (0.9, 0.999)",
    "decay": _SCHEDULE,
    "cnn_lr_decay": _SCHEDULE,
    "step_decay_epochs": _SCHEDULE,
    "cnn_step_decay_epochs": _SCHEDULE,
    "cnn_weight_decay": "here: one weight_decay for the whole model",
    "cnn_sgd_momentum": "here: AdamW",
    "transformer_lr_mul": "here: lr for the cross-encoder and heads, backbone_lr for the backbone",
    "transformer_lr_mul_prefix": "here: lr for the cross-encoder and heads, backbone_lr for the backbone",
    "cnn_lr_mul": "here: lr for the cross-encoder and heads, backbone_lr for the backbone",
    "cnn_lr_mul_prefix": "here: lr for the cross-encoder and heads, backbone_lr for the backbone",
    "freeze_cnn": "not supported: the backbone is trained with backbone_lr",
    "classifier": "here: ClipBERT's mlp answer head (hidden -> 2 x hidden -> labels)",
    "cls_hidden_scale": "here: ClipBERT's mlp answer head (hidden -> 2 x hidden -> labels)",
    "num_labels": "here: one output per answer of the txt_db's ans2label.json",
    "min_valid_steps": "here: validation every valid_every_epochs epochs",
    "save_steps_ratio": "here: save_every_steps (0: checkpoints only at validation)",
    "eval_retrieval_batch_size": "here: retrieval.eval_pairs_per_batch",
    "inference_model_step": _EVALUATE,
    "do_inference": _EVALUATE,
    "inference_split": _EVALUATE,
    "inference_txt_db": _EVALUATE,
    "inference_img_db": _EVALUATE,
    "inference_batch_size": _EVALUATE + " (with val_batch_size)",
    "debug": "not supported",
    "data_ratio": "not supported",
    "pin_mem": "not supported",
    "pixel_random_sampling_size": "PixelBERT's random subset of grid cells: every cell is used here",
}

# Keys handled one by one below (their value is converted, or depends on the task).
CONVERTED = frozenset({
    "train_datasets", "val_datasets", "task", "fp16", "grad_norm", "loss_type", "num_valid",
    "tokenizer_dir", "ans2label_path", *WEIGHT_PATHS, "use_itm", "use_mlm", "itm_neg_prob",
})
CLIPBERT_KEYS = frozenset(RENAMED) | frozenset(NOT_USED) | CONVERTED

# ClipBERT's `task` (src/configs/config.py, get_video_qa_args) -> ours.
CLIPBERT_TASKS = {
    "msrvtt_qa": "video_qa",
    "frameqa": "video_qa",
    "action": "multiple_choice",  # TGIF-QA action and transition: 5 options per question
    "transition": "multiple_choice",
}
OUR_TASKS = ("video_qa", "retrieval", "multiple_choice", "pretrain")
# ClipBERT's dataset names (the `name` of a train_datasets entry) that tell the task.
DATASET_TASKS = {
    "msrvtt_qa": "video_qa",
    "msrvtt": "retrieval",
    "msrvtt_retrieval": "retrieval",
    "didemo": "retrieval",
    "didemo_retrieval": "retrieval",
    "anet": "retrieval",
    "anet_retrieval": "retrieval",
    "msrvtt_mc": "multiple_choice",
    "msrvtt_retrieval_mc": "multiple_choice",
    "vqa": "video_qa",  # VQA v2: images as 1-frame videos (_vqa)
    "coco_cap": "pretrain",  # ClipBERT's image-text pre-training: COCO and Visual Genome captions
    "vg_cap": "pretrain",
}

# ClipBERT's container mounts the video LMDBs at /img; ours (launch_container.sh) at /vis.
CLIPBERT_VIS_MOUNT, OUR_VIS_MOUNT = "/img", "/vis"


def is_clipbert_config(data: Any, ours: set[str]) -> bool:
    """A JSON object with a key that ClipBERT uses and the run config (whose top-level keys are
    `ours`) does not."""
    return isinstance(data, dict) and any(k in CLIPBERT_KEYS and k not in ours for k in data)


def from_clipbert(path: str | os.PathLike, ours: set[str]) -> tuple[dict, list[str]]:
    """A ClipBERT config file -> (data for the run config, report lines)."""
    source = os.fspath(path)
    data = _read_json(source)
    if not isinstance(data, dict):
        raise ConfigError(f"expected a JSON object, got {type(data).__name__}", "", source)
    return convert_clipbert(data, source, ours)


def convert_clipbert(data: dict, source: str, ours: set[str]) -> tuple[dict, list[str]]:
    """The mapping of `from_clipbert`, for data already read; `source` names the file in errors
    and, when the file says nothing else, its name tells the task (`..._ret_...`, `..._qa_...`).
    `ours`: the run config's top-level keys (taken as they are when a file has them)."""
    out: dict[str, Any] = {}
    report: list[str] = []
    task = _task(data, source, report)
    out["task"] = task
    # ClipBERT's model, implied by any of its configs; the file's own `model` section may change it.
    out["retrieval"] = {}
    if not _weights(data, out, report, source):
        out["model"] = {"backbone": "resnet50", "fusion": "mean", "frozen_bn": True}
        report.append("model.backbone = resnet50, model.fusion = mean, model.frozen_bn = true: ClipBERT's model "
                      "(ResNet-50 grid features, mean pooling of a clip's frames, frozen BatchNorm); give its "
                      "weights with --model.backbone_dir FOLDER (docs/backbones.md)")
    _datasets(data, out, report, source, task)
    if task == "pretrain":
        _pretrain_datasets(data, out, report, source)
    if "vqa" in _dataset_names(data):
        _vqa(out, report)
    for key, value in data.items():
        if key in RENAMED:
            _put(out, RENAMED[key], value)
        elif key in CONVERTED:
            _convert(key, value, task, data, out, report, source)
        elif key in NOT_USED:
            report.append(f"{key} = {_show(value)}: not used; {NOT_USED[key]}")
        elif key in ours:  # one of our keys: taken as it is (a section is merged)
            if isinstance(out.get(key), dict) and not isinstance(value, dict):
                raise ConfigError(f"expected an object, got {_show(value)}", key, source)
            _put(out, key, value)
        else:
            report.append(f"{key} = {_show(value)}: neither a ClipBERT nor a sparsevl key; ignored")
    return out, report


def print_report(source: str, report: list[str], file=None) -> None:
    print(f"{source}: a ClipBERT config, read as a sparsevl config:", file=file or sys.stderr)
    for line in report:
        print(f"  {line}", file=file or sys.stderr)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _put(out: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):
        node[leaf] = {**node[leaf], **value}
    else:
        node[leaf] = value


def _task(data: dict, source: str, report: list[str]) -> str:
    """Ours, from ClipBERT's `task`, else the dataset names, else the file name."""
    given = data.get("task")
    if given in OUR_TASKS:
        return given
    if given is not None:
        if given not in CLIPBERT_TASKS:
            raise ConfigError(
                f"unknown ClipBERT task {given!r} (known: {', '.join(CLIPBERT_TASKS)})", "task", source
            )
        report.append(f"task = {CLIPBERT_TASKS[given]} (ClipBERT task {given!r})")
        return CLIPBERT_TASKS[given]
    for name in _dataset_names(data, source):
        if name in DATASET_TASKS:
            report.append(f"task = {DATASET_TASKS[name]} (from the dataset name {name!r})")
            return DATASET_TASKS[name]
    stem = posixpath.basename(source.replace(os.sep, "/")).lower()
    for marker, task in (("_action", "multiple_choice"), ("_transition", "multiple_choice"),
                         ("_mc", "multiple_choice"), ("_ret", "retrieval"), ("_qa", "video_qa")):
        if marker in stem:
            report.append(f"task = {task} (from the file name)")
            return task
    raise ConfigError("cannot tell the task from ClipBERT's `task`, the dataset names or the file "
                      f"name: add \"task\": one of {', '.join(OUR_TASKS)}", "task", source)


def _dataset_names(data: dict, source: str = "") -> list[str]:
    return [e["name"] for k in ("train_datasets", "val_datasets") for e in _entries(data, k, source)
            if "name" in e]


def _vqa(out: dict, report: list[str]) -> None:
    """ClipBERT's VQA (run_vqa.py) as a video_qa run on the txt_db of `txt_db_tools.vqa_v2`, whose
    images are 1-frame videos. What differs from ClipBERT is reported."""
    ours = {"train_split": "train", "val_split": "val"}
    given = {k: out.get(k) for k in ours}
    out.update(ours)
    out["model"]["num_frm"] = 1
    out["train_n_clips"] = out["inference_n_clips"] = 1
    report.append(
        f"VQA: train_split = 'train', val_split = 'val' (the file names {given['train_split']!r}, "
        f"{given['val_split']!r}, ClipBERT's own split of VQA v2): the splits `python -m "
        "txt_db_tools.vqa_v2` writes (train2014, val2014); its ans2label.json (--top-k 3129 for "
        "ClipBERT's 3,129 answers) is the answer vocabulary")
    report.append("VQA: model.num_frm = 1, train_n_clips = inference_n_clips = 1: an image is a 1-frame "
                  "video (`sparsevl extract-frames` on the COCO 2014 images)")
    report.append(
        "VQA: trained with cross-entropy on each question's `answer` (the most frequent of its 10), "
        "and scored by exact match with it; ClipBERT trains with binary cross-entropy on the soft "
        "scores of the 10 answers (`labels`, kept in the txt_db) and scores a prediction by its soft "
        "score (0.3, 0.6, 0.9, 1 for an answer given 1, 2, 3, 4+ times): numbers are not comparable")


def _entries(data: dict, key: str, source: str) -> list[dict]:
    """The entries of train_datasets / val_datasets ([] if absent), checked to be ClipBERT's shape."""
    entries = data.get(key)
    if entries is None:
        return []
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("expected a list of {name, txt, img} objects", key, source)
    return entries


def _dataset(data: dict, key: str, report: list[str], source: str, mixed: bool = False) -> tuple[str, str, str | None] | None:
    """(txt_db folder, split, vis_db) of the first entry of train_datasets / val_datasets
    (`mixed`: the others are used too, by pre-training)."""
    entries = _entries(data, key, source)
    if not entries:
        return None
    if len(entries) > 1 and not mixed:
        names = ", ".join(repr(e.get("name")) for e in entries[1:])
        report.append(f"{key}: only the first dataset is used; not used: {names}")
    return _entry_paths(data, entries[0], f"{key}[0]", report, source)


def _entry_paths(data: dict, entry: dict, key: str, report: list[str], source: str) -> tuple[str, str, str | None]:
    """(txt_db folder, split, vis_db) of one entry of train_datasets / val_datasets (`key`: its place)."""
    txt = entry.get("txt")
    if isinstance(txt, list) and txt:  # VQA: several annotation files (VQA v2, Visual Genome QA)
        if len(txt) > 1:
            report.append(f"{key}.txt: only the first file is used; not used: {', '.join(map(str, txt[1:]))}")
        txt = txt[0]
    if isinstance(txt, dict):  # TGIF-QA: {task: file}, ClipBERT picks the file of its `task`
        chosen = data.get("task") if data.get("task") in txt else (next(iter(txt)) if len(txt) == 1 else None)
        if chosen is None:
            raise ConfigError(f"names several files ({', '.join(txt)}) and `task` picks none of them",
                              f"{key}.txt", source)
        if len(txt) > 1:
            report.append(f"{key}.txt: the {chosen!r} file is used; not used: "
                          + ", ".join(k for k in txt if k != chosen))
        txt = txt[chosen]
    if not isinstance(txt, str) or not txt.endswith(".jsonl"):
        raise ConfigError(f"expected the path of a .jsonl file, got {_show(txt)}", f"{key}.txt", source)
    folder, name = posixpath.split(txt)
    img = entry.get("img")
    if img is not None:
        if not isinstance(img, str):
            raise ConfigError(f"expected a path, got {_show(img)}", f"{key}.img", source)
        img = posixpath.normpath(img)
        if img == CLIPBERT_VIS_MOUNT or img.startswith(CLIPBERT_VIS_MOUNT + "/"):
            moved = OUR_VIS_MOUNT + img[len(CLIPBERT_VIS_MOUNT):]
            report.append(f"{key}.img = {img!r} -> vis_db {moved!r}: ClipBERT's container mounts "
                          f"VIS_DB at {CLIPBERT_VIS_MOUNT}, launch_container.sh at {OUR_VIS_MOUNT}")
            img = moved
    return folder, name[: -len(".jsonl")], img


def _datasets(data: dict, out: dict, report: list[str], source: str, task: str) -> None:
    train = _dataset(data, "train_datasets", report, source, mixed=task == "pretrain")
    val = _dataset(data, "val_datasets", report, source)
    if train is not None:
        out["txt_db"], out["train_split"] = train[0], train[1]
        if train[2] is not None:
            out["vis_db"] = train[2]
    if val is None:
        if train is not None:
            out["val_split"] = None
            report.append("val_datasets: none given, so no periodic validation (val_split = null)")
        return
    out["val_split"] = val[1]
    if train is None:
        out["txt_db"] = val[0]
        if val[2] is not None:
            out["vis_db"] = val[2]
        return
    if val[0] != train[0]:
        report.append(f"val_datasets[0].txt: the val split is read from the train txt_db {train[0]!r} "
                      f"as {val[1]}.jsonl, not from {val[0]!r}: one txt_db per run here")
    if val[2] is not None and val[2] != train[2]:
        report.append(f"val_datasets[0].img = {val[2]!r}: not used; one vis_db per run here ({train[2]!r})")


def _weights(data: dict, out: dict, report: list[str], source: str) -> bool:
    """ClipBERT's weight files -> ClipBERT's model (`CLIPBERT_MODEL`) reading them; False if the
    file names none. The e2e file is the run's `init_checkpoint` (every tensor mapped by
    `sparsevl.models.clipbert_weights`, the rest reported) and also the backbone's `backbone_dir`;
    grid-feats' detectron2 file is the backbone's; BERT's file is read from its folder."""
    paths = {}
    for key in WEIGHT_PATHS:
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and value):
            raise ConfigError(f"expected a path or null, got {_show(value)}", key, source)
        if value is None:
            if key in data:
                report.append(f"{key} = None: not used")
            continue
        paths[key] = posixpath.normpath(value)
    if not paths:
        return False
    out["model"] = dict(CLIPBERT_MODEL)
    e2e = paths.get("e2e_weights_path")
    if e2e is not None:
        out["init_checkpoint"] = e2e
        out["model"]["backbone_dir"] = e2e
        report.append(f"e2e_weights_path = {e2e!r} -> init_checkpoint and model.backbone_dir: ClipBERT's whole model, "
                      "mapped onto model.backbone clipbert_grid_r50, fusion mean, pool pooler (docs/pretraining.md)")
        for key in ("detectron2_weights_path", "bert_weights_path"):
            if key in paths:
                report.append(f"{key} = {paths[key]!r}: not used; e2e_weights_path holds the whole model "
                              "(ClipBERT reads it only without one)")
        return True
    detectron2 = paths.get("detectron2_weights_path")
    if detectron2 is not None:
        out["model"]["backbone_dir"] = detectron2
        report.append(f"detectron2_weights_path = {detectron2!r} -> model.backbone_dir of model.backbone "
                      "clipbert_grid_r50 (fusion mean, pool pooler; docs/pretraining.md)")
    else:
        report.append("model.backbone = clipbert_grid_r50 (fusion mean, pool pooler): ClipBERT's model; "
                      "give its ResNet weights with --model.backbone_dir FILE (grid_feat_R-50.pth)")
    bert = paths.get("bert_weights_path")
    if bert is not None:
        folder = posixpath.dirname(bert) if posixpath.splitext(bert)[1] else bert
        tokenizer = data.get("tokenizer_dir")
        if isinstance(tokenizer, str) and posixpath.normpath(tokenizer) != folder:
            raise ConfigError(f"the BERT's weights and tokenizer come from one folder here (model.text_model_dir), "
                              f"but tokenizer_dir is {tokenizer!r}", "bert_weights_path", source)
        _put(out, "model.text_model_dir", folder)
        report.append(f"bert_weights_path = {bert!r} -> model.text_model_dir {folder!r} (config.json, weights "
                      "and vocab.txt read from that folder)")
    return True


def _pretrain_datasets(data: dict, out: dict, report: list[str], source: str) -> None:
    """Every train_datasets entry a dataset of the pre-training mix (`pretrain.train_datasets`);
    an image set (`vis_format: image`) is one of 1-frame videos. ClipBERT trains MLM and ITM."""
    parts = []
    for i, entry in enumerate(_entries(data, "train_datasets", source)):
        # (the first entry's paths were reported as the run's txt_db and vis_db)
        folder, split, img = _entry_paths(data, entry, f"train_datasets[{i}]", report if i else [], source)
        if img is None:
            raise ConfigError("expected the image or video store (img) of the dataset", f"train_datasets[{i}].img", source)
        part = {"name": entry.get("name", ""), "txt_db": folder, "split": split, "vis_db": img}
        if entry.get("vis_format") == "image":
            part["num_frm"] = 1
        parts.append(part)
    _put(out, "pretrain.train_datasets", parts)
    _put(out, "pretrain.itc_weight", 0.0)
    report.append(f"train_datasets: {len(parts)} dataset(s) mixed, one pass over each per epoch "
                  "(pretrain.train_datasets); pretrain.itc_weight = 0: ClipBERT pre-trains with MLM and ITM only")
    images = all(p.get("num_frm") == 1 for p in parts)
    if images and "num_frm" not in data:
        for key, value in (("model.num_frm", 1), ("train_n_clips", 1), ("inference_n_clips", 1)):
            _put(out, key, value)
        report.append("model.num_frm = 1, train_n_clips = 1, inference_n_clips = 1: image datasets "
                      "(vis_format image), one frame each")


def _convert(key: str, value: Any, task: str, data: dict, out: dict, report: list[str], source: str) -> None:
    if key in ("train_datasets", "val_datasets", "task", *WEIGHT_PATHS):
        return  # read by _datasets, _task and _weights
    if key == "fp16":
        if value not in (0, 1) or isinstance(value, float):
            raise ConfigError(f"expected 0, 1, true or false, got {_show(value)}", key, source)
        out["amp"] = "fp16" if value else "none"
        report.append(f"fp16 = {value!r} -> amp = {out['amp']!r} (torch.amp, not NVIDIA apex)")
    elif key == "grad_norm":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"expected a number, got {_show(value)}", key, source)
        out["grad_clip"] = float(value) if value > 0 else 0.0  # ClipBERT: -1 disables clipping
    elif key == "loss_type":
        if task == "retrieval":
            _put(out, "retrieval.loss_type", value)
        else:  # ClipBERT sets ce for every QA task whatever the file says
            report.append(f"loss_type = {_show(value)}: not used; {task} trains with cross-entropy")
    elif key == "num_valid":
        epochs = data.get("num_train_epochs", 10)  # ClipBERT's default
        if not isinstance(value, int) or isinstance(value, bool) or value < 1 or not isinstance(epochs, int):
            report.append(f"num_valid = {_show(value)}: not used; validation every epoch")
            return
        every = max(1, round(epochs / value))
        out["valid_every_epochs"] = every
        report.append(f"num_valid = {value} -> valid_every_epochs = {every}: validation counts whole "
                      f"epochs here ({epochs} epochs / {value} validations)")
    elif key in ("use_itm", "use_mlm", "itm_neg_prob"):
        if task != "pretrain":
            report.append(f"{key} = {_show(value)}: not used; pre-training only")
        elif key == "itm_neg_prob":
            _put(out, "pretrain.itm_neg_prob", value)
        else:
            if value not in (0, 1) or isinstance(value, float):
                raise ConfigError(f"expected 0 or 1, got {_show(value)}", key, source)
            weight = "pretrain.itm_weight" if key == "use_itm" else "pretrain.mlm_weight"
            _put(out, weight, float(value))
            report.append(f"{key} = {value!r} -> {weight} = {float(value):g}")
    elif key == "tokenizer_dir":
        folder = posixpath.normpath(value) if isinstance(value, str) else value
        _put(out, "model.text_model_dir", folder)
        report.append(f"tokenizer_dir = {_show(value)} -> model.text_model_dir: that folder must be a "
                      "BERT-layout model (config.json, weights, vocab.txt), e.g. bert-base-uncased")
    elif key == "ans2label_path":
        txt_db = out.get("txt_db")
        where, name = posixpath.split(value) if isinstance(value, str) else (None, None)
        if txt_db is not None and where == txt_db and name in ANS2LABEL_NAMES:
            report.append(f"ans2label_path = {_show(value)}: not needed; found in the txt_db folder")
        else:
            report.append(f"ans2label_path = {_show(value)}: not used; the answer vocabulary is read from "
                          f"the txt_db folder as {' or '.join(ANS2LABEL_NAMES)}: copy it there")
