"""What pre-training buys, on the shapes demo: `sparsevl demo --task pretrain --out DIR`.

Pre-trains the QA demo's model (EfficientNet-Lite0 with its ImageNet weights, a small BERT from
random weights) on the demo's captions and on single frames as images, with MLM + ITM + ITC; then
fine-tunes VideoQA on a tenth of the QA training videos twice, with equal steps: from the
pre-training checkpoint and from the ImageNet start (the QA demo's own config). One table:

    (a) masked words by kind (colour, shape, direction) on the held-out captions, each such word
        masked in turn and predicted, with the caption's video and, as a control, with another
        video (what the rest of the caption gives away), against chance;
    (b) zero-shot text-to-video retrieval of the pre-training checkpoint on the held-out captions;
    (c) the QA test accuracy (All and per type) of both starts.

    DIR/data/                  demo videos and annotations (shared with the QA and retrieval demos)
    DIR/vis_db/                the videos' frames
    DIR/stills/                a still (the first frame) per training video and its caption (COCO layout)
    DIR/vis_db_stills/         the stills, 1-frame videos
    DIR/txt_db_ret/            the videos' captions; val_2 holds the test videos (held out)
    DIR/txt_db_stills/         the stills' captions
    DIR/data/annotations_10pct/, DIR/txt_db_qa_10pct/   questions of every 10th training video, all val and test questions
    DIR/text_model/            the BERT pre-training starts from: random weights, a vocabulary of the training captions and questions
    DIR/runs/pretrain/         pre-training; results/ holds the masked-word and zero-shot files
    DIR/runs/qa_pretrained/, DIR/runs/qa_imagenet/   the two fine-tunes, results/ for the test split
    DIR/results.md, DIR/results.json                 the table

`--config FILE` replaces the pre-training config (`demo_pretrain.json`); other `--key value` pairs
override every training run, pre-training included.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import cv2
import torch

from sparsevl.data.demo_data import COLORS, DIRECTIONS, SHAPES
from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.tokenizer import build_word_vocab
from sparsevl.demos import DemoOptions
from sparsevl.demos import stages as st
from sparsevl.demos.shapes import DEMO_VIDEOS
from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.factory import build_bert
from sparsevl.problems import BadInputError, UserError
from sparsevl.runner.checkpoint import restore
from sparsevl.runner.evaluate import evaluate
from sparsevl.tables import format_table
from sparsevl.tasks.common import evaluating
from sparsevl.tasks.config import RunConfig
from sparsevl.txt_db import read_json, write_json_atomic

PRETRAIN_CONFIG = "demo_pretrain.json"
QA_CONFIG = "demo_qa.json"  # the QA demo's: both fine-tunes use it as it is, with these epochs
FINE_TUNE_EPOCHS = 10  # of 280 videos: 350 steps of 8
QA_SLICE_EVERY = 10  # every 10th training video (by name): a tenth of the QA training data
STILLS_RATIO = 0.25  # stills per epoch of pre-training, per training video
HELD_OUT_CAPTIONS = "val_2"  # the test videos' captions
HELD_OUT_QA = "test"
WORD_KINDS = {"colour": tuple(COLORS), "shape": SHAPES, "direction": tuple(DIRECTIONS)}
QA_TYPES = ("All", "Motion", "Spatial Relation", "Temporal Relation", "Yes/No", "Color", "Object", "Number")
# the table is measured on held-out splits after training; validating during the runs would change
# none of its numbers and cost about 75 s of the 15-minute budget (validation consumes no training draw)
NO_VALIDATION = ("--val_split", "null")
OBJECT_SENTENCE = re.compile(r"^A (\w+) (\w+) moves \w+\.$")  # demo_data.make_captions: an object and its motion


@dataclasses.dataclass(frozen=True)
class Start:
    name: str  # run folder under DIR/runs
    title: str
    overrides: tuple[str, ...]


IMAGENET_START = Start("qa_imagenet", "ImageNet EfficientNet + random BERT", ())  # the QA demo's config as it is


def run(out: Path, options: DemoOptions) -> int:
    stages = st.Stages(16)
    st.demo_data(out / "data", options.num_videos or DEMO_VIDEOS, options.seed, stages)
    st.frames(out / "data" / "videos", out / "vis_db", stages)
    stills(out, stages)
    st.annotations("txt_db_tools.activitynet_captions", out / "data" / "captions", out / "txt_db_ret", stages)
    st.annotations("txt_db_tools.coco_captions", out / "stills" / "annotations", out / "txt_db_stills", stages)
    qa_slice(out / "data" / "annotations", out / "data" / "annotations_10pct", stages)
    st.annotations("txt_db_tools.activitynet_qa", out / "data" / "annotations_10pct", out / "txt_db_qa_10pct", stages)
    text_model(out, fine_tune_config(out, IMAGENET_START, options), stages)
    checkpoint = st.training(pretrain_config(out, options), stages)
    words = masked_words(checkpoint, HELD_OUT_CAPTIONS, stages)
    zero_shot = zero_shot_retrieval(checkpoint, HELD_OUT_CAPTIONS, stages)
    pretrained_start = Start("qa_pretrained", "pre-trained (MLM + ITM + ITC)", ("--init_checkpoint", str(checkpoint)))
    qa = {}
    for start in (pretrained_start, IMAGENET_START):
        cfg = fine_tune_config(out, start, options)
        qa[start.title] = st.evaluation(st.training(cfg, stages), HELD_OUT_QA, stages).metrics
    stages.next(f"results -> {out / 'results.md'}")
    text = results_text(out, words, zero_shot, qa)
    print(text)
    (out / "results.md").write_text(text)
    write_json_atomic(out / "results.json", {"metrics": flat_metrics(words, zero_shot, qa)})
    stages.finish()
    return 0


# --- data ---------------------------------------------------------------------------------------

def still_caption(sentences: list[str]) -> str | None:
    """What the first frame shows: each object's colour and shape, no motion ("A red circle and a
    blue square."); None when the sentences name no object (not a demo caption)."""
    objects = [f"{m[1]} {m[2]}" for m in map(OBJECT_SENTENCE.match, sentences) if m]
    if not objects:
        return None
    listed = objects[0] if len(objects) == 1 else ", a ".join(objects[:-1]) + f" and a {objects[-1]}"
    return f"A {listed}."


