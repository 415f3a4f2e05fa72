"""`sparsevl demo --task pretrain` end to end on a handful of videos and steps: every stage runs,
the stills say what one frame shows, the pre-training vocabulary covers the questions but no answer,
every colour, shape and direction word of the held-out captions is scored, and both fine-tunes
take the same steps, one of them from the pre-training checkpoint."""

from __future__ import annotations

import json
import re

from sparsevl.cli import main
from sparsevl.demos.pretrain import WORD_KINDS, still_caption


def test_a_still_caption_names_the_objects_of_the_first_frame_without_motion():
    sentences = ["A red circle moves left.", "The circle turns blue.", "A green square moves up."]
    assert still_caption(sentences) == "A red circle and a green square."
    assert still_caption(["A white triangle moves down."]) == "A white triangle."
    three = ["A red circle moves left.", "A green square moves up.", "A blue triangle moves right."]
    assert still_caption(three) == "A red circle, a green square and a blue triangle."
    assert still_caption(["Someone dances."]) is None


def test_pretrain_demo_runs_every_stage(tmp_path, capsys, one_torch_thread):
    out = tmp_path / "demo"
    args = ["demo", "--task", "pretrain", "--out", str(out), "--num-videos", "40",
            "--max_steps", "2", "--train_batch_size", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[16/16] results" in printed

    # one still per training video, captioned with colours and shapes only
    train_captions = json.loads((out / "data" / "captions" / "train.json").read_text())
    stills = [json.loads(line) for line in (out / "txt_db_stills" / "train.jsonl").read_text().splitlines()]
    assert sorted(s["video_id"] for s in stills) == sorted(train_captions)
    for still in stills:
        words = set(re.findall(r"\w+", still["caption"]))
        assert not words & {"moves", "turns", *WORD_KINDS["direction"]}
        first_colours = {m[1] for s in train_captions[still["video_id"]]["sentences"] if (m := re.match(r"A (\w+) ", s))}
        assert first_colours <= words

    # the BERT pre-training starts from knows every word of the training questions, and no answer-only word
    vocab = set((out / "text_model" / "vocab.txt").read_text().split())
    questions = json.loads((out / "data" / "annotations_10pct" / "train_q.json").read_text())
    assert {w for q in questions for w in q["question"].split()} <= vocab
    assert not {"yes", "no", "above", "below"} & vocab

    # every colour, shape and direction word of the held-out captions masked once
    held_out = json.loads((out / "data" / "captions" / "val_2.json").read_text())
    words = [w.lower() for r in held_out.values() for s in r["sentences"] for w in re.findall(r"\w+", s)]
    result = json.loads(next((out / "runs" / "pretrain" / "results").glob("val_2_step2_masked_words.json")).read_text())
    for kind, kind_words in WORD_KINDS.items():
        assert result["kinds"][kind]["scored"] == sum(w in kind_words for w in words) > 0

    # both fine-tunes: the same steps on the same tenth of the training videos; one from the checkpoint
    train_videos = {q["video_name"] for q in json.loads((out / "data" / "annotations" / "train_q.json").read_text())}
    assert len({q["video_name"] for q in questions}) == -(-len(train_videos) // 10)
    logs = {name: [json.loads(line) for line in (out / "runs" / name / "log.jsonl").read_text().splitlines()]
            for name in ("qa_pretrained", "qa_imagenet")}
    # equal steps: each ends with the checkpoint of step 2 (the demo validates neither run)
    assert [sorted(p.name for p in (out / "runs" / name / "ckpt").glob("step_*.pt")) for name in logs] == \
        [["step_0000002.pt"], ["step_0000002.pt"]]
    assert not any(k.startswith("val/") for log in logs.values() for r in log for k in r)
    init = [r for r in logs["qa_pretrained"] if "init/checkpoint" in r]
    assert len(init) == 1 and init[0]["init/checkpoint"].endswith("step_0000002.pt")
    assert all(m.startswith("head.") for m in init[0]["init/missing"])  # only the answer head is new
    assert not any("init/checkpoint" in r for r in logs["qa_imagenet"])

    table = (out / "results.md").read_text()
    assert "Chance R@1" in table and "12.500" in table  # 8 held-out videos
    for row in ("pre-trained (MLM + ITM + ITC)", "ImageNet EfficientNet + random BERT"):
        assert row in table
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    for key in ("masked_colour", "zero_shot_dual_t2v_R@1", "qa_pretrained_All", "qa_imagenet_All"):
        assert 0 <= metrics[key] <= 100
