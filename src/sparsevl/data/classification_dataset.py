"""Video classification items: a video's views (`ActionClipReader`) and its class."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sparsevl.data.action_sampling import ActionClipReader
from sparsevl.data.clips import videos_in_store
from sparsevl.problems import ProblemLog

UNLABELLED = -1  # a record without a class (e.g. Something-Something v2's test split)


def usable_records(records: list[dict], num_classes: int, source: str, problems: ProblemLog | None) -> list[dict]:
    """The records whose `label` (if any) is a class number below `num_classes`; each other one is
    reported (and dropped, in skip mode)."""
    usable = []
    for i, r in enumerate(records):
        label = r.get("label", UNLABELLED)
        if label == UNLABELLED or (isinstance(label, int) and not isinstance(label, bool) and 0 <= label < num_classes):
            usable.append(r)
        elif problems is not None:
            problems.report(source, f"bad label: {label!r} is not a class number 0..{num_classes - 1}",
                            f"record {i} ({r.get('video_id')!r})")
    return usable


class ClassificationDataset(Dataset):
    def __init__(self, records: list[dict], reader: ActionClipReader, problems: ProblemLog | None = None):
        present = videos_in_store((r["video_id"] for r in records), reader.store, problems, what="record(s)")
        self.records = [r for r in records if r["video_id"] in present]
        self.reader = reader
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def describe(self) -> str:
        classes = len({r.get("label", UNLABELLED) for r in self.records} - {UNLABELLED})
        return f"{len(self.records)} videos of {classes} classes"

    def __getitem__(self, index: int) -> dict:
        r = self.records[index]
        views, clips = self.reader.read(r["video_id"], index, self.epoch)
        return {"video_id": r["video_id"], "frames": views, "label": r.get("label", UNLABELLED), "clips": clips}


def collate(items: list[dict]) -> dict:
    return {
        "frames": torch.from_numpy(np.stack([it["frames"] for it in items])),  # (B, V, T, S, S, 3) uint8
        "labels": torch.tensor([it["label"] for it in items]),
        "video_ids": [it["video_id"] for it in items],
        "clips": [it["clips"] for it in items],
    }