def stills(out: Path, stages: st.Stages) -> None:
    """The first frame of every training video as a JPEG image, captioned in COCO's layout, then
    stored as 1-frame videos by `extract-frames` (images as a user's image set would be)."""
    folder, annotation = out / "stills", out / "stills" / "annotations" / "captions_train2017.json"
    stages.next(f"stills -> {folder}, {out / 'vis_db_stills'}")
    if not annotation.is_file():  # written last
        captions_file = out / "data" / "captions" / "train.json"
        images, annotations = [], []
        for n, (video_id, record) in enumerate(read_json(captions_file).items()):
            caption = still_caption(record["sentences"])
            if caption is None:
                raise BadInputError(f"{captions_file}: video {video_id}: no sentence names an object")
            capture = cv2.VideoCapture(str(out / "data" / "videos" / f"{video_id}.mp4"))
            ok, frame = capture.read()
            capture.release()
            if not ok:
                raise BadInputError(f"{out / 'data' / 'videos' / f'{video_id}.mp4'}: no first frame")
            (folder / "images").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / "images" / f"{video_id}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append({"id": n, "file_name": f"{video_id}.jpg"})
            annotations.append({"id": n, "image_id": n, "caption": caption})
        annotation.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(annotation, {"images": images, "annotations": annotations})
    print(extract_frames(folder / "images", out / "vis_db_stills", max_size=st.FRAME_SIZE, progress=False))


def qa_slice(source: Path, target: Path, stages: st.Stages) -> None:
    """The questions of every QA_SLICE_EVERY-th training video (by name); val and test whole."""
    stages.next(f"QA training slice (every {QA_SLICE_EVERY}th training video) -> {target}")
    if (target / "train_a.json").is_file():  # written last
        return
    target.mkdir(parents=True, exist_ok=True)
    for split in ("val", "test"):
        for part in ("q", "a"):
            shutil.copyfile(source / f"{split}_{part}.json", target / f"{split}_{part}.json")
    questions = read_json(source / "train_q.json")
    kept = set(sorted({q["video_name"] for q in questions})[::QA_SLICE_EVERY])
    ids = {q["question_id"] for q in questions if q["video_name"] in kept}
    write_json_atomic(target / "train_q.json", [q for q in questions if q["question_id"] in ids])
    write_json_atomic(target / "train_a.json", [a for a in read_json(source / "train_a.json") if a["question_id"] in ids])


