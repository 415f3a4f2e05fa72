"""BLIP through the unchanged drivers: `sparsevl evaluate --init-from BLIP_FOLDER` scores retrieval
(ITC, ITM, and ITC top-k re-ranked by ITM) and multiple choice with no training, and its scores
are those of transformers' BlipForImageTextRetrieval on the frames evaluation samples; a short
training run (ITC + ITM, divided space-time attention) gives a checkpoint that evaluates and
predicts without the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sparsevl.cli import main
from sparsevl.config import load_config
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.tokenizer import read_tokenizer_folder
from sparsevl.problems import ProblemLog
from sparsevl.runner.checkpoint import latest_checkpoint
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.tasks.retrieval_metrics import topk_metrics
from sparsevl.txt_db import load_split, write_jsonl
from tests.models.blip_folder import IMAGE_SIZE, write_tiny_blip
from tests.models.test_clip_text import pixel_values
from txt_db_tools.activitynet_captions import convert

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPLIT = "train"  # the demo split with the most videos (6 of 8)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("blip")
    generate(root / "demo", DemoSpec(num_videos=8, seed=3), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=4, max_size=32, workers=0, progress=False)
    convert(root / "demo" / "captions", root / "txt_db", quiet=True)
    write_tiny_blip(root / "blip", [r["caption"] for r in load_split(root / "txt_db", SPLIT)])
    return {"txt_db": root / "txt_db", "vis_db": root / "vis_db", "blip": root / "blip"}


def run_args(data: dict, out: Path, eval_mode: str, task: str = "retrieval", txt_db: Path | None = None) -> list[str]:
    # one frame per video: the image model exactly, so transformers' BLIP scores the same input
    return ["--init-from", str(data["blip"]), "--out", str(out), "--split", SPLIT, "--task", task,
            "--txt_db", str(txt_db or data["txt_db"]), "--vis_db", str(data["vis_db"]),
            "--retrieval.eval_mode", eval_mode, "--retrieval.rerank_k", "3", "--model.num_frm", "1",
            "--inference_n_clips", "1", "--img_size", str(IMAGE_SIZE), "--device", "cpu"]


@pytest.fixture(scope="module")
def transformers_scores(data, tmp_path_factory) -> dict:
    """ITC similarities and ITM log-odds of every (caption, video) pair by BlipForImageTextRetrieval,
    on the frame evaluation reads of each video, with BLIP's [ENC] first for the ITM."""
    from transformers import BlipForImageTextRetrieval

    hf = BlipForImageTextRetrieval.from_pretrained(str(data["blip"])).eval()
    tokenizer = read_tokenizer_folder(data["blip"])
    out = tmp_path_factory.mktemp("cfg")
    cfg = load_config(RunConfig, None, ["--output_dir", str(out), *run_args(data, out, "dual")[6:]])
    reader = build_task(cfg, ProblemLog()).data.clip_reader(train=False)
    records = load_split(data["txt_db"], SPLIT)
    video_ids = list(dict.fromkeys(r["video_id"] for r in records))
    tokens = tokenizer([r["caption"] for r in records], padding=True, return_tensors="pt")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    itm_ids = ids.clone()
    itm_ids[:, 0] = tokenizer.convert_tokens_to_ids("[ENC]")
    itc, itm = [], []
    with torch.no_grad():
        for video_id in video_ids:
            pixels = pixel_values(torch.from_numpy(reader.read(video_id)).flatten(0, 1))  # (1, 3, H, W)
            itc.append(hf(input_ids=ids, attention_mask=mask, pixel_values=pixels, use_itm_head=False).itm_score[0])
            logits = hf(input_ids=itm_ids, attention_mask=mask, pixel_values=pixels.expand(len(ids), -1, -1, -1)).itm_score
            itm.append(logits[:, 1] - logits[:, 0])
    return {"video_ids": video_ids, "cids": [r["cid"] for r in records], "itc": torch.stack(itc, 1),
            "itm": torch.stack(itm, 1), "text_to_video": [video_ids.index(r["video_id"]) for r in records]}


@pytest.mark.parametrize("eval_mode,key", [("dual", "itc"), ("cross", "itm")])
def test_zero_shot_scores_are_transformers(data, transformers_scores, tmp_path, eval_mode, key):
    assert main(["evaluate", *run_args(data, tmp_path, eval_mode)]) == 0
    result = json.loads((tmp_path / f"{SPLIT}_step0_retrieval_{eval_mode}.json").read_text())
    assert result["video_ids"] == transformers_scores["video_ids"] and result["cids"] == transformers_scores["cids"]
    expected = transformers_scores[key]
    assert expected.shape == (6, 6) and expected.std() > 1e-2
    torch.testing.assert_close(torch.tensor(result["scores"]), expected, atol=1e-4, rtol=0)


