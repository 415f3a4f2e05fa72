"""Video-text matching examples: retrieval (captions) and multiple-choice QA (options).

Every item is one video's clips with the texts to pair with it, and `MatchingCollator` flattens a
batch into texts that each point at their video, so the visual pass runs once per video:

- `CaptionTrainDataset`: one item per video: one of its captions (the positive) and
  `itm_neg_size` captions of other videos (negatives), ClipBERT's ITM sampling.
- `VideoClipsDataset`: the clips of each video of a split, for encoding every video once at
  evaluation; the split's captions are paired with them by the task.
- `MultipleChoiceDataset`: one item per question: its video and every option (question + option
  as one text when there is a question).
"""

from __future__ import annotations


import numpy as np
import torch
from torch.utils.data import Dataset

from sparsevl.data.clips import ClipReader, records_by_video, videos_in_store
from sparsevl.problems import ProblemLog


class CaptionTrainDataset(Dataset):
    def __init__(self, records: list[dict], clips: ClipReader, itm_neg_size: int, seed: int, problems: ProblemLog | None = None):
        self.videos = [(v, [r["caption"] for r in recs])
                       for v, recs in records_by_video(records, clips.vis_db, problems, what="caption(s)")]
        if len(self.videos) < 2 and itm_neg_size > 0:
            raise ValueError("negative captions need at least two videos with frames in the training split")
        # every caption with its video's position, to draw negatives from other videos
        self.captions = [(i, c) for i, (_, caps) in enumerate(self.videos) for c in caps]
        self.clips = clips
        self.itm_neg_size = itm_neg_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def describe(self) -> str:
        return f"{len(self.videos)} videos, {len(self.captions)} captions"

    def __getitem__(self, index: int) -> dict:
        video_id, caps = self.videos[index]
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        texts = [caps[rng.integers(len(caps))]]
        while len(texts) < 1 + self.itm_neg_size:
            owner, caption = self.captions[rng.integers(len(self.captions))]
            if owner != index:
                texts.append(caption)
        return {
            "video_id": video_id,
            "frames": self.clips.read(video_id, index, self.epoch),
            "texts": texts,
            "labels": [1] + [0] * self.itm_neg_size,
        }


class VideoClipsDataset(Dataset):
    def __init__(self, video_ids: list[str], clips: ClipReader):
        self.video_ids = video_ids
        self.clips = clips

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict:
        video_id = self.video_ids[index]
        return {"video_id": video_id, "frames": self.clips.read(video_id, index), "texts": [], "labels": []}


def option_texts(record: dict) -> list[str]:
    question = (record.get("question") or "").strip()
    return [f"{question} {o}" if question else o for o in record["options"]]


class MultipleChoiceDataset(Dataset):
    def __init__(self, records: list[dict], clips: ClipReader, problems: ProblemLog | None = None):
        present = videos_in_store((r["video_id"] for r in records), clips.vis_db, problems, what="question(s)")
        self.records = [r for r in records if r["video_id"] in present]
        self.clips = clips
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def describe(self) -> str:
        return f"{len(self.records)} questions"

    def __getitem__(self, index: int) -> dict:
        r = self.records[index]
        texts = option_texts(r)
        return {
            "video_id": r["video_id"],
            "qid": r["qid"],
            "frames": self.clips.read(r["video_id"], index, self.epoch),
            "texts": texts,
            "labels": [int(k == r["answer"]) for k in range(len(texts))],
        }


class MatchingCollator:
    """Stacks the videos' clips; tokenizes every text, each with the index of its video in the batch."""

    def __init__(self, tokenizer, max_text_len: int):
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len

    def tokenize(self, texts: list[str]) -> dict:
        t = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_text_len, return_tensors="pt")
        return {"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]}

    def __call__(self, items: list[dict]) -> dict:
        texts = [t for it in items for t in it["texts"]]
        batch = {
            "frames": torch.from_numpy(np.stack([it["frames"] for it in items])),
            "video_ids": [it["video_id"] for it in items],
            "video_index": torch.tensor([v for v, it in enumerate(items) for _ in it["texts"]], dtype=torch.long),
            "labels": torch.tensor([lab for it in items for lab in it["labels"]], dtype=torch.long),
            "num_texts": torch.tensor([len(it["texts"]) for it in items], dtype=torch.long),
        }
        if "qid" in items[0]:
            batch["qids"] = [it["qid"] for it in items]
        if texts:
            batch.update(self.tokenize(texts))
        return batch
