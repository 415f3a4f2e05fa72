"""Zero-shot evaluation: `sparsevl evaluate --init-from CLIP_FOLDER` scores retrieval with the CLIP
dual encoder as it is (no checkpoint, no training), through the same evaluation as trained runs,
and its scores are those of transformers' CLIPModel on the frames evaluation samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import CLIPModel, CLIPTokenizer

from sparsevl.cli import main
from sparsevl.config import load_config
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.problems import ProblemLog
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import load_split, write_jsonl
from tests.models.clip_folder import write_tiny_clip
from tests.models.test_clip_text import pixel_values
from txt_db_tools.activitynet_captions import convert

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPLIT = "train"  # the demo split with the most videos (6 of 8)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zero_shot")
    generate(root / "demo", DemoSpec(num_videos=8, seed=3), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=4, max_size=32, workers=0, progress=False)
    convert(root / "demo" / "captions", root / "txt_db", quiet=True)
    captions = [r["caption"] for r in load_split(root / "txt_db", SPLIT)]
    write_tiny_clip(root / "clip", captions)
    return {"txt_db": root / "txt_db", "vis_db": root / "vis_db", "clip": root / "clip"}


def run_args(data: dict, out: Path, eval_mode: str = "dual") -> list[str]:
    return ["--init-from", str(data["clip"]), "--out", str(out), "--split", SPLIT, "--task", "retrieval",
            "--txt_db", str(data["txt_db"]), "--vis_db", str(data["vis_db"]), "--retrieval.eval_mode", eval_mode,
            "--model.num_frm", "2", "--inference_n_clips", "2", "--img_size", "16", "--model.max_text_len", "77",
            "--device", "cpu"]


def test_zero_shot_retrieval_scores_are_clipmodels(data, tmp_path, capsys):
    assert main(["evaluate", *run_args(data, tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "dual:" in printed and "R@1" in printed
    result = json.loads((tmp_path / "out" / f"{SPLIT}_step0_retrieval_dual.json").read_text())
    evaluation = json.loads((tmp_path / "out" / f"{SPLIT}_step0_evaluation.json").read_text())
    assert result["init_from"] == str(data["clip"]) and evaluation["step"] == 0
    assert (tmp_path / "out" / f"{SPLIT}_step0_examples.json").is_file()  # what the run report reads

    # the same frames the evaluation sampled, through transformers' CLIPModel
    hf = CLIPModel.from_pretrained(str(data["clip"])).eval()
    tokenizer = CLIPTokenizer.from_pretrained(str(data["clip"]))
    cfg = load_config(RunConfig, None, ["--output_dir", str(tmp_path / "cfg"), *run_args(data, tmp_path)[6:]])
    reader = build_task(cfg, ProblemLog()).data.clip_reader(train=False)
    captions = {r["cid"]: r["caption"] for r in load_split(data["txt_db"], SPLIT)}
    with torch.no_grad():
        videos = []
        for video_id in result["video_ids"]:
            frames = torch.from_numpy(reader.read(video_id))  # (clips, T, H, W, 3)
            per_frame = hf.get_image_features(pixel_values=pixel_values(frames.flatten(0, 1))).pooler_output
            videos.append(F.normalize(F.normalize(per_frame, dim=-1).mean(0), dim=-1))
        tokens = tokenizer([captions[c] for c in result["cids"]], padding=True, return_tensors="pt")
        texts = F.normalize(hf.get_text_features(**tokens).pooler_output, dim=-1)
    expected = texts @ torch.stack(videos).T
    assert len(result["video_ids"]) == 6 and expected.shape == (len(captions), 6)
    torch.testing.assert_close(torch.tensor(result["scores"]), expected, atol=1e-5, rtol=0)


def test_what_zero_shot_cannot_do_is_said(data, tmp_path, capsys):
    assert main(["evaluate", *run_args(data, tmp_path / "out", eval_mode="cross")]) == 2
    assert "retrieval.eval_mode: the dual_encoder has no cross-encoder" in capsys.readouterr().err
    args = run_args(data, tmp_path / "out")
    assert main(["evaluate", *args[:2], *args[4:]]) == 2  # no --out
    assert "give --out DIR" in capsys.readouterr().err
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    assert main(["evaluate", "--init-from", str(tmp_path / "bert"), *args[2:]]) == 2
    assert "holds a 'bert' model" in capsys.readouterr().err


def test_zero_shot_multiple_choice_scores_options_by_the_scaled_similarity(data, tmp_path):
    records = load_split(data["txt_db"], SPLIT)
    questions = [{"qid": f"q{i}", "video_id": r["video_id"], "answer": 0,
                  "options": [r["caption"]] + [o["caption"] for o in records if o is not r][:2]}
                 for i, r in enumerate(records)]
    write_jsonl(tmp_path / "mc_db" / f"{SPLIT}.jsonl", questions)
    assert main(["evaluate", *run_args(data, tmp_path / "ret")]) == 0
    args = run_args(data, tmp_path / "mc")
    args[args.index("--txt_db") + 1], args[args.index("--task") + 1] = str(tmp_path / "mc_db"), "multiple_choice"
    assert main(["evaluate", *args]) == 0
    retrieval = json.loads((tmp_path / "ret" / f"{SPLIT}_step0_retrieval_dual.json").read_text())
    predictions = json.loads((tmp_path / "mc" / f"{SPLIT}_step0_predictions.json").read_text())
    scale = CLIPModel.from_pretrained(str(data["clip"])).logit_scale.exp().item()
    caption = {r["cid"]: r["caption"] for r in records}
    row = {caption[cid]: i for i, cid in enumerate(retrieval["cids"])}  # the retrieval score row of each text
    assert len(predictions) == len(questions)
    for p in predictions:
        q = next(q for q in questions if q["qid"] == p["qid"])
        column = retrieval["video_ids"].index(q["video_id"])
        expected = [scale * retrieval["scores"][row[o]][column] for o in q["options"]]
        assert p["scores"] == pytest.approx(expected, abs=1e-4)
        assert p["answer"] == max(range(3), key=expected.__getitem__)
