"""ClipBERT's own config files (jayleicn/ClipBERT, src/configs/*.json) read as RunConfig."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from sparsevl.config import ConfigError, from_dict, load_config, to_dict
from sparsevl.tasks.clipbert_config import NOT_USED, RENAMED
from sparsevl.tasks.clipbert_config import from_clipbert as _from_clipbert
from sparsevl.tasks.clipbert_config import is_clipbert_config as _is_clipbert
from sparsevl.tasks.config import RunConfig

OURS = {f.name for f in dataclasses.fields(RunConfig)}


def from_clipbert(path):
    return _from_clipbert(path, OURS)


def is_clipbert_config(data):
    return _is_clipbert(data, OURS)


# The keys and values of ClipBERT's released configs, in their layout (src/configs/*.json).
_COMMON = {
    "img_pixel_mean": [123.675, 116.28, 103.53],
    "img_pixel_std": [1.0, 1.0, 1.0],
    "img_input_format": "BGR",
    "max_n_example_per_group": 1,
    "model_config": "src/configs/base_model.json",
    "detectron2_model_cfg": "src/configs/detectron2_configs/R-50-grid.yaml",
    "e2e_weights_path": "/pretrain/clipbert_image_text_pretrained.pt",
    "detectron2_weights_path": None,
    "bert_weights_path": None,
    "tokenizer_dir": "/pretrain/bert-base-uncased/",
}
_OPTIM = {
    "learning_rate": 5e-5, "weight_decay": 1e-3, "decay": "linear", "optim": "adamw",
    "betas": [0.9, 0.98], "dropout": 0.1, "grad_norm": 5.0, "cnn_learning_rate": 5e-5,
    "cnn_weight_decay": 1e-3, "cnn_lr_decay": "linear", "seed": 42, "fp16": 1,
}
MSRVTT_QA = {
    "train_datasets": [{"name": "msrvtt_qa", "txt": {"msrvtt_qa": "/txt/msrvtt_qa/train.jsonl"},
                        "img": "/img/msrvtt"}],
    "val_datasets": [{"name": "msrvtt_qa", "txt": {"msrvtt_qa": "/txt/msrvtt_qa/val.jsonl"},
                      "img": "/img/msrvtt"}],
    "ans2label_path": "/txt/msrvtt_qa/train_ans2label.json",
    "max_txt_len": 100, "max_img_size": 448, **_COMMON,
    "fps": 2, "num_frm": 2, "train_n_clips": 8, "score_agg_func": "lse",
    "output_dir": "/storage/msrvtt_qa_default", "train_batch_size": 16, "val_batch_size": 16,
    "gradient_accumulation_steps": 1, "num_train_epochs": 10, "min_valid_steps": 50, "num_valid": 10,
    **_OPTIM, "classifier": "mlp", "cls_hidden_scale": 2, "task": "msrvtt_qa",
}
MSRVTT_RET = {
    "train_datasets": [{"name": "msrvtt", "txt": "/txt/msrvtt_retrieval/train.jsonl", "img": "/img/msrvtt"}],
    "val_datasets": [{"name": "msrvtt_retrieval", "txt": "/txt/msrvtt_retrieval/val.jsonl",
                      "img": "/img/msrvtt"}],
    "max_txt_len": 20, "max_img_size": 448, **_COMMON,
    "fps": 2, "num_frm": 2, "train_n_clips": 8, "score_agg_func": "lse",
    "output_dir": "/storage/msrvtt_ret_default", "train_batch_size": 16, "val_batch_size": 16,
    "gradient_accumulation_steps": 1, "num_train_epochs": 20, "min_valid_steps": 100, "num_valid": 100,
    **_OPTIM, "loss_type": "ce", "itm_neg_size": 1,
}
_TGIF_TXT = {t: f"/txt/tgif_qa/{t}_{{}}.jsonl" for t in ("action", "transition", "frameqa")}
TGIF_ACTION = {
    "train_datasets": [{"name": "tgif_qa", "txt": {t: p.format("train") for t, p in _TGIF_TXT.items()},
                        "img": "/img/tgif"}],
    "val_datasets": [{"name": "tgif_qa", "txt": {t: p.format("val") for t, p in _TGIF_TXT.items()},
                      "img": "/img/tgif"}],
    "ans2label_path": "/txt/tgif_qa/frameqa_trainval_ans2label.json",
    "max_txt_len": 25, "max_img_size": 768, **_COMMON,
    "fps": 1, "num_frm": 1, "train_n_clips": 1,
    "output_dir": "/storage/tgif_qa_action_default", "train_batch_size": 16, "val_batch_size": 16,
    "gradient_accumulation_steps": 1, "num_train_epochs": 15, "min_valid_steps": 20, "num_valid": 15,
    **_OPTIM, "classifier": "mlp", "cls_hidden_scale": 2, "task": "action",
}


# jayleicn/ClipBERT src/configs/vqa_base_resnet50.json, every key and value as released.
VQA = {
    "train_datasets": [{"name": "vqa", "txt": ["/txt/vqa/vqa_k_trainval.jsonl", "/txt/vqa/vg_k_trainval.jsonl"],
                        "img": "/img/coco_train2014_val2014"}],
    "val_datasets": [{"name": "vqa", "txt": "/txt/vqa/vqa_k_test.jsonl", "img": "/img/coco_train2014_val2014"}],
    "ans2label_path": "/txt/vqa/trainval_ans2label.json",
    "max_txt_len": 20, "max_img_size": 768, **_COMMON, "max_n_example_per_group": 2,
    "output_dir": "/storage/vqa_default", "train_batch_size": 32, "val_batch_size": 32,
    "gradient_accumulation_steps": 1, "num_train_epochs": 5, "min_valid_steps": 100, "num_valid": 30,
    **_OPTIM, "learning_rate": 1e-4, "grad_norm": 2.0, "cnn_learning_rate": 1e-4,
    "classifier": "mlp", "cls_hidden_scale": 2, "num_labels": 3129,
}


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2))
    return path


def with_backbone(mapped: dict) -> dict:
    """The mapped config with the ResNet-50 weights given (ClipBERT's e2e file gives them itself)."""
    return mapped if "backbone_dir" in mapped["model"] else {
        **mapped, "model": {**mapped["model"], "backbone_dir": "/pretrain/resnet-50"}}


def reported_keys(report: list[str]) -> set[str]:
    return {line.split(" ", 1)[0].split("[", 1)[0] for line in report}


def test_clipbert_file_without_the_pretrained_weights_is_refused_naming_the_folder(tmp_path):
    path = write(tmp_path, "msrvtt_qa_base_resnet50.json", {**MSRVTT_QA, "e2e_weights_path": None})
    with pytest.raises(ConfigError, match=r"backbone 'resnet50' needs backbone_dir: .*--model.backbone_dir FOLDER.*"
                                          r"--allow-missing-pretrained"):
        load_config(RunConfig, path)
    given = load_config(RunConfig, path, ["--model.backbone_dir", "/pretrain/resnet-50"])
    assert (given.model.backbone, given.model.backbone_dir) == ("resnet50", "/pretrain/resnet-50")
    allowed = load_config(RunConfig, path, ["--model.allow_missing_pretrained", "true"])
    assert (allowed.model.backbone, allowed.model.backbone_dir) == ("resnet50", None)


def test_msrvtt_qa(tmp_path):
    mapped, report = from_clipbert(write(tmp_path, "msrvtt_qa_base_resnet50.json", MSRVTT_QA))
    cfg = from_dict(RunConfig, with_backbone(mapped))  # a valid RunConfig, validation included
    assert (cfg.task, cfg.txt_db, cfg.train_split, cfg.val_split) == ("video_qa", "/txt/msrvtt_qa", "train", "val")
    assert cfg.vis_db == "/vis/msrvtt"  # ClipBERT's /img mount is our /vis
    assert cfg.output_dir == "/storage/msrvtt_qa_default"
    assert (cfg.model.num_frm, cfg.train_n_clips, cfg.score_agg_func, cfg.img_size) == (2, 8, "lse", 448)
    assert (cfg.lr, cfg.backbone_lr, cfg.weight_decay, cfg.grad_clip) == (5e-5, 5e-5, 1e-3, 5.0)
    assert (cfg.num_epochs, cfg.train_batch_size, cfg.val_batch_size, cfg.grad_accum_steps) == (10, 16, 16, 1)
    assert (cfg.amp, cfg.seed, cfg.valid_every_epochs) == ("fp16", 42, 1)
    m = cfg.model
    assert (m.max_text_len, m.dropout, m.text_model_dir) == (100, 0.1, "/pretrain/bert-base-uncased")
    # ClipBERT's model, for the e2e checkpoint the file names (tests/models/test_clipbert_weights.py)
    assert (m.backbone, m.fusion, m.frozen_bn, m.pool) == ("clipbert_grid_r50", "mean", False, "pooler")
    assert cfg.init_checkpoint == m.backbone_dir == "/pretrain/clipbert_image_text_pretrained.pt"
    # every key without a counterpart is listed, with its value
    expected = {"img_pixel_mean", "img_pixel_std", "img_input_format", "fps", "max_n_example_per_group",
                "model_config", "detectron2_model_cfg", "e2e_weights_path", "detectron2_weights_path",
                "bert_weights_path", "min_valid_steps", "decay", "optim", "betas", "cnn_weight_decay",
                "cnn_lr_decay", "classifier", "cls_hidden_scale"}
    assert expected <= reported_keys(report)
    assert ("e2e_weights_path = '/pretrain/clipbert_image_text_pretrained.pt' -> init_checkpoint and "
            "model.backbone_dir") in "\n".join(report)
    assert any(line.startswith("ans2label_path") and "found in the txt_db folder" in line for line in report)
    assert any(line.startswith("task = video_qa") for line in report)
    # nothing is lost: each key of the file is mapped, converted or reported
    handled = set(RENAMED) | reported_keys(report) | {"train_datasets", "val_datasets", "grad_norm"}
    assert set(MSRVTT_QA) <= handled


def test_weight_files_choose_clipberts_model_and_where_each_is_read(tmp_path):
    """The e2e file is the whole model (init_checkpoint; its ResNet also the backbone's file); without
    one, grid-feats' file is the backbone's and BERT's file is read from its folder, as ClipBERT's
    pre-training config has them."""
    separate = {**MSRVTT_QA, "e2e_weights_path": None, "detectron2_weights_path": "/pretrain/grid_feat_R-50.pth",
                "bert_weights_path": "/pretrain/bert-base-uncased/pytorch_model.bin"}
    mapped, report = from_clipbert(write(tmp_path, "x.json", separate))
    cfg = from_dict(RunConfig, mapped)
    assert cfg.init_checkpoint is None
    assert (cfg.model.backbone, cfg.model.backbone_dir, cfg.model.text_model_dir, cfg.model.pool) == (
        "clipbert_grid_r50", "/pretrain/grid_feat_R-50.pth", "/pretrain/bert-base-uncased", "pooler")
    assert "e2e_weights_path = None: not used" in report
    both = {**separate, "e2e_weights_path": "/pretrain/clipbert_image_text_pretrained.pt"}
    mapped, report = from_clipbert(write(tmp_path, "y.json", both))
    assert mapped["init_checkpoint"] == mapped["model"]["backbone_dir"] == "/pretrain/clipbert_image_text_pretrained.pt"
    assert "detectron2_weights_path = '/pretrain/grid_feat_R-50.pth': not used; e2e_weights_path holds the whole " \
           "model (ClipBERT reads it only without one)" in report
    with pytest.raises(ConfigError, match="one folder here") as info:  # one folder gives BERT and its tokenizer
        from_clipbert(write(tmp_path, "z.json", {**separate, "tokenizer_dir": "/pretrain/other/"}))
    assert info.value.key == "bert_weights_path"


def test_msrvtt_retrieval(tmp_path):
    mapped, report = from_clipbert(write(tmp_path, "msrvtt_ret_base_resnet50.json", MSRVTT_RET))
    cfg = from_dict(RunConfig, with_backbone(mapped))
    assert (cfg.task, cfg.txt_db, cfg.train_split, cfg.val_split) == (
        "retrieval", "/txt/msrvtt_retrieval", "train", "val")
    assert (cfg.retrieval.loss_type, cfg.retrieval.itm_neg_size, cfg.retrieval.objective) == ("ce", 1, "itm")
    assert (cfg.model.max_text_len, cfg.num_epochs) == (20, 20)
    assert cfg.valid_every_epochs == 1  # 100 validations in 20 epochs: every epoch is the closest
    assert any(line.startswith("task = retrieval (from the dataset name 'msrvtt')") for line in report)
    assert any(line.startswith("num_valid = 100 -> valid_every_epochs = 1") for line in report)


def test_tgif_action_is_multiple_choice(tmp_path):
    mapped, report = from_clipbert(write(tmp_path, "tgif_qa_action_base_resnet50.json", TGIF_ACTION))
    cfg = from_dict(RunConfig, with_backbone(mapped))
    assert cfg.task == "multiple_choice"
    # the txt file of ClipBERT's task is the split; its folder the txt_db
    assert (cfg.txt_db, cfg.train_split, cfg.val_split) == ("/txt/tgif_qa", "action_train", "action_val")
    assert (cfg.model.num_frm, cfg.train_n_clips, cfg.img_size, cfg.model.max_text_len) == (1, 1, 768, 25)
    text = "\n".join(report)
    assert "train_datasets[0].txt: the 'action' file is used; not used: transition, frameqa" in text
    assert "ans2label_path = '/txt/tgif_qa/frameqa_trainval_ans2label.json': not used" in text


def test_load_config_reads_clipbert_files_and_prints_the_report(tmp_path, capsys):
    path = write(tmp_path, "didemo_ret_base_resnet50.json", {
        **MSRVTT_RET,
        "train_datasets": [{"name": "didemo", "txt": "/txt/didemo_retrieval/train.jsonl", "img": "/img/didemo/"}],
        "val_datasets": [{"name": "didemo_retrieval", "txt": "/txt/didemo_retrieval/val.jsonl", "img": "/img/didemo"}],
        "train_batch_size": 8, "gradient_accumulation_steps": 4,
    })
    cfg = load_config(RunConfig, path, ["--lr", "1e-4", "--model.backbone", "resnet50",
                                          "--model.backbone_dir", "/pretrain/resnet-50"])
    assert (cfg.txt_db, cfg.vis_db, cfg.grad_accum_steps) == ("/txt/didemo_retrieval", "/vis/didemo", 4)
    assert (cfg.lr, cfg.model.backbone) == (1e-4, "resnet50")  # overrides apply after the mapping
    err = capsys.readouterr().err
    assert f"{path}: a ClipBERT config, read as a sparsevl config:" in err
    assert "  betas = [0.9, 0.98]: not used" in err


def test_our_configs_are_read_as_before(tmp_path, capsys):
    ours = {"task": "retrieval", "txt_db": "t", "vis_db": "v", "output_dir": "o", "lr": 3e-4,
            "model": {"fusion": "concat", "max_text_len": 24}, "retrieval": {"itm_neg_size": 3}}
    assert not is_clipbert_config(ours)
    cfg = load_config(RunConfig, write(tmp_path, "ours.json", ours), ["--model.num_frm", "3"])
    assert cfg == from_dict(RunConfig, {**ours, "model": {**ours.get("model", {}), "num_frm": 3}})
    assert capsys.readouterr().err == ""
    # an unknown key of ours is still an error, ClipBERT's names are not guessed for it
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(RunConfig, write(tmp_path, "typo.json", {**ours, "lr_typo": 1}))


def test_our_keys_complete_a_clipbert_file(tmp_path):
    data = {**MSRVTT_QA, "model": {"backbone": "resnet50", "backbone_dir": "/pretrain/resnet-50"},
            "frm_stride": 2, "not_a_key": 3}
    mapped, report = from_clipbert(write(tmp_path, "x.json", data))
    cfg = from_dict(RunConfig, mapped)
    assert (cfg.model.backbone, cfg.model.max_text_len, cfg.model.fusion) == ("resnet50", 100, "mean")
    assert cfg.frm_stride == 2
    assert "not_a_key = 3: neither a ClipBERT nor a sparsevl key; ignored" in report


@pytest.mark.parametrize("name, extra, task", [
    ("anet_ret_base_resnet50.json", {}, "retrieval"),
    ("my_copy.json", {"task": "transition"}, "multiple_choice"),
    ("msrvtt_mc_zero_shot.json", {}, "multiple_choice"),
    ("tgif_qa_frameqa_base_resnet50.json", {"task": "frameqa"}, "video_qa"),
])
def test_task_from_task_key_or_file_name(tmp_path, name, extra, task):
    data = {"train_datasets": [{"name": "somewhere", "txt": "/txt/x/train.jsonl", "img": "/img/x"}],
            "output_dir": "/storage/x", **extra}
    mapped, _ = from_clipbert(write(tmp_path, name, data))
    assert mapped["task"] == task
    assert mapped["val_split"] is None  # no val_datasets: no periodic validation


def test_values_converted(tmp_path):
    data = {**MSRVTT_RET, "fp16": 0, "grad_norm": -1, "loss_type": "rank", "margin": 0.1,
            "inference_n_clips": 16, "n_workers": 4, "warmup_ratio": 0.05}
    cfg = from_dict(RunConfig, with_backbone(from_clipbert(write(tmp_path, "r_ret.json", data))[0]))
    assert (cfg.amp, cfg.grad_clip) == ("none", 0.0)  # ClipBERT's grad_norm -1: no clipping
    assert (cfg.retrieval.loss_type, cfg.retrieval.margin) == ("rank", 0.1)
    assert (cfg.inference_n_clips, cfg.num_workers, cfg.warmup_ratio) == (16, 4, 0.05)


@pytest.mark.parametrize("data, key, message", [
    ({"train_datasets": [{"name": "tgif_qa", "txt": {"action": "/a.jsonl", "frameqa": "/f.jsonl"}}],
      "task": "transition"}, "task", "unknown ClipBERT task|picks none"),
    ({"train_datasets": [{"name": "tgif_qa", "txt": {"action": "/a.jsonl", "frameqa": "/f.jsonl"}}]},
     "task", "cannot tell the task"),
    ({"train_datasets": [{"name": "msrvtt", "txt": "/txt/x/train"}]}, "train_datasets[0].txt", "jsonl"),
    ({"train_datasets": "/txt/x"}, "train_datasets", "list of"),
    ({"train_datasets": [{"name": "coco_cap", "txt": "/txt/pretrain/coco_train_captions.jsonl"}]},
     "train_datasets[0].img", "expected the image or video store"),
    ({**MSRVTT_RET, "fp16": "yes"}, "fp16", "expected 0, 1"),
    ({**MSRVTT_RET, "retrieval": 3}, "retrieval", "expected an object"),
])
def test_errors_name_the_clipbert_key(tmp_path, data, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        from_clipbert(write(tmp_path, "x.json", data))
    assert info.value.key in (key, "train_datasets[0].txt")


def test_every_known_key_is_mapped_or_explained():
    assert not set(RENAMED) & set(NOT_USED)
    assert all(reason for reason in NOT_USED.values())
    assert to_dict(RunConfig())  # the mapping targets exist in RunConfig
    for ours in RENAMED.values():
        section, _, leaf = ours.rpartition(".")
        fields = to_dict(RunConfig())[section] if section else to_dict(RunConfig())
        assert leaf in fields, ours


def test_vqa_is_video_qa_on_one_frame_videos(tmp_path):
    mapped, report = from_clipbert(write(tmp_path, "vqa_base_resnet50.json", VQA))
    cfg = from_dict(RunConfig, with_backbone(mapped))
    assert (cfg.task, cfg.txt_db, cfg.vis_db) == ("video_qa", "/txt/vqa", "/vis/coco_train2014_val2014")
    # the splits of txt_db_tools.vqa_v2, not ClipBERT's own (reported)
    assert (cfg.train_split, cfg.val_split) == ("train", "val")
    assert (cfg.model.num_frm, cfg.train_n_clips, cfg.inference_n_clips) == (1, 1, 1)
    assert (cfg.img_size, cfg.model.max_text_len, cfg.lr, cfg.backbone_lr, cfg.grad_clip) == (768, 20, 1e-4, 1e-4, 2.0)
    assert (cfg.num_epochs, cfg.train_batch_size, cfg.valid_every_epochs) == (5, 32, 1)
    text = "\n".join(report)
    assert "train_datasets[0].txt: only the first file is used; not used: /txt/vqa/vg_k_trainval.jsonl" in text
    assert "'vqa_k_trainval', 'vqa_k_test'" in text and "txt_db_tools.vqa_v2" in text
    assert "binary cross-entropy on the soft scores" in text  # what differs from ClipBERT is said
    assert "num_labels = 3129: not used" in text
    handled = set(RENAMED) | reported_keys(report) | {"train_datasets", "val_datasets", "grad_norm"}
    assert set(VQA) <= handled


def _vqa_answers(*given: str) -> list[dict]:
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(given)]


def _vqa_release(ann: Path, subtype: str, image_ids: list[int]) -> None:
    """VQA v2's questions and annotations files (published layout), two questions per image."""
    questions, annotations = [], []
    for image_id in image_ids:
        for n, (question, answer, kind) in enumerate([("Is there a dog?", "yes" if image_id % 2 else "no", "yes/no"),
                                                      ("How many cats?", str(image_id % 3), "number")]):
            qid = image_id * 1000 + n
            questions.append({"image_id": image_id, "question": question, "question_id": qid})
            annotations.append({"question_type": question.lower()[:8], "multiple_choice_answer": answer,
                                "image_id": image_id, "answer_type": kind, "question_id": qid,
                                "answers": _vqa_answers(*[answer] * 8, "maybe", "2")})
    ann.mkdir(exist_ok=True)
    (ann / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(json.dumps(
        {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {}, "data_subtype": subtype,
         "questions": questions}))
    (ann / f"v2_mscoco_{subtype}_annotations.json").write_text(json.dumps(
        {"info": {}, "license": {}, "data_subtype": subtype, "data_type": "mscoco", "annotations": annotations}))


def test_vqa_config_trains_on_a_vqa_v2_txt_db_and_images(tmp_path, capsys):
    from PIL import Image

    from sparsevl.cli import main
    from sparsevl.data.extract_frames import extract_frames
    from txt_db_tools.vqa_v2 import convert, image_video_id

    ann, images = tmp_path / "ann", tmp_path / "images"
    splits = {"train2014": [1, 2, 3, 4, 5, 6], "val2014": [7, 8, 9]}
    rng = np.random.default_rng(0)
    images.mkdir()
    for subtype, ids in splits.items():
        _vqa_release(ann, subtype, ids)
        for image_id in ids:  # COCO 2014's file names: COCO_train2014_000000000001.jpg
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(
                images / f"{image_video_id(subtype, image_id)}.jpg")
    convert(ann, tmp_path / "txt_db", quiet=True)
    assert extract_frames(images, tmp_path / "vis_db", workers=0, progress=False).stored == 9

    # ClipBERT's file with its data paths pointing at these stores, as a user edits them
    data = {**VQA, "train_datasets": [{**VQA["train_datasets"][0], "img": str(tmp_path / "vis_db"),
                                       "txt": [str(tmp_path / "txt_db" / "vqa_k_trainval.jsonl")]}],
            "val_datasets": [{**VQA["val_datasets"][0], "img": str(tmp_path / "vis_db"),
                              "txt": str(tmp_path / "txt_db" / "vqa_k_test.jsonl")}],
            "output_dir": str(tmp_path / "run")}
    config = write(tmp_path, "vqa_base_resnet50.json", data)
    tiny = ["--model.backbone", "tiny_cnn", "--model.backbone_channels", "8", "--model.backbone_blocks", "2",
            "--model.frozen_bn", "false", "--model.text_model_dir", "null", "--model.hidden_size", "32",
            "--model.num_layers", "1", "--model.num_heads", "2", "--model.intermediate_size", "64",
            "--img_size", "32", "--amp", "none", "--device", "cpu", "--num_workers", "0",
            "--train_batch_size", "4", "--val_batch_size", "8", "--log_every_steps", "1",
            # no ClipBERT weights here: the e2e checkpoint the file names is not loaded
            "--init_checkpoint", "null", "--model.backbone_dir", "null"]
    assert main(["train", "--config", str(config), "--max_steps", "2", *tiny]) == 0
    assert "VQA: train_split = 'train', val_split = 'val'" in capsys.readouterr().err
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in log if "train/loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    val = [r for r in log if "val/All" in r]
    assert len(val) == 1 and 0 <= val[0]["val/All"] <= 100
    assert {"val/yes/no", "val/number"} <= set(val[0])  # VQA's answer types
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["model"]["num_frm"], saved["train_n_clips"], saved["val_split"]) == (1, 1, "val")


# src/configs/pretrain_image_text_base_resnet50_mlm_itm.json, as published
PRETRAIN_IMAGE_TEXT = {
    "train_datasets": [
        {"name": "coco_cap", "vis_format": "image", "txt": "/txt/pretrain/coco_train_captions.jsonl",
         "img": "/img/coco_train2014_val2014"},
        {"name": "vg_cap", "vis_format": "image", "txt": "/txt/pretrain/vg_train_captions.jsonl", "img": "/img/vg"},
    ],
    "val_datasets": [
        {"name": "coco_cap", "vis_format": "image", "txt": "/txt/pretrain/coco_val_captions.jsonl",
         "img": "/img/coco_train2014_val2014"},
        {"name": "vg_cap", "vis_format": "image", "txt": "/txt/pretrain/vg_val_captions.jsonl", "img": "/img/vg"},
    ],
    "img_pixel_mean": [123.675, 116.28, 103.53], "img_pixel_std": [1.0, 1.0, 1.0], "img_input_format": "BGR",
    "model_config": "src/configs/base_model.json",
    "detectron2_model_cfg": "src/configs/detectron2_configs/R-50-grid.yaml",
    "e2e_weights_path": None, "detectron2_weights_path": "/pretrain/grid_feat_R-50.pth",
    "bert_weights_path": "/pretrain/bert-base-uncased/pytorch_model.bin", "tokenizer_dir": "/pretrain/bert-base-uncased/",
    "output_dir": "/storage/pretrain_default/", "max_txt_len": 30, "max_img_size": 768, "train_batch_size": 32,
    "val_batch_size": 32, "max_n_example_per_group": 2, "gradient_accumulation_steps": 2, "num_train_epochs": 40,
    "min_valid_steps": 100, "num_valid": 200, "learning_rate": 5e-5, "decay": "linear", "optim": "adamw",
    "betas": [0.9, 0.98], "dropout": 0.1, "weight_decay": 1e-3, "grad_norm": 5.0, "cnn_learning_rate": 5e-5,
    "cnn_weight_decay": 1e-3, "cnn_lr_decay": "linear", "pixel_random_sampling_size": 100, "seed": 42, "fp16": 1,
    "use_itm": 1, "use_mlm": 1,
}


def test_image_text_pretraining_is_a_pretrain_run_on_coco_and_vg_mixed(tmp_path):
    mapped, report = from_clipbert(write(tmp_path, "pretrain_image_text_base_resnet50_mlm_itm.json",
                                         PRETRAIN_IMAGE_TEXT))
    cfg = from_dict(RunConfig, with_backbone(mapped))
    assert cfg.task == "pretrain"
    assert (cfg.txt_db, cfg.train_split, cfg.val_split, cfg.vis_db) == (
        "/txt/pretrain", "coco_train_captions", "coco_val_captions", "/vis/coco_train2014_val2014")
    parts = [(d.name, d.txt_db, d.split, d.vis_db, d.num_frm, d.batch_size, d.ratio) for d in cfg.pretrain.train_datasets]
    assert parts == [("coco_cap", "/txt/pretrain", "coco_train_captions", "/vis/coco_train2014_val2014", 1, None, 1.0),
                     ("vg_cap", "/txt/pretrain", "vg_train_captions", "/vis/vg", 1, None, 1.0)]
    p = cfg.pretrain
    assert (p.mlm_weight, p.itm_weight, p.itc_weight, p.itm_negatives, p.itm_neg_prob) == (1.0, 1.0, 0.0, "random", 0.5)
    assert (cfg.model.num_frm, cfg.train_n_clips, cfg.inference_n_clips, cfg.model.fusion) == (1, 1, 1, "mean")
    assert (cfg.model.max_text_len, cfg.img_size, cfg.grad_accum_steps, cfg.amp) == (30, 768, 2, "fp16")
    text = "\n".join(report)
    assert "task = pretrain (from the dataset name 'coco_cap')" in text
    assert "use_itm = 1 -> pretrain.itm_weight = 1" in text and "use_mlm = 1 -> pretrain.mlm_weight = 1" in text
    assert "val_datasets: only the first dataset is used; not used: 'vg_cap'" in text
    assert "train_datasets: only the first" not in text
    assert "pixel_random_sampling_size = 100: not used" in text
    # nothing is lost: each key of the file is mapped, converted or reported
    handled = set(RENAMED) | reported_keys(report) | {"train_datasets", "val_datasets", "grad_norm", "itm_neg_prob"}
    assert set(PRETRAIN_IMAGE_TEXT) <= handled
    no_itm = from_dict(RunConfig, with_backbone(from_clipbert(write(tmp_path, "p.json", {
        **PRETRAIN_IMAGE_TEXT, "use_itm": 0, "itm_neg_prob": 0.3}))[0]))
    assert (no_itm.pretrain.itm_weight, no_itm.pretrain.itm_neg_prob) == (0.0, 0.3)


def test_clipberts_pretraining_config_trains_on_image_text_txt_dbs(tmp_path):
    """The published file, its paths moved to tiny image-text txt_dbs (COCO and VG captions of
    1-frame videos) and a tiny model, trains 2 steps."""
    from sparsevl.data.demo_data import DemoSpec, generate
    from sparsevl.data.extract_frames import extract_frames
    from sparsevl.runner.checkpoint import latest_checkpoint
    from sparsevl.runner.train import train
    from sparsevl.txt_db import load_split, write_jsonl
    from txt_db_tools.activitynet_captions import convert

    generate(tmp_path / "demo", DemoSpec(num_videos=10, seed=4), progress=False)
    for name in ("coco", "vg"):
        extract_frames(tmp_path / "demo" / "videos", tmp_path / "img" / name, num_frames=1, max_size=32, workers=0,
                       progress=False)
    convert(tmp_path / "demo" / "captions", tmp_path / "captions", quiet=True)
    records = load_split(tmp_path / "captions", "train") + load_split(tmp_path / "captions", "val_1")
    for split in ("coco_train_captions", "vg_train_captions", "coco_val_captions"):
        write_jsonl(tmp_path / "txt" / "pretrain" / f"{split}.jsonl", records)
    data = json.loads(json.dumps(PRETRAIN_IMAGE_TEXT).replace("/txt/", f"{tmp_path}/txt/")
                      .replace("/img/coco_train2014_val2014", f"{tmp_path}/img/coco").replace("/img/vg", f"{tmp_path}/img/vg"))
    path = write(tmp_path, "pretrain_image_text_base_resnet50_mlm_itm.json", data)
    cfg = load_config(RunConfig, path, [
        "--output_dir", str(tmp_path / "run"), "--model.backbone", "tiny_cnn", "--model.backbone_channels", "16",
        "--model.backbone_blocks", "3", "--model.hidden_size", "32", "--model.num_layers", "1", "--model.num_heads", "2",
        "--model.intermediate_size", "64", "--model.embed_dim", "16", "--model.text_model_dir", "null",
        "--model.backbone_dir", "null",
        "--img_size", "32", "--train_batch_size", "4", "--grad_accum_steps", "1", "--amp", "none", "--max_steps", "2",
        "--device", "cpu", "--log_every_steps", "1"])
    metrics = train(cfg, progress=False)
    assert latest_checkpoint(tmp_path / "run").name == "step_0000002.pt"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "train/mlm_loss" in e and "train/itm_loss" in e] == [1, 2]
    assert {"mlm_accuracy", "itm_accuracy", "t2v_R@1"} <= metrics.keys()
