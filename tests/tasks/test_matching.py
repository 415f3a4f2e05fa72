"""Retrieval and multiple choice end to end on tiny real data: demo videos -> extract-frames ->
ActivityNet Captions converter -> train -> evaluate in every mode; multiple choice zero-shot from
the retrieval checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.cli import main
from sparsevl.config import from_dict, to_dict
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.txt_db import load_split, write_jsonl
from sparsevl.tasks.retrieval_metrics import retrieval_metrics
from sparsevl.runner.checkpoint import latest_checkpoint, restore
from sparsevl.tasks.config import RunConfig
from sparsevl.problems import ProblemLog
from sparsevl.runner.evaluate import evaluate
from sparsevl.runner.predict import predict
from sparsevl.runner.train import train
from sparsevl.tasks.registry import build_task
from sparsevl.runner.optim import build_optimizer
from txt_db_tools.activitynet_captions import convert

NUM_VIDEOS = 24

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matching")
    generate(root / "demo", DemoSpec(num_videos=NUM_VIDEOS, seed=3), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=8, max_size=32, workers=0, progress=False)
    convert(root / "demo" / "captions", root / "txt_db", quiet=True)
    # multiple choice from the held-out captions: each video's paragraph among 4 others
    captions = load_split(root / "txt_db", "val_2")
    rng = np.random.default_rng(0)
    mc = []
    for i, r in enumerate(captions):
        others = [c["caption"] for c in captions if c["video_id"] != r["video_id"]]
        options = list(rng.choice(others, size=4, replace=False))
        answer = int(rng.integers(5))
        options.insert(answer, r["caption"])
        mc.append({"qid": f"mc{i}", "video_id": r["video_id"], "options": options, "answer": answer})
    write_jsonl(root / "mc_db" / "test.jsonl", mc)
    write_jsonl(root / "mc_db" / "train.jsonl", mc)
    return {"root": root, "txt_db": root / "txt_db", "vis_db": root / "vis_db", "mc_db": root / "mc_db"}


def config(data: dict, output_dir: Path, **retrieval) -> RunConfig:
    return from_dict(RunConfig, {
        "task": "retrieval",
        "txt_db": str(data["txt_db"]),
        "vis_db": str(data["vis_db"]),
        "output_dir": str(output_dir),
        "train_split": "train",
        "val_split": "val_1",
        "model": {"backbone_channels": 16, "backbone_blocks": 3, "hidden_size": 32, "num_layers": 1,
                  "num_heads": 2, "intermediate_size": 64, "dropout": 0.0, "max_text_len": 40, "embed_dim": 16,
                  "num_frm": 2},
        "retrieval": {"objective": "itm+contrastive", "itm_neg_size": 2, **retrieval},
        "train_n_clips": 1, "inference_n_clips": 2, "img_size": 32,
        "train_batch_size": 4, "val_batch_size": 8, "num_epochs": 1, "max_steps": 3,
        "warmup_ratio": 0.0, "log_every_steps": 1, "seed": 5, "device": "cpu",
    })


def test_hard_negatives_are_other_captions_of_the_batch_drawn_by_similarity(data, tmp_path):
    task = build_task(config(data, tmp_path, itm_negatives="hard"), ProblemLog())
    dataset = task.dataset("train", train=True)
    assert dataset[0]["labels"] == [1]  # positives only: the loss draws the negatives
    batch = task.collator([dataset[i] for i in range(4)])
    similarity = torch.full((4, 4), -30.0)
    similarity[2, 0] = similarity[3, 1] = similarity[0, 2] = similarity[1, 3] = 30.0  # caption j "looks like" video i
    torch.manual_seed(0)
    pairs = task._hard_negative_pairs(batch, similarity)
    assert pairs["video_index"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert pairs["labels"].tolist() == [1, 0, 0] * 4
    ids = [tuple(t.tolist()) for t in batch["input_ids"]]
    picked = [ids.index(tuple(t.tolist())) for t in pairs["input_ids"]]
    for v in range(4):
        own, negs = picked[3 * v], picked[3 * v + 1 : 3 * v + 3]
        assert own == v and v not in negs
        assert negs[0] == {0: 2, 1: 3, 2: 0, 3: 1}[v]  # the hardest caption is drawn first


def test_hard_negatives_never_repeat_the_positive_caption(data, tmp_path):
    task = build_task(config(data, tmp_path, itm_negatives="hard"), ProblemLog())
    dataset = task.dataset("train", train=True)
    batch = task.collator([dataset[i] for i in range(4)])
    batch["input_ids"][1] = batch["input_ids"][0]  # videos 0 and 1 share a caption
    batch["attention_mask"][1] = batch["attention_mask"][0]
    similarity = torch.zeros(4, 4)
    similarity[1, 0] = similarity[0, 1] = 50.0  # ... which the dual encoder finds closest
    for seed in range(20):
        torch.manual_seed(seed)
        pairs = task._hard_negative_pairs(batch, similarity)
        ids = pairs["input_ids"].view(4, 3, -1)
        for v in range(2):
            assert all(not torch.equal(ids[v, 0], ids[v, j]) for j in (1, 2))


def test_itm_batches_pair_each_video_with_its_caption_and_negatives_of_other_videos(data, tmp_path):
    task = build_task(config(data, tmp_path), ProblemLog())
    dataset = task.dataset("train", train=True)
    caption_of = {r["video_id"]: r["caption"] for r in load_split(data["txt_db"], "train")}
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["labels"] == [1, 0, 0]
        assert item["texts"][0] == caption_of[item["video_id"]]
        assert all(t != caption_of[item["video_id"]] for t in item["texts"][1:])
    epoch0 = [dataset[i]["texts"][1:] for i in range(6)]
    assert [dataset[i]["texts"][1:] for i in range(6)] == epoch0  # seeded: same negatives for (epoch, item)
    dataset.set_epoch(1)
    assert [dataset[i]["texts"][1:] for i in range(6)] != epoch0  # new negatives each epoch
    batch = task.collator([dataset[0], dataset[1]])
    assert batch["video_index"].tolist() == [0, 0, 0, 1, 1, 1]
    assert batch["input_ids"].shape[0] == 6 and batch["frames"].shape[:2] == (2, 1)


@pytest.mark.parametrize("objective,loss_type,negatives", [
    ("itm", "ce", "random"), ("itm", "rank", "random"), ("contrastive", "ce", "random"),
    ("itm+contrastive", "ce", "random"), ("itm+contrastive", "ce", "hard"),
])
def test_two_steps_on_one_batch_lower_the_loss(data, tmp_path, objective, loss_type, negatives):
    cfg = config(data, tmp_path, objective=objective, loss_type=loss_type, itm_negatives=negatives)
    task = build_task(cfg, ProblemLog())
    batch = next(iter(DataLoader(task.dataset("train", train=True), batch_size=4, collate_fn=task.collator)))
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = build_optimizer(model, 1e-3, 1e-3, 0.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = []
    for _ in range(3):
        loss = task.loss(model, batch)["loss"]
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0]
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> tuple[RunConfig, Path]:
    run = tmp_path_factory.mktemp("ret_run")
    cfg = config(data, run, eval_mode="rerank", rerank_k=3)
    train(cfg, progress=False)
    return cfg, latest_checkpoint(run)


def changed(cfg: RunConfig, **changes) -> RunConfig:
    d = to_dict(cfg)
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        (d[section] if section else d)[name] = value
    return from_dict(RunConfig, d)


def _result(cfg, checkpoint, split, **retrieval):
    overrides = [token for k, v in retrieval.items() for token in (f"--retrieval.{k}", str(v))]
    result, files = evaluate(checkpoint, split, overrides)
    return result, json.loads(next(iter(files.values())).read_text())


def data_dir(cfg: RunConfig) -> Path:
    return Path(cfg.txt_db)


def test_cross_mode_scores_every_pair_and_its_metrics_follow_from_the_matrix(trained):
    cfg, ckpt = trained
    result, saved = _result(cfg, ckpt, "val_2", eval_mode="cross")
    n = len(load_split(data_dir(cfg), "val_2"))
    assert n >= 4
    scores = np.array(saved["scores"])
    assert scores.shape == (len(saved["cids"]), len(saved["video_ids"])) == (n, n)
    assert saved["metrics"] == json.loads(json.dumps(retrieval_metrics(scores, saved["text_to_video"])))
    assert result.metrics["t2v_R@1"] == saved["metrics"]["t2v"]["R@1"]
    assert "t2v" in result.table and "v2t" in result.table


def test_rerank_of_every_video_ranks_as_the_full_cross_encoder(trained):
    cfg, ckpt = trained
    _, full = _result(cfg, ckpt, "val_2", eval_mode="cross")
    _, rerank = _result(cfg, ckpt, "val_2", eval_mode="rerank", rerank_k=100)
    scores = np.array(full["scores"])
    for t, (indices, rescored) in enumerate(zip(rerank["topk"]["indices"], rerank["topk"]["scores"])):
        assert sorted(indices) == list(range(scores.shape[1]))
        assert np.allclose(rescored, scores[t, indices], atol=1e-3)
    assert rerank["metrics"]["t2v"]["R@1"] == full["metrics"]["t2v"]["R@1"]


def test_dual_and_rerank_modes(trained):
    cfg, ckpt = trained
    _, dual = _result(cfg, ckpt, "val_2", eval_mode="dual")
    scores = np.array(dual["scores"])
    assert np.all(np.abs(scores) <= 1.0 + 1e-4)  # cosine similarities
    _, rerank = _result(cfg, ckpt, "val_2", eval_mode="rerank", rerank_k=2)
    for t, indices in enumerate(rerank["topk"]["indices"]):
        assert set(indices) == set(np.argsort(-scores[t])[:2].tolist())  # the dual encoder's top 2
    assert rerank["metrics"]["t2v"]["R@5"] is None  # k = 2: R@5 is unknown


def test_rerank_by_itm_plus_dual_adds_the_dual_logit_to_each_candidates_itm_score(trained):
    cfg, ckpt = trained
    _, dual = _result(cfg, ckpt, "val_2", eval_mode="dual")
    _, itm = _result(cfg, ckpt, "val_2", eval_mode="rerank", rerank_k=3)
    result, fused = _result(cfg, ckpt, "val_2", eval_mode="rerank", rerank_k=3, rerank_score="itm+dual",
                            rerank_dual_weight=0.5)
    scale = float(restore(ckpt).model.temperature_scale().detach())
    sims = np.array(dual["scores"])
    for t, (indices, s_itm, s_fused) in enumerate(zip(itm["topk"]["indices"], itm["topk"]["scores"],
                                                     fused["topk"]["scores"])):
        assert fused["topk"]["indices"][t] == indices
        assert np.allclose(s_fused, np.array(s_itm) + 0.5 * scale * sims[t, indices], atol=1e-3)
    assert "rerank k=3 by itm + 0.5 x dual" in result.table


def test_multiple_choice_zero_shot_from_the_retrieval_checkpoint(trained, data, capsys):
    cfg, ckpt = trained
    run = Path(cfg.output_dir)
    code = main(["evaluate", "--checkpoint", str(ckpt), "--split", "test",
                 "--task", "multiple_choice", "--txt_db", str(data["mc_db"])])
    assert code == 0
    out = capsys.readouterr().out
    predictions = json.loads((run / "results" / f"test_step{3}_predictions.json").read_text())
    truth = {r["qid"]: r["answer"] for r in load_split(data["mc_db"], "test")}
    assert sorted(p["qid"] for p in predictions) == sorted(truth)
    assert all(len(p["scores"]) == 5 and p["answer"] == int(np.argmax(p["scores"])) for p in predictions)
    correct = sum(p["answer"] == truth[p["qid"]] for p in predictions)
    accuracy = json.loads((run / "results" / "test_step3_accuracy.json").read_text())
    assert accuracy["correct"] == correct and accuracy["total"] == len(truth)
    assert f"{100 * correct / len(truth):.2f}" in out


def test_multiple_choice_trains(data, tmp_path):
    cfg = changed(config(data, tmp_path), task="multiple_choice", txt_db=str(data["mc_db"]), val_split="test")
    last = train(cfg, progress=False)
    assert 0.0 <= last["accuracy"] <= 100.0
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    logged = [e["val/accuracy"] for e in log if "val/accuracy" in e]
    assert len(logged) == 2 and logged[-1] == last["accuracy"]  # 2 epochs of 2 steps for max_steps 3


def test_demo_retrieval_cli(tmp_path, capsys):
    code = main(["demo", "--task", "retrieval", "--out", str(tmp_path), "--num-videos", "20",
                 "--max_steps", "2", "--train_batch_size", "4", "--model.hidden_size", "32", "--model.num_heads", "2",
                 "--model.num_layers", "1", "--model.intermediate_size", "64",
                 "--retrieval.rerank_k", "3", "--valid_every_epochs", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "held-out split (val_2)" in out and "t2v" in out and "R@1" in out
    saved = list((tmp_path / "runs" / "demo_retrieval" / "results").glob("val_2_step*_retrieval_rerank.json"))
    assert len(saved) == 1
    assert f"[6/6] report -> {tmp_path / 'report.html'}" in out
    assert "sparsevl report: demo_retrieval" in (tmp_path / "report.html").read_text()


def test_predict_scores_captions_for_a_video_file_as_evaluation_does(trained, data, capsys):
    cfg, ckpt = trained
    _, full = _result(cfg, ckpt, "val_2", eval_mode="cross")
    records = load_split(data["txt_db"], "val_2")
    video_id = full["video_ids"][0]
    args = ["predict", "--checkpoint", str(ckpt), "--video", str(data["root"] / "demo" / "videos" / f"{video_id}.mp4")]
    for r in records:
        args += ["--caption", r["caption"]]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert all(r["caption"] in out for r in records)
    video = data["root"] / "demo" / "videos" / f"{video_id}.mp4"
    rows = predict(ckpt, video, [r["caption"] for r in records]).prediction.rows
    printed = {row["text"]: row["cross_encoder"] for row in rows}
    expected = {r["caption"]: row[0] for r, row in zip(records, np.array(full["scores"]))}
    assert printed.keys() == expected.keys()
    for caption, score in expected.items():
        assert printed[caption] == pytest.approx(score, abs=2e-3)


def _examples(cfg, ckpt, split: str, overrides: list[str]) -> tuple:
    result, files = evaluate(ckpt, split, overrides)
    return result, files, json.loads(files["examples"].read_text())


def test_retrieval_examples_list_each_caption_with_its_best_scored_videos(trained):
    from sparsevl.tasks.retrieval_metrics import text_to_video_ranks

    cfg, ckpt = trained
    result, files, examples = _examples(cfg, ckpt, "val_2", ["--retrieval.eval_mode", "cross"])
    saved = json.loads(files["retrieval_cross"].read_text())
    scores = np.array(saved["scores"])
    records = load_split(data_dir(cfg), "val_2")
    assert [(e["text"], e["truth"], e["video_id"]) for e in examples] == [
        (r["caption"], r["video_id"], r["video_id"]) for r in records]
    ranks = text_to_video_ranks(scores, saved["text_to_video"])
    k = min(5, scores.shape[1])
    task = build_task(cfg, ProblemLog())
    clips = task.data.clip_reader(train=False)
    for e, row, rank in zip(examples, scores, ranks):
        order = np.argsort(-row, kind="stable")[:k]
        assert [c["video_id"] for c in e["candidates"]] == [saved["video_ids"][v] for v in order]
        assert [c["score"] for c in e["candidates"]] == pytest.approx(row[order].tolist(), abs=1e-4)
        assert e["prediction"] == e["candidates"][0]["video_id"] and e["correct"] == (rank == 1)
        assert e["group"] == ("rank 1" if rank == 1 else "rank 2-5" if rank <= 5 else "rank 6-10" if rank <= 10 else "rank > 10")
        for c in e["candidates"]:
            assert c["frames"] == [i for clip in clips.video_clip_indices(c["video_id"]) for i in clip]
    assert 100 * np.mean([e["correct"] for e in examples]) == pytest.approx(result.metrics["t2v_R@1"])

    # re-ranking scores only the dual encoder's top k: a caption whose video is not among them says so
    _, files, examples = _examples(cfg, ckpt, "val_2", ["--retrieval.eval_mode", "rerank", "--retrieval.rerank_k", "2"])
    topk = json.loads(files["retrieval_rerank"].read_text())["topk"]
    for e, indices in zip(examples, topk["indices"]):
        assert len(e["candidates"]) == 2
        found = e["truth"] in [saved["video_ids"][v] for v in indices]
        assert found or e["group"] == "not in the top 2"


def test_multiple_choice_examples_show_the_options_and_the_chosen_one(trained, data):
    cfg, ckpt = trained
    result, files, examples = _examples(cfg, ckpt, "test", ["--task", "multiple_choice", "--txt_db", str(data["mc_db"])])
    predictions = json.loads(files["predictions"].read_text())
    records = {r["qid"]: r for r in load_split(data["mc_db"], "test")}
    assert len(examples) == len(predictions) == len(records)
    for e, p in zip(examples, predictions):
        r = records[p["qid"]]
        assert e["video_id"] == r["video_id"] and all(o in e["text"] for o in r["options"])
        assert (e["prediction"], e["truth"]) == (r["options"][p["answer"]], r["options"][r["answer"]])
        assert e["correct"] == (p["answer"] == r["answer"]) and e["score"] == pytest.approx(max(p["scores"]), abs=1e-4)
    assert 100 * np.mean([e["correct"] for e in examples]) == pytest.approx(result.metrics["accuracy"])
