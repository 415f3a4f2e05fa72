"""Pre-training end to end on tiny real data: demo videos as 4-frame videos and as 1-frame
"images", mixed in one run; every objective learns; resume is exact; the checkpoint is a
retrieval model zero-shot and the start of video_qa, retrieval and multiple-choice runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.cli import main
from sparsevl.config import ConfigError, from_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.problems import ProblemLog
from sparsevl.runner.checkpoint import InitCheckpoint, latest_checkpoint, load_checkpoint
from sparsevl.runner.optim import build_optimizer
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.matching import hard_negatives
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import load_split, write_jsonl
from txt_db_tools.activitynet_captions import convert as convert_captions
from txt_db_tools.activitynet_qa import convert as convert_qa

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pretrain")
    generate(root / "demo", DemoSpec(num_videos=16, seed=3), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis4", num_frames=4, max_size=32, workers=0, progress=False)
    extract_frames(root / "demo" / "videos", root / "vis1", num_frames=1, max_size=32, workers=0, progress=False)
    convert_captions(root / "demo" / "captions", root / "ret_db", quiet=True)
    convert_qa(root / "demo" / "annotations", root / "qa_db", quiet=True)
    captions = load_split(root / "ret_db", "train")
    rng = np.random.default_rng(0)
    mc = [{"qid": f"mc{i}", "video_id": r["video_id"], "answer": 0,
           "options": [r["caption"]] + [c["caption"] for c in rng.choice(captions, 3) if c["video_id"] != r["video_id"]][:2]}
          for i, r in enumerate(captions)]
    write_jsonl(root / "mc_db" / "train.jsonl", mc)
    return {"root": root, "ret_db": root / "ret_db", "qa_db": root / "qa_db", "mc_db": root / "mc_db",
            "vis4": root / "vis4", "vis1": root / "vis1"}


def config(data: dict, output_dir: Path, mixed: bool = True, pretrain: dict | None = None, **top) -> RunConfig:
    parts = [{"name": "images", "txt_db": str(data["ret_db"]), "vis_db": str(data["vis1"]), "num_frm": 1, "batch_size": 4},
             {"name": "videos", "txt_db": str(data["ret_db"]), "vis_db": str(data["vis4"]), "batch_size": 2}]
    return from_dict(RunConfig, {
        "task": "pretrain", "txt_db": str(data["ret_db"]), "vis_db": str(data["vis4"]), "output_dir": str(output_dir),
        "train_split": "train", "val_split": "val_1",
        "model": {"backbone_channels": 16, "backbone_blocks": 3, "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                  "intermediate_size": 64, "dropout": 0.0, "max_text_len": 40, "embed_dim": 16, "num_frm": 4,
                  "fusion": "mean"},
        "pretrain": {**(pretrain or {}), "train_datasets": parts if mixed else []},
        "train_n_clips": 1, "inference_n_clips": 1, "img_size": 32, "train_batch_size": 4, "val_batch_size": 8,
        "num_epochs": 1, "max_steps": 3, "warmup_ratio": 0.0, "log_every_steps": 1, "seed": 5, "device": "cpu",
        **top,
    })


@pytest.mark.parametrize("negatives", ["random", "hard"])
def test_steps_on_one_batch_lower_every_objective(data, tmp_path, negatives):
    task = build_task(config(data, tmp_path, mixed=False, pretrain={"itm_negatives": negatives}), ProblemLog())
    batch = next(iter(DataLoader(task.dataset("train", train=True), batch_size=6, collate_fn=task.collator)))
    assert (batch["mlm_labels"] != -100).any()
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = build_optimizer(model, 3e-3, 3e-3, 0.0)
    history = []
    for _ in range(12):
        torch.manual_seed(1)  # the same hard negatives each step: the same loss, lowered
        losses = task.loss(model, batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    for name in ("mlm_loss", "itm_loss", "itc_loss"):
        assert history[-1][name] < history[0][name], name
    # the MLM head's decoder is the word-embedding table
    assert model.mlm_head.predictions.decoder.weight is model.cross.bert.embeddings.word_embeddings.weight


def test_hard_negatives_are_the_closest_others_never_the_pair_itself():
    similarity = torch.full((4, 4), -30.0)
    similarity[0, 2] = similarity[1, 3] = similarity[2, 0] = similarity[3, 1] = 30.0
    similarity.fill_diagonal_(50.0)  # the positives score best but are never drawn
    excluded = torch.eye(4, dtype=torch.bool)
    torch.manual_seed(0)
    assert hard_negatives(similarity, excluded, 1)[:, 0].tolist() == [2, 3, 0, 1]
    assert hard_negatives(similarity.T, excluded, 1)[:, 0].tolist() == [2, 3, 0, 1]


def test_a_mix_of_image_and_video_batches_trains_and_validates(data, tmp_path):
    cfg = config(data, tmp_path, max_steps=0, num_epochs=1)
    task = build_task(cfg, ProblemLog())
    mixed = task.dataset("train", train=True)
    frames = {tuple(mixed[i]["frames"].shape[:2]) for i in (0, len(mixed) - 1)}
    assert frames == {(1, 1), (1, 4)}  # (clips, frames): images, then videos
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "train/loss" in e]
    assert len(steps) == mixed.batch_sampler(cfg.seed).batches_per_epoch
    val = next(e for e in log if "val/mlm_accuracy" in e)
    assert {"val/itm_accuracy", "val/t2v_R@1", "val/t2v_R@5", "val/t2v_R@10"} <= val.keys()


def test_concat_fusion_refuses_clips_of_several_lengths(data, tmp_path):
    cfg = config(data, tmp_path)
    cfg.model.fusion = "concat"
    with pytest.raises(ConfigError, match="concat fusion is built for one clip length"):
        build_task(cfg, ProblemLog())


def test_a_killed_mixed_run_resumed_ends_with_the_weights_of_an_uninterrupted_run(data, tmp_path, monkeypatch):
    full = config(data, tmp_path / "full", max_steps=0, num_epochs=2, save_every_steps=3, val_split=None)
    train(full, progress=False)
    killed = config(data, tmp_path / "killed", max_steps=0, num_epochs=2, save_every_steps=3, val_split=None)
    task_cls = type(build_task(killed, ProblemLog()))
    real_loss, calls = task_cls.loss, {"n": 0}

    def dying_loss(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # after the step-3 checkpoint, mid-epoch
            raise KeyboardInterrupt("killed")
        return real_loss(self, model, batch)

    monkeypatch.setattr(task_cls, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train(killed, progress=False)
    monkeypatch.setattr(task_cls, "loss", real_loss)
    assert latest_checkpoint(tmp_path / "killed").name == "step_0000003.pt"
    train(killed, progress=False, resume=True)
    expected = load_checkpoint(latest_checkpoint(tmp_path / "full"))["model"]
    resumed = load_checkpoint(latest_checkpoint(tmp_path / "killed"))["model"]
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)


# ---------------------------------------------------------------------------- hand-off


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("pretrained")
    train(config(data, run, pretrain={"itm_negatives": "hard"}), progress=False)
    return latest_checkpoint(run)


@pytest.mark.parametrize("mode", ["dual", "rerank"])
def test_evaluate_as_retrieval_gives_zero_shot_retrieval(data, pretrained, tmp_path, mode, capsys):
    assert main(["evaluate", "--checkpoint", str(pretrained), "--split", "val_1", "--out", str(tmp_path),
                 "--task", "retrieval", "--retrieval.eval_mode", mode]) == 0
    result = json.loads(next(tmp_path.glob(f"val_1_step*_retrieval_{mode}.json")).read_text())
    assert result["metrics"]["t2v"]["R@1"] is not None
    if mode == "dual":  # the same numbers as pre-training's own validation of the same checkpoint
        log = [json.loads(line) for line in (pretrained.parent.parent / "log.jsonl").read_text().splitlines()]
        val = [e for e in log if "val/t2v_R@1" in e][-1]
        assert result["metrics"]["t2v"]["R@1"] == pytest.approx(val["val/t2v_R@1"])
        assert result["metrics"]["t2v"]["R@10"] == pytest.approx(val["val/t2v_R@10"])


@pytest.mark.parametrize("task,txt_db,new_head", [
    ("video_qa", "qa_db", "head."), ("retrieval", "ret_db", None), ("multiple_choice", "mc_db", None),
])
def test_fine_tuning_starts_from_the_pretraining_checkpoint(data, pretrained, tmp_path, task, txt_db, new_head):
    cfg = config(data, tmp_path, mixed=False)
    cfg.task, cfg.txt_db, cfg.val_split, cfg.max_steps = task, str(data[txt_db]), None, 1
    cfg.init_checkpoint = str(pretrained)
    train(cfg, progress=False)
    init = next(e for e in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines()) if "init/checkpoint" in e)
    unused = {k.split(".")[0] for k in init["init/unexpected"]}
    if new_head:
        assert init["init/missing"] and all(k.startswith(new_head) for k in init["init/missing"])
        assert unused == {"mlm_head", "itm_head", "text_proj", "video_proj", "logit_scale"}
    else:
        assert init["init/missing"] == [] and unused == {"mlm_head"}
    weights = load_checkpoint(pretrained)["model"]
    tuned = build_task(cfg, ProblemLog(), load_checkpoint(pretrained)["task"]).build_model()
    # before its first step, the fine-tuned model's towers are the pre-trained ones
    InitCheckpoint.read(pretrained).load_into(tuned)
    towers = [k for k in tuned.state_dict() if k.startswith(("visual.", "cross."))]
    assert towers and all(torch.equal(tuned.state_dict()[k], weights[k]) for k in towers)


def test_predict_scores_captions_against_a_video_file(data, pretrained):
    from sparsevl.runner.predict import predict

    records = load_split(data["ret_db"], "val_1")
    video = data["root"] / "demo" / "videos" / f"{records[0]['video_id']}.mp4"
    rows = predict(pretrained, video, [r["caption"] for r in records]).prediction.rows
    assert sorted(r["text"] for r in rows) == sorted(r["caption"] for r in records)
    assert all({"cross_encoder", "dual"} <= row.keys() for row in rows)


def test_chinese_captions_pretrain_with_a_chinese_bert_folder(data, tmp_path):
    """The tokenizer is the text model folder's: a Chinese BERT's vocabulary (one token per
    character, as bert-base-chinese) splits Chinese captions into characters, which MLM masks."""
    from transformers import BertConfig, BertModel

    captions = ["一个红色的圆向左移动", "蓝色的方块向右移动", "绿色的三角形在旋转", "黄色的圆停在中间"]
    chars = sorted({c for text in captions for c in text})
    folder = tmp_path / "bert-chinese"
    BertModel(BertConfig(vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars) + "\n")
    videos = sorted({r["video_id"] for r in load_split(data["ret_db"], "train")})
    records = [{"cid": i, "video_id": v, "caption": captions[i % 4]} for i, v in enumerate(videos)]
    write_jsonl(tmp_path / "zh_db" / "train.jsonl", records)
    cfg = config(data, tmp_path / "run", mixed=False, txt_db=str(tmp_path / "zh_db"), val_split=None, max_steps=2)
    cfg.model.text_model_dir = str(folder)
    task = build_task(cfg, ProblemLog())
    batch = task.collator([task.dataset("train", train=True)[i] for i in range(8)])
    vocab = task.collator.tokenizer.get_vocab()
    assert task.collator.tokenizer.tokenize(captions[1]) == list(captions[1])
    masked = batch["mlm_labels"][batch["mlm_labels"] != -100]
    assert len(masked) and set(masked.tolist()) <= {vocab[c] for c in chars}  # only characters are masked, never [CLS]/[SEP]
    train(cfg, progress=False)
    assert latest_checkpoint(tmp_path / "run").name == "step_0000002.pt"
