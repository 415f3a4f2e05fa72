"""Zero-shot retrieval with a frozen CLIP, and BT-Adapter's temporal branch:
`sparsevl demo --task zero_shot --out DIR`.

No CLIP can be downloaded here, so the demo makes a small one: a CLIP-style dual encoder
(transformers' CLIPModel, randomly initialised) trained on still frames with captions of what one
frame shows ("a red circle"), then frozen. The held-out videos are the action videos of
`action_videos` (a shape moves in one of four directions and turns from one colour to the other),
captioned by their motion and order ("a shape moves left and turns from red to blue"): no single
frame, nor the mean of the frames, tells "left, red to blue" from "right, blue to red". Two models
are compared on them and on held-out still frames with the static captions:

    frame-mean        the frozen CLIP, frame embeddings averaged; zero-shot (`evaluate --init-from`)
    frame-mean + BT   the same frozen CLIP with a BT-Adapter branch trained on the training
                      split's action videos with their motion captions and still clips (a still
                      frame repeated to the clip's length) with their static captions, in one loss
                      (only the branch trains)

R@1 is video -> text among the captions of the kind (the 8 motion captions, the 60 static ones):
the share of held-out videos whose own caption scores best. A still is shown to both models as
a clip of that one frame repeated (the frame-mean of identical frames is the frame's embedding).
Both training runs are multiple choice over those caption sets: a softmax over every caption of
the kind, the contrastive loss without the batch's repeated captions as false negatives.

Why stills in the branch's training: BT-Adapter trains its branch on WebVid's video-text pairs,
whose captions describe what is in a frame as much as what moves. Trained on motion captions
alone, the branch learns to outweigh CLIP's class token in every frame, and the static captions
of still frames it never saw are lost (R@1 37.5 -> 2.5 in `docs/logs/demo_zero_shot_2026-12-03.txt`).

    DIR/stills/, DIR/actions/, DIR/vis_db_stills/, DIR/vis_db/, DIR/txt_db_stills/, DIR/txt_db/
                                 shared with `sparsevl demo --task classification`
    DIR/txt_db_static/, DIR/txt_db_motion/   the caption sets, as multiple-choice records
    DIR/txt_db_static_captions/  each still's own caption, as retrieval records (pre-training)
    DIR/txt_db_mixed/            the training split's motion and static records: the branch's training
    DIR/vis_db_still_clips/      the training stills' frames stored as the action videos' are (8 fps),
                                 so that one run reads both stores as one
    DIR/clip_random/             the untrained CLIP (a Hugging Face CLIP folder)
    DIR/runs/pretrain/           its training on still frames
    DIR/pretrained/clip/         the trained CLIP, as a Hugging Face CLIP folder
    DIR/runs/{frame_mean,bt_adapter}/results_{motion,static}/   the evaluations
    DIR/results.md               the comparison table

`--config FILE` replaces the runs' base config (`demo_zero_shot.json`); other `--key value` pairs
override every training run, pre-training included.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel

from sparsevl.configs import config_file
from sparsevl.data.action_videos import ActionSpec, action_classes, still_classes
from sparsevl.data.demo_data import BACKGROUND
from sparsevl.data.clip_tokenizer import BOS, EOS, build_clip_vocab, write_clip_tokenizer
from sparsevl.data.extract_frames import extract_frames
from sparsevl.demos import DemoOptions
from sparsevl.demos import action
from sparsevl.demos import stages as st
from sparsevl.models.clip_weights import write_clip_folder
from sparsevl.problems import UserError
from sparsevl.runner.checkpoint import restore
from sparsevl.runner.evaluate import evaluate, evaluate_pretrained
from sparsevl.tables import format_table
from sparsevl.tasks.config import RunConfig
from sparsevl.txt_db import load_split, read_json, write_jsonl

CONFIG = "demo_zero_shot.json"
# pre-training is retrieval's contrastive loss over the batch: one caption per still, so the text
# tower encodes 64 captions a step, not the 60 options of every still (ten times faster here);
# position and shape are learnt late, once the learning rate has decayed (the loss drops from ~2
# to ~0.05 over the last epochs)
PRETRAIN = ("--task", "retrieval", "--retrieval.objective", "contrastive", "--retrieval.eval_mode", "dual",
            "--model.num_frm", "1", "--num_epochs", "20", "--train_batch_size", "64", "--lr", "2e-3",
            "--backbone_lr", "2e-3")
# no token masking: a demo frame has 16 patches and its shape covers one or two, so BT-Adapter's 70%
# would hide it from the branch in most frames. The branch first learns to flatten the frozen
# CLIP's confident, wrong motion scores (trained on motion alone its loss sat at ln 8), and only after ~7,000
# motion examples the order of the frames (~370 steps of the mixed batches, seed 42), hence 12
# epochs; at lr 3e-3 it had not learnt the order after 8 epochs (motion R@1 11.9, below chance)
BT = ("--model.bt_adapter.depth", "2", "--model.bt_adapter.mask_ratio", "0", "--lr", "1e-3", "--num_epochs", "12")
# still clips per action video in the branch's training (the first of the training stills: the
# generator deals the classes in turn); enough that the branch keeps static content, few enough
# that most of each batch teaches it motion
STILLS_PER_VIDEO = 0.5
MOTION_SPLIT, STATIC_SPLIT = "test", "val"  # held out: the action videos' test split, the stills' val split
# the small CLIP: a ViT as the classification demo's, a 2-layer text transformer
VISION = {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 2,
          "image_size": ActionSpec.size, "patch_size": 8}
TEXT = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
        "max_position_embeddings": 32}


# where a still shape is, by the axis along which it is furthest from the centre
POSITIONS = {"left": "on the left", "right": "on the right", "up": "at the top", "down": "at the bottom"}
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def static_caption(name: str, position: str) -> str:
    colour, shape = name.split("_")  # red_circle
    return f"a {colour} {shape} {POSITIONS[position]}"


def static_captions() -> list[str]:
    """Every still's possible caption; its index is label * len(POSITIONS) + position index."""
    return [static_caption(name, position) for name in still_classes() for position in POSITIONS]