def text_model(out: Path, qa_cfg: RunConfig, stages: st.Stages) -> Path:
    """The BERT folder pre-training starts from: random weights of the QA config's sizes, and a word
    vocabulary of every training text (captions, still captions, question texts; no answers), so
    that no question word is [UNK] after pre-training on captions alone."""
    folder = out / "text_model"
    stages.next(f"text model (random weights, vocabulary of the training texts) -> {folder}")
    if (folder / "vocab.txt").is_file():  # written last
        return folder
    texts = [r["caption"] for txt_db in ("txt_db_ret", "txt_db_stills")
             for r in map(json.loads, (out / txt_db / "train.jsonl").read_text().splitlines())]
    texts += [q["question"] for q in read_json(out / "data" / "annotations_10pct" / "train_q.json")]
    vocab = build_word_vocab(texts)
    torch.manual_seed(qa_cfg.seed)
    bert, _ = build_bert(qa_cfg.model, len(vocab))
    bert.save_pretrained(folder)
    (folder / "vocab.tmp").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "vocab.tmp").replace(folder / "vocab.txt")
    print(f"{len(vocab)} words; {sum(p.numel() for p in bert.parameters()) / 1e6:.2f}M parameters")
    return folder


# --- runs ---------------------------------------------------------------------------------------

def pretrain_config(out: Path, options: DemoOptions) -> RunConfig:
    datasets = [
        {"name": "videos", "txt_db": str(out / "txt_db_ret"), "vis_db": str(out / "vis_db")},
        # a still is read as a clip of model.num_frm copies of its one frame: the clip length of the
        # videos, which concat fusion needs (and a still has no motion to show)
        {"name": "stills", "txt_db": str(out / "txt_db_stills"), "vis_db": str(out / "vis_db_stills"),
         "ratio": STILLS_RATIO},
    ]
    config = options.config or PRETRAIN_CONFIG
    cfg = st.run_config(config, [
        "--txt_db", str(out / "txt_db_ret"), "--vis_db", str(out / "vis_db"), "--output_dir", str(out / "runs" / "pretrain"),
        "--model.text_model_dir", str(out / "text_model"), "--pretrain.train_datasets", json.dumps(datasets),
        *NO_VALIDATION, *options.overrides,
    ])
    if cfg.task != "pretrain":
        raise UserError(f"{config} is a {cfg.task} config; this demo pre-trains (task pretrain)")
    return cfg


def fine_tune_config(out: Path, start: Start, options: DemoOptions) -> RunConfig:
    return st.run_config(QA_CONFIG, [
        "--txt_db", str(out / "txt_db_qa_10pct"), "--vis_db", str(out / "vis_db"),
        "--output_dir", str(out / "runs" / start.name), "--num_epochs", str(FINE_TUNE_EPOCHS),
        *NO_VALIDATION, *start.overrides, *options.overrides,
    ])


# --- evaluations --------------------------------------------------------------------------------

@dataclasses.dataclass
class WordCounts:
    scored: int = 0
    correct: int = 0  # with the caption's own video
    correct_other_video: int = 0  # with the next caption's video in the batch (the control)


def masked_words(checkpoint: Path, split: str, stages: st.Stages, batch_videos: int = 16) -> dict[str, WordCounts]:
    """Each colour, shape and direction word of the split's captions masked alone and predicted
    (argmax over the whole vocabulary) by the MLM head, from the caption's video and from another."""
    stages.next(f"masked words by kind on {split}")
    restored = restore(checkpoint)
    task, model, cfg = restored.task, restored.model, restored.cfg
    tokenizer = task.collator.tokenizer
    kind_of = {tokenizer.convert_tokens_to_ids(w): kind for kind, words in WORD_KINDS.items() for w in words}
    kind_of.pop(tokenizer.unk_token_id, None)  # a word the vocabulary lacks cannot be predicted
    reader = task.data.clip_reader(train=False)
    records = task.data.records(split)
    counts = {kind: WordCounts() for kind in WORD_KINDS}
    with evaluating(model):
        for first in range(0, len(records), batch_videos):
            batch = records[first:first + batch_videos]
            frames = torch.stack([torch.from_numpy(reader.read(r["video_id"])) for r in batch])
            clips = model.encode_clips(frames)
            text = tokenizer([r["caption"] for r in batch], padding=True, truncation=True,
                             max_length=cfg.model.max_text_len, return_tensors="pt")
            where = [(i, p) for i, ids in enumerate(text["input_ids"].tolist()) for p, t in enumerate(ids) if t in kind_of]
            if not where:
                continue
            rows_t, positions_t = torch.tensor(where).T
            rows = rows_t.tolist()
            targets = text["input_ids"][rows_t, positions_t]
            ids = text["input_ids"][rows_t].clone()
            ids[torch.arange(len(rows)), positions_t] = tokenizer.mask_token_id
            mask = text["attention_mask"][rows_t]
            other = (rows_t + 1) % len(batch)  # another video of the batch (itself in a batch of one)
            for video_rows, field in ((rows_t, "correct"), (other, "correct_other_video")):
                states = model.pair_states(ids, mask, clips[video_rows])  # (N, n_clips, L, hidden)
                picked = states[torch.arange(len(rows)), :, positions_t]  # (N, n_clips, hidden)
                predicted = aggregate_clip_scores(model.mlm_logits(picked), cfg.score_agg_func).argmax(-1)
                for target, right in zip(targets.tolist(), (predicted == targets).tolist()):
                    setattr(counts[kind_of[target]], field, getattr(counts[kind_of[target]], field) + right)
            for target in targets.tolist():
                counts[kind_of[target]].scored += 1
    out_file = Path(checkpoint).parent.parent / "results" / f"{split}_step{restored.step}_masked_words.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_file, {"split": split, "checkpoint": str(checkpoint),
                                 "kinds": {k: dataclasses.asdict(c) for k, c in counts.items()}})
    print(f"masked words: {out_file}")
    return counts


