"""VideoQA examples, one item per video: its sampled clips and all of its questions.

Grouping a video's questions into one item lets the model run the visual pass once per clip and
pair it with every question about that video (ClipBERT ran it once per question).
"""

from __future__ import annotations


import numpy as np
import torch
from torch.utils.data import Dataset

from sparsevl.data.clips import ClipReader, records_by_video
from sparsevl.problems import ProblemLog

IGNORE_LABEL = -100  # answers outside the vocabulary: no loss in training, wrong in evaluation


class VideoQADataset(Dataset):
    def __init__(
        self,
        records: list[dict],
        clips: ClipReader,
        ans2label: dict[str, int],
        problems: ProblemLog | None = None,
    ):
        self.videos = records_by_video(records, clips.vis_db, problems, what="question(s)")
        self.clips = clips
        self.ans2label = ans2label
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def describe(self) -> str:
        return f"{len(self.videos)} videos, {sum(len(recs) for _, recs in self.videos)} questions"

    def __getitem__(self, index: int) -> dict:
        video_id, recs = self.videos[index]
        frames = self.clips.read(video_id, index, self.epoch)
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