def motion_caption(name: str) -> str:
    """The video as two of the stills' captions in time order: a shape moving left starts on the
    right. Written in the words the still frames taught the text tower, so that the eight captions
    are already apart in its embedding before any video is seen."""
    direction, first, _, second = name.split("_")  # left_red_to_blue
    return f"a {first} shape {POSITIONS[OPPOSITE[direction]]} then a {second} shape {POSITIONS[direction]}"


def still_position(video: Path) -> str:
    """Where the one shape of a still video is: the side of the frame (of POSITIONS) its centroid
    is furthest towards, read from the video's first frame."""
    capture = cv2.VideoCapture(str(video))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise UserError(f"{video}: no frame could be read")
    shape = np.abs(frame.astype(np.int32) - np.array(BACKGROUND[::-1])).sum(axis=2) > 60  # BGR
    if not shape.any():
        raise UserError(f"{video}: no shape on the background")
    ys, xs = np.nonzero(shape)
    dx, dy = xs.mean() - (frame.shape[1] - 1) / 2, ys.mean() - (frame.shape[0] - 1) / 2
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "up" if dy < 0 else "down"


def run(out: Path, options: DemoOptions) -> int:
    stages = st.Stages(15)
    n_videos = options.num_videos or action.ACTION_VIDEOS
    n_stills = action.STILL_IMAGES if options.num_videos is None else max(30, options.num_videos)
    action.videos(out, n_videos, n_stills, options.seed, stages)
    action.frames(out, stages)
    action.annotations(out, stages)
    caption_sets(out, stages)
    still_clips(out, stages)
    random_clip = untrained_clip(out / "clip_random", options.seed, stages)
    pretrained = pretrain(out, random_clip, options, stages)
    rows = []
    for name, title, trains in (("frame_mean", "frozen CLIP, frame-mean", "nothing (zero-shot)"),
                                ("bt_adapter", "frozen CLIP, frame-mean + BT branch",
                                 "the branch: videos + still clips")):
        run_dir = out / "runs" / name
        if name == "frame_mean":
            counts = parameter_counts(out / "runs" / "pretrain")
            motion = zero_shot(pretrained, out, run_dir, "motion", options, stages)
            static = zero_shot(pretrained, out, run_dir, "static", options, stages)
            counts = (0, counts[1])
        else:
            checkpoint = st.training(run_config(out, run_dir, pretrained, options, (*BT, *mixed_data(out))), stages)
            counts = parameter_counts(run_dir)
            motion = evaluated(checkpoint, out, run_dir, "motion", stages)
            static = evaluated(checkpoint, out, run_dir, "static", stages)
        rows.append((title, trains, f"{counts[0]:,}", f"{counts[1]:,}", f"{motion:.1f}", f"{static:.1f}"))
    stages.next(f"comparison -> {out / 'results.md'}")
    table = format_table(("Model", "Trained on the training split", "Trainable params", "Total params",
                          f"Motion R@1 ({len(action_classes())} captions)",
                          f"Static R@1 ({len(static_captions())} captions)"), rows)
    print(table)
    (out / "results.md").write_text(f"Held-out: `{MOTION_SPLIT}` of {out / 'txt_db_motion'} (motion captions), "
                                    f"`{STATIC_SPLIT}` of {out / 'txt_db_static'} (static captions)\n\n{table}\n")
    stages.finish()
    return 0