def zero_shot_retrieval(checkpoint: Path, split: str, stages: st.Stages) -> dict[str, dict]:
    """The pre-training checkpoint as a retrieval model on the held-out captions: by the dual
    encoder alone, and re-ranked by the cross-encoder's ITM (the top 16 of the dual encoder)."""
    stages.next(f"zero-shot text-to-video retrieval on {split}")
    results = {}
    for mode in ("dual", "rerank"):
        result, _ = evaluate(checkpoint, split, ["--task", "retrieval", "--retrieval.eval_mode", mode])
        print(result.table)
        results[mode] = result.metrics
    return results


# --- the table ----------------------------------------------------------------------------------

def percent(correct: int, total: int) -> float:
    return 100.0 * correct / total if total else 0.0


def results_text(out: Path, words: dict[str, WordCounts], zero_shot: dict[str, dict], qa: dict[str, dict]) -> str:
    word_rows = [(kind, str(c.scored), f"{percent(c.correct, c.scored):.1f}", f"{percent(c.correct_other_video, c.scored):.1f}",
                  f"{100.0 / len(WORD_KINDS[kind]):.1f}") for kind, c in words.items()]
    videos = next(iter(zero_shot.values())).get("t2v_queries", 0)
    retrieval_rows = [(mode, *(f"{m[f't2v_R@{k}']:.1f}" if f"t2v_R@{k}" in m else "-" for k in (1, 5, 10)),
                       f"{100.0 / videos:.3f}" if videos else "-") for mode, m in zero_shot.items()]
    qa_rows = [(title, *(f"{m[t]:.1f}" if t in m else "-" for t in QA_TYPES)) for title, m in qa.items()]
    return "\n".join([
        f"(a) masked words of the held-out captions ({HELD_OUT_CAPTIONS} of {out / 'txt_db_ret'}), each masked alone, "
        "argmax over the whole vocabulary",
        "",
        format_table(("Word kind", "Masked", "Accuracy", "Other video", "Chance"), word_rows),
        "",
        f"(b) zero-shot text-to-video retrieval of the pre-training checkpoint on {HELD_OUT_CAPTIONS}",
        "",
        format_table(("Scoring", "R@1", "R@5", "R@10", "Chance R@1"), retrieval_rows),
        "",
        f"(c) VideoQA on {HELD_OUT_QA} after fine-tuning on every {QA_SLICE_EVERY}th training video "
        f"({out / 'txt_db_qa_10pct'}), equal steps",
        "",
        format_table(("Start", *QA_TYPES), qa_rows),
        "",
    ])


def flat_metrics(words: dict[str, WordCounts], zero_shot: dict[str, dict], qa: dict[str, dict]) -> dict[str, float]:
    """Every number of the table under one name (scripts/spread.py reads `metrics`)."""
    metrics = {}
    for kind, c in words.items():
        metrics[f"masked_{kind}"] = percent(c.correct, c.scored)
        metrics[f"masked_{kind}_other_video"] = percent(c.correct_other_video, c.scored)
    for mode, m in zero_shot.items():
        metrics.update({f"zero_shot_{mode}_t2v_R@{k}": m[f"t2v_R@{k}"] for k in (1, 5, 10) if f"t2v_R@{k}" in m})
    for (name, m) in zip(("pretrained", "imagenet"), qa.values()):
        metrics.update({f"qa_{name}_{t}": m[t] for t in QA_TYPES if t in m})
    return metrics
