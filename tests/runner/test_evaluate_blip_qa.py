"""BLIP's open-ended QA through the unchanged drivers: `sparsevl evaluate --init-from
BLIP_QA_FOLDER --task video_qa` answers with no training, each question's answer the one
transformers' BlipForQuestionAnswering ranks first (BLIP's rank_answer: the first-token top k,
re-scored by the whole answer's log-likelihood) on the frame evaluation reads; a two-step training
run gives a checkpoint that evaluates and predicts without the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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
from sparsevl.txt_db import load_ans2label, load_split
from tests.models.blip_folder import IMAGE_SIZE, write_tiny_blip_qa
from tests.models.test_clip_text import pixel_values
from txt_db_tools.activitynet_qa import convert

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPLIT = "train"
RANK_K = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("blip_qa")
    generate(root / "demo", DemoSpec(num_videos=6, seed=5), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=4, max_size=32, workers=0, progress=False)
    convert(root / "demo" / "annotations", root / "txt_db", quiet=True)
    texts = [r["question"] for split in ("train", "val", "test") for r in load_split(root / "txt_db", split)]
    write_tiny_blip_qa(root / "blip_qa", texts + list(load_ans2label(root / "txt_db")))
    return {"txt_db": root / "txt_db", "vis_db": root / "vis_db", "blip_qa": root / "blip_qa", "root": root}


def data_args(data: dict) -> list[str]:
    # one frame a video: the image model exactly, so transformers' BLIP answers from the same input
    return ["--task", "video_qa", "--txt_db", str(data["txt_db"]), "--vis_db", str(data["vis_db"]),
            "--model.num_frm", "1", "--inference_n_clips", "1", "--img_size", str(IMAGE_SIZE), "--device", "cpu",
            "--model.qa_rank_k", str(RANK_K)]


def transformers_answers(data: dict, tmp_path: Path) -> dict:
    """qid -> the answer of the txt_db's list that BlipForQuestionAnswering ranks first: of the
    RANK_K answers whose first token its decoder finds most likely, the one of highest summed
    log-probability of "answer [SEP]" after [DEC] (the question with [ENC] first, as BLIP reads it)."""
    from transformers import BlipForQuestionAnswering

    hf = BlipForQuestionAnswering.from_pretrained(str(data["blip_qa"])).eval()
    tokenizer = read_tokenizer_folder(data["blip_qa"])
    blip = ["--model.architecture", "blip", "--model.backbone", "blip_vit", "--model.backbone_dir", str(data["blip_qa"])]
    cfg = load_config(RunConfig, None, ["--output_dir", str(tmp_path), *blip, *data_args(data)])
    reader = build_task(cfg, ProblemLog()).data.clip_reader(train=False)
    answers = list(load_ans2label(data["txt_db"]))
    encoded = tokenizer(answers, padding=True, return_tensors="pt")
    answer_ids = encoded["input_ids"].clone()
    answer_ids[:, 0] = hf.config.text_config.bos_token_id
    targets = answer_ids.masked_fill(encoded["attention_mask"] == 0, -100)
    expected = {}
    with torch.no_grad():
        for r in load_split(data["txt_db"], SPLIT):
            question = tokenizer([r["question"]], return_tensors="pt")["input_ids"]
            question[0, 0] = tokenizer.convert_tokens_to_ids("[ENC]")
            image = hf.vision_model(pixel_values=pixel_values(torch.from_numpy(reader.read(r["video_id"])).flatten(0, 1)))
            states = hf.text_encoder(input_ids=question, encoder_hidden_states=image.last_hidden_state).last_hidden_state
            start = torch.full((1, 1), hf.config.text_config.bos_token_id)
            first = hf.text_decoder(input_ids=start, encoder_hidden_states=states).logits[0, 0].softmax(-1)
            top = first[answer_ids[:, 1]].topk(RANK_K).indices
            loss = hf.text_decoder(input_ids=answer_ids[top], attention_mask=encoded["attention_mask"][top],
                                   encoder_hidden_states=states.expand(RANK_K, -1, -1), labels=targets[top],
                                   reduction="none").loss
            expected[r["qid"]] = answers[int(top[loss.argmin()])]
    return expected


def test_zero_shot_answers_are_transformers_ranked_answers(data, tmp_path, capsys):
    out = tmp_path / "zero_shot"
    assert main(["evaluate", "--init-from", str(data["blip_qa"]), "--out", str(out), "--split", SPLIT,
                 *data_args(data)]) == 0
    assert "All" in capsys.readouterr().out
    predictions = json.loads((out / f"{SPLIT}_step0_predictions.json").read_text())
    expected = transformers_answers(data, tmp_path)
    assert len(predictions) == len(expected) > 10
    assert {p["question_id"]: p["answer"] for p in predictions} == expected
    assert len(set(expected.values())) > 1  # the questions and frames decide, not one answer for all
    evaluation = json.loads((out / f"{SPLIT}_step0_evaluation.json").read_text())
    assert evaluation["init_from"] == str(data["blip_qa"]) and "All" in evaluation["metrics"]


def test_two_training_steps_then_the_checkpoint_evaluates_and_predicts(data, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = load_config(RunConfig, None, [
        "--task", "video_qa", "--txt_db", str(data["txt_db"]), "--vis_db", str(data["vis_db"]),
        "--output_dir", str(out), "--val_split", "val",
        "--model.architecture", "blip", "--model.backbone", "blip_vit", "--model.backbone_dir", str(data["blip_qa"]),
        "--model.num_frm", "2", "--model.attention_type", "divided_space_time", "--model.qa_rank_k", "3",
        "--train_n_clips", "2", "--inference_n_clips", "1", "--img_size", str(IMAGE_SIZE), "--train_batch_size", "2",
        "--max_steps", "2", "--num_epochs", "1", "--lr", "1e-3", "--warmup_ratio", "0", "--log_every_steps", "1",
        "--device", "cpu",
    ])
    train(cfg, progress=False)
    ckpt = latest_checkpoint(out)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["model"]["visual.backbone.blocks.0.temporal.fc.weight"].abs().sum() > 0  # zero at step 0, trained since
    assert not any(k.startswith("answer_") for k in saved["model"])
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in logged if "train/loss" in r]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses))) and losses[0] > 0
    capsys.readouterr()
    # trained scoring 3 answers a question, evaluated scoring all (a model option, not a weight)
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", "test", "--out", str(tmp_path / "ev"),
                 "--model.qa_rank_k", "0"]) == 0
    predictions = json.loads((tmp_path / "ev" / "test_step2_predictions.json").read_text())
    answers = set(load_ans2label(data["txt_db"]))
    assert len(predictions) == len(load_split(data["txt_db"], "test")) and all(p["answer"] in answers for p in predictions)
    record = load_split(data["txt_db"], "test")[0]
    video = data["root"] / "demo" / "videos" / f"{record['video_id']}.mp4"
    assert main(["predict", "--checkpoint", str(ckpt), "--video", str(video), "--question", record["question"]]) == 0
    printed = capsys.readouterr().out
    assert record["question"] in printed