def still_video(out: Path, record: dict) -> Path:
    """The still's video file (the generator writes one folder per class)."""
    return out / "stills" / "videos" / still_classes()[record["label"]] / f"{record['video_id']}.mp4"


def caption_sets(out: Path, stages: st.Stages) -> None:
    """Every video as a multiple-choice question whose options are all the captions of its kind:
    a still's caption says its colour, shape and position, a video's its motion and order."""
    stages.next(f"captions -> {out / 'txt_db_static'}, {out / 'txt_db_motion'}, {out / 'txt_db_mixed'}")
    names = read_json(out / "txt_db_stills" / "label2name.json")
    if [names[str(label)] for label in range(len(names))] != still_classes():
        raise UserError(f"{out / 'txt_db_stills' / 'label2name.json'}: not the demo's still classes")
    positions = list(POSITIONS)
    for split in ("train", "val", "test"):
        if (out / "txt_db_stills" / f"{split}.jsonl").is_file():
            records = [{"qid": r["video_id"], "video_id": r["video_id"], "options": static_captions(),
                        "answer": r["label"] * len(positions)
                        + positions.index(still_position(still_video(out, r)))}
                       for r in load_split(out / "txt_db_stills", split)]
            write_jsonl(out / "txt_db_static" / f"{split}.jsonl", records)
            captions = [{"cid": r["qid"], "video_id": r["video_id"], "caption": r["options"][r["answer"]]}
                        for r in records]
            write_jsonl(out / "txt_db_static_captions" / f"{split}.jsonl", captions)
    names = read_json(out / "txt_db" / "label2name.json")
    options = [motion_caption(names[str(label)]) for label in range(len(names))]
    for split in ("train", "val", "test"):
        if (out / "txt_db" / f"{split}.jsonl").is_file():
            records = [{"qid": r["video_id"], "video_id": r["video_id"], "options": options, "answer": r["label"]}
                       for r in load_split(out / "txt_db", split)]
            write_jsonl(out / "txt_db_motion" / f"{split}.jsonl", records)
    # the branch's training: motion and static records together, each with its own caption set
    motion = load_split(out / "txt_db_motion", "train")
    stills = load_split(out / "txt_db_static", "train")[:round(STILLS_PER_VIDEO * len(motion))]
    write_jsonl(out / "txt_db_mixed" / "train.jsonl", motion + stills)


def still_clips(out: Path, stages: st.Stages) -> None:
    """The frames of the branch's training stills in a store sampled as the action videos' (8 fps:
    a still's one frame is stored 8 times): the branch's run reads both stores as one, which needs
    the same settings. Only those stills are stored: the held-out ones stay out of its reach."""
    target = out / "vis_db_still_clips"
    stages.next(f"still clips -> {target}")
    mixed = {r["video_id"] for r in load_split(out / "txt_db_mixed", "train")}
    stills = [still_video(out, r) for r in load_split(out / "txt_db_stills", "train") if r["video_id"] in mixed]
    summary = extract_frames(None, target, fps=action.ACTION_FPS, max_size=ActionSpec.size, workers=0, progress=False,
                             videos=stills)
    print(f"{target}: {summary.stored} still clips stored")


