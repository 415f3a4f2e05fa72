"""`sparsevl predict`: answer questions about, or score captions for, one video file with a
trained checkpoint, without building any store.

    sparsevl predict --checkpoint RUN/ckpt/step_N.pt --video clip.mp4 --question "what color is the circle"
    sparsevl predict --checkpoint RUN/ckpt/step_N.pt --video clip.mp4 --caption "a red circle moves left" --caption ...

The run's config.json (beside ckpt/) says the task and model. The video is sampled as the run's
vis_db was (its stored extraction settings, when the store is still there), frames are kept in
memory in a one-video store, and the task's own dataset and model code do the rest, so a
prediction sees exactly what evaluation would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

ACCEPTS_CONFIG_OVERRIDES = True
VIDEO_ID = "input"


class OneVideoStore:
    """The frame-store interface the datasets read (`in`, `meta`, `frames`), over decoded frames."""

    def __init__(self, frames: np.ndarray, path: str):
        self._frames = frames
        self.path = path

    def __contains__(self, video_id: str) -> bool:
        return video_id == VIDEO_ID

    def meta(self, video_id: str) -> SimpleNamespace:
        return SimpleNamespace(num_frames=len(self._frames))

    def frames(self, video_id: str, indices) -> np.ndarray:
        return self._frames[list(indices)]


def read_video(path: Path, vis_db_path: str, default_frames: int = 12):
    """RGB frames sampled with the run's extraction settings (or `default_frames` uniform frames)."""
    from sparsevl.data.video_io import sample_video
    from sparsevl.data.vis_db import VisDB

    settings = None
    if vis_db_path and Path(vis_db_path).exists():
        try:
            settings = VisDB(vis_db_path).settings()
        except Exception:  # a ClipBERT store or an unreadable one: fall back to the default
            settings = None
    if settings is not None:
        sampled = sample_video(path, fps=settings.fps, num_frames=settings.num_frames,
                               max_size=settings.max_size, quality=settings.quality)
        how = f"as the run's vis_db ({'fps %g' % settings.fps if settings.fps else f'{settings.num_frames} frames'})"
    else:
        sampled = sample_video(path, num_frames=default_frames)
        how = f"{default_frames} uniform frames (the run's vis_db is not there to say how it sampled)"
    frames = np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                       for j in sampled.jpegs])
    return frames, how


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="RUN/ckpt/step_N.pt (RUN/config.json is read)")
    parser.add_argument("--config", default=None, help="the run's config (default: beside ckpt/)")
    parser.add_argument("--video", required=True, type=Path, help="a video file")
    parser.add_argument("--question", action="append", default=[], help="video_qa: a question (repeatable)")
    parser.add_argument("--caption", action="append", default=[],
                        help="retrieval / multiple choice: a caption or option to score (repeatable)")
    parser.add_argument("--captions-file", type=Path, default=None, help="retrieval: one caption per line")


def run(args: argparse.Namespace) -> int:
    import torch

    from sparsevl.config import ConfigError, load_config
    from sparsevl.data.qa_dataset import VideoQADataset
    from sparsevl.data.video_io import VideoError
    from sparsevl.train.checkpoint import load_checkpoint
    from sparsevl.train.config import TrainConfig
    from sparsevl.train.loop import build_task

    checkpoint = Path(args.checkpoint)
    config = Path(args.config) if args.config else checkpoint.resolve().parent.parent / "config.json"
    try:
        cfg = load_config(TrainConfig, str(config), args.overrides)
    except (ConfigError, FileNotFoundError) as e:
        raise SystemExit(f"config error: {e}")
    captions = list(args.caption) + (args.captions_file.read_text().splitlines() if args.captions_file else [])
    if cfg.task == "video_qa" and not args.question:
        raise SystemExit("a video_qa checkpoint: give at least one --question")
    if cfg.task != "video_qa" and not captions:
        raise SystemExit(f"a {cfg.task} checkpoint: give --caption TEXT (repeatable; options of a "
                         "multiple-choice question too) or --captions-file FILE")
    if not args.video.is_file():
        raise SystemExit(f"no video file at {args.video}")
    try:
        frames, how = read_video(args.video, cfg.vis_db)
    except VideoError as e:
        raise SystemExit(f"{args.video}: {e}")

    task = build_task(cfg, config.parent)
    task.data.vis_db = OneVideoStore(frames, str(args.video))
    model = task.build_model()
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    model.eval()
    clips = task.data.clip_reader(train=False)
    print(f"{args.video}: {len(frames)} frames, {how}; {cfg.inference_n_clips} clip(s) of {cfg.num_frm}")
    with torch.no_grad():
        if cfg.task == "video_qa":
            records = [{"qid": str(i), "video_id": VIDEO_ID, "question": q, "answer": ""} for i, q in enumerate(args.question)]
            batch = task.collator([VideoQADataset(records, clips, task.ans2label)[0]])
            logits, _ = model(batch["frames"], batch["input_ids"], batch["attention_mask"], batch["video_index"],
                              cfg.score_agg_func)
            probs = logits.float().softmax(-1)
            for q, p in zip(args.question, probs):
                top = p.topk(min(3, len(p)))
                alternatives = ", ".join(f"{task.label2ans[int(i)]} {float(v):.2f}" for v, i in zip(top.values, top.indices))
                print(f"Q: {q}\nA: {task.label2ans[int(top.indices[0])]}   ({alternatives})")
        else:
            video = model.encode_clips(torch.from_numpy(clips.read(VIDEO_ID))[None])
            texts = task.collator.tokenize(captions)
            itm = model.match_score(model.itm_logits(
                texts["input_ids"], texts["attention_mask"], video.expand(len(captions), *video.shape[1:]),
                cfg.score_agg_func).float())
            dual = model.text_embedding(texts["input_ids"], texts["attention_mask"]) @ model.video_embedding(video).T
            print(f"{'cross-encoder':>13}  {'dual':>6}  caption (best first, by the cross-encoder)")
            for i in itm.argsort(descending=True).tolist():
                print(f"{float(itm[i]):13.3f}  {float(dual[i, 0]):6.3f}  {captions[i]}")
    return 0
