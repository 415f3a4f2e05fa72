"""VideoQA examples, one item per video: its sampled clips and all of its questions.

Grouping a video's questions into one item lets the model run the visual pass once per clip and
pair it with every question about that video (ClipBERT ran it once per question).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sparsevl.data.sampling import inference_clip_indices, train_clip_indices
from sparsevl.problems import ProblemLog

IGNORE_LABEL = -100  # answers outside the vocabulary: no loss in training, wrong in evaluation


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    num_frm: int
    n_clips: int
    frm_stride: int = 1
    random: bool = False  # training: random clip positions; inference: uniform
    seed: int = 0


def fit_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize the longer side to `size` and pad bottom/right to a square (ClipBERT pads too)."""
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = resized
    return out


class VideoQADataset(Dataset):
    def __init__(
        self,
        records: list[dict],
        vis_db,
        ans2label: dict[str, int],
        sampling: ClipSampling,
        img_size: int,
        problems: ProblemLog | None = None,
    ):
        by_video: dict[str, list[dict]] = defaultdict(list)
        for r in records:
            by_video[r["video_id"]].append(r)
        self.videos: list[tuple[str, list[dict]]] = []
        for video_id, recs in by_video.items():
            if video_id in vis_db:
                self.videos.append((video_id, recs))
            elif problems is not None:
                problems.report(vis_db.path, f"video not in vis_db: {len(recs)} question(s) dropped", video_id)
        self.vis_db = vis_db
        self.ans2label = ans2label
        self.sampling = sampling
        self.img_size = img_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Training clips are drawn from (seed, epoch, video): reproducible, different each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def num_questions(self) -> int:
        return sum(len(recs) for _, recs in self.videos)

    def clip_indices(self, index: int, num_frames: int) -> list[list[int]]:
        s = self.sampling
        if s.random:
            rng = np.random.default_rng([s.seed, self.epoch, index])
            return train_clip_indices(num_frames, s.num_frm, s.n_clips, rng, s.frm_stride)
        return inference_clip_indices(num_frames, s.num_frm, s.n_clips, s.frm_stride)

    def __getitem__(self, index: int) -> dict:
        video_id, recs = self.videos[index]
        clips = self.clip_indices(index, self.vis_db.meta(video_id).num_frames)
        wanted = sorted({i for clip in clips for i in clip})
        decoded = dict(zip(wanted, self.vis_db.frames(video_id, wanted)))
        frames = np.stack([[fit_frame(decoded[i], self.img_size) for i in clip] for clip in clips])
        return {
            "video_id": video_id,
            "frames": frames,  # (n_clips, num_frm, S, S, 3) uint8
            "questions": [r["question"] for r in recs],
            "labels": [self.ans2label.get(r["answer"], IGNORE_LABEL) for r in recs],
            "qids": [r["qid"] for r in recs],
        }


class QACollator:
    """Stacks videos' clips and tokenizes all their questions into one flat batch."""

    def __init__(self, tokenizer, max_text_len: int):
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len

    def __call__(self, items: list[dict]) -> dict:
        questions = [q for it in items for q in it["questions"]]
        text = self.tokenizer(
            questions, padding=True, truncation=True, max_length=self.max_text_len, return_tensors="pt"
        )
        return {
            "frames": torch.from_numpy(np.stack([it["frames"] for it in items])),
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
            "video_index": torch.tensor([v for v, it in enumerate(items) for _ in it["questions"]]),
            "labels": torch.tensor([lab for it in items for lab in it["labels"]]),
            "qids": [qid for it in items for qid in it["qids"]],
        }