def mixed_data(out: Path) -> tuple[str, ...]:
    """The data overrides of the branch's training: the mixed records, both stores as one."""
    return ("--txt_db", str(out / "txt_db_mixed"),
            "--vis_db", json.dumps([str(out / "vis_db"), str(out / "vis_db_still_clips")]))


def untrained_clip(folder: Path, seed: int, stages: st.Stages) -> Path:
    """A randomly initialised small CLIP whose vocabulary makes every caption word one token."""
    if (folder / "merges.txt").is_file():  # written last
        stages.next(f"untrained CLIP: reusing {folder}")
        return folder
    stages.next(f"untrained CLIP -> {folder}")
    captions = static_captions() + [motion_caption(n) for n in action_classes()]
    vocab, merges = build_clip_vocab(captions)
    text = {**TEXT, "vocab_size": len(vocab), "bos_token_id": vocab[BOS], "eos_token_id": vocab[EOS],
            "pad_token_id": vocab[EOS]}
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=VISION, projection_dim=64))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    model.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    write_clip_tokenizer(vocab, merges, folder)
    return folder


def run_config(out: Path, run_dir: Path, clip: Path, options: DemoOptions, extra: tuple[str, ...]) -> RunConfig:
    config = options.config or CONFIG
    cfg = st.run_config(config, [
        "--txt_db", str(out / "txt_db_motion"), "--vis_db", str(out / "vis_db"), "--output_dir", str(run_dir),
        "--model.backbone_dir", str(clip), *extra, *options.overrides,
    ])
    if cfg.model.architecture != "dual_encoder":
        raise UserError(f"{config} must train a dual_encoder (on the caption sets)")
    return cfg


def pretrain(out: Path, random_clip: Path, options: DemoOptions, stages: st.Stages) -> Path:
    """The CLIP trained on still frames and their static captions, written as a CLIP folder."""
    run_dir = out / "runs" / "pretrain"
    cfg = run_config(out, run_dir, random_clip, options,
                     ("--txt_db", str(out / "txt_db_static_captions"), "--vis_db", str(out / "vis_db_stills"), *PRETRAIN))
    checkpoint = st.training(cfg, stages)
    target = out / "pretrained" / "clip"
    write_clip_folder(restore(checkpoint).model, target)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(random_clip / name, target / name)
    print(f"pre-trained CLIP -> {target}")
    return target


def held_out(out: Path, kind: str) -> tuple[str, list[str]]:
    """The split and the data overrides of the motion or the static captions."""
    if kind == "motion":
        return MOTION_SPLIT, ["--txt_db", str(out / "txt_db_motion"), "--vis_db", str(out / "vis_db")]
    return STATIC_SPLIT, ["--txt_db", str(out / "txt_db_static"), "--vis_db", str(out / "vis_db_stills")]


def zero_shot(clip: Path, out: Path, run_dir: Path, kind: str, options: DemoOptions, stages: st.Stages) -> float:
    split, data = held_out(out, kind)
    stages.next(f"zero-shot evaluation of {clip} on the {kind} captions ({split})")
    result, _ = evaluate_pretrained(clip, split, run_dir / f"results_{kind}", [*options.overrides, *data],
                                    config_file(options.config or CONFIG))
    print(result.table)
    return result.metrics["accuracy"]


def evaluated(checkpoint: Path, out: Path, run_dir: Path, kind: str, stages: st.Stages) -> float:
    split, data = held_out(out, kind)
    stages.next(f"evaluating {checkpoint.name} on the {kind} captions ({split})")
    result, _ = evaluate(checkpoint, split, data, out_dir=run_dir / f"results_{kind}")
    print(result.table)
    return result.metrics["accuracy"]


def parameter_counts(run_dir: Path) -> tuple[int, int]:
    """(trainable, total) parameters, as the run logged them."""
    logged = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    counts = next(r for r in reversed(logged) if "model/parameters" in r)
    return counts["model/trainable_parameters"], counts["model/parameters"]