def test_zero_shot_rerank_is_itc_top_k_rescored_by_itm(data, transformers_scores, tmp_path, capsys):
    assert main(["evaluate", *run_args(data, tmp_path, "rerank")]) == 0
    assert "rerank k=3 by itm" in capsys.readouterr().out
    result = json.loads((tmp_path / f"{SPLIT}_step0_retrieval_rerank.json").read_text())
    candidates = transformers_scores["itc"].topk(3, dim=1).indices
    assert result["topk"]["indices"] == candidates.tolist()
    expected = transformers_scores["itm"].gather(1, candidates)
    torch.testing.assert_close(torch.tensor(result["topk"]["scores"]), expected, atol=1e-4, rtol=0)
    metrics = topk_metrics(candidates, expected, transformers_scores["text_to_video"], 6, 0)
    assert result["metrics"]["t2v"] == pytest.approx(metrics["t2v"])


def test_zero_shot_multiple_choice_ranks_options_by_itm(data, transformers_scores, tmp_path):
    records = load_split(data["txt_db"], SPLIT)
    questions = [{"qid": f"q{i}", "video_id": r["video_id"], "answer": 0,
                  "options": [r["caption"]] + [o["caption"] for o in records if o is not r][:2]}
                 for i, r in enumerate(records)]
    write_jsonl(tmp_path / "mc_db" / f"{SPLIT}.jsonl", questions)
    assert main(["evaluate", *run_args(data, tmp_path / "mc", "cross", "multiple_choice", tmp_path / "mc_db")]) == 0
    predictions = json.loads((tmp_path / "mc" / f"{SPLIT}_step0_predictions.json").read_text())
    caption = {r["cid"]: r["caption"] for r in records}
    row = {caption[cid]: i for i, cid in enumerate(transformers_scores["cids"])}
    assert len(predictions) == len(questions)
    for p in predictions:
        q = next(q for q in questions if q["qid"] == p["qid"])
        column = transformers_scores["video_ids"].index(q["video_id"])
        expected = [float(transformers_scores["itm"][row[o], column]) for o in q["options"]]
        assert p["scores"] == pytest.approx(expected, abs=1e-4)


def test_two_training_steps_then_the_checkpoint_evaluates_and_predicts(data, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = load_config(RunConfig, None, [
        "--task", "retrieval", "--txt_db", str(data["txt_db"]), "--vis_db", str(data["vis_db"]),
        "--output_dir", str(out), "--val_split", "val_1",
        "--model.architecture", "blip", "--model.backbone", "blip_vit", "--model.backbone_dir", str(data["blip"]),
        "--model.num_frm", "2", "--model.attention_type", "divided_space_time",
        "--retrieval.objective", "itm+contrastive", "--retrieval.itm_negatives", "hard",
        "--retrieval.eval_mode", "rerank", "--retrieval.rerank_k", "2",
        "--train_n_clips", "1", "--inference_n_clips", "1", "--img_size", str(IMAGE_SIZE), "--train_batch_size", "3",
        "--max_steps", "2", "--num_epochs", "1", "--lr", "1e-3", "--warmup_ratio", "0", "--log_every_steps", "1",
        "--device", "cpu",
    ])
    train(cfg, progress=False)
    ckpt = latest_checkpoint(out)
    weights = torch.load(ckpt, weights_only=True)["model"]
    assert weights["visual.backbone.blocks.0.temporal.fc.weight"].abs().sum() > 0  # zero at step 0, trained since
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in logged if "train/loss" in r]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", SPLIT, "--out", str(tmp_path / "ev")]) == 0
    assert "rerank k=2 by itm: 6 captions x 6 videos" in capsys.readouterr().out
    records = load_split(data["txt_db"], SPLIT)
    video = data["txt_db"].parent / "demo" / "videos" / f"{records[0]['video_id']}.mp4"
    args = ["predict", "--checkpoint", str(ckpt), "--video", str(video)]
    for r in records[:3]:
        args += ["--caption", r["caption"]]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Cross-encoder" in printed and all(r["caption"] in printed for r in records[:3])
