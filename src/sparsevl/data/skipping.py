"""One broken sample must not end an epoch: bad items become markers that the batch carries.

`SkipBadSamples` wraps a dataset: an item whose data is broken (`BadSampleError`: an unreadable
frame, a broken video) comes back as a `Skipped` marker instead of an exception, so it never kills
a DataLoader worker. `skipping_collate` drops the markers from the batch and lists them under
`batch["skipped"]`, for the process that owns the problem log to report and count them (and, in
stop mode, to stop with their message).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from torch.utils.data import Dataset

from sparsevl.problems import BadSampleError, ProblemLog

SKIPPED = "skipped"  # the batch key of the markers


@dataclasses.dataclass(frozen=True)
class Skipped:
    index: int  # the item's index in the dataset
    reason: str  # the error's message (it names the video and the store)


class SkipBadSamples(Dataset):
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except BadSampleError as e:
            return Skipped(index, str(e))

    def __getattr__(self, name: str) -> Any:  # set_epoch, describe, ... of the wrapped dataset
        # not the wrapped one's dunders (the DataLoader would call a Subset's __getitems__ and
        # bypass __getitem__ above), nor `dataset` itself before it is set (unpickling in a worker)
        if name.startswith("__") or name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def skipping_collate(collate: Callable[[list], dict]) -> Callable[[list], dict]:
    """`collate` on the usable items; the markers listed under batch["skipped"]. A batch whose
    items were all skipped is `{"skipped": [...]}` alone."""

    def collate_usable(items: list) -> dict:
        skipped = [it for it in items if isinstance(it, Skipped)]
        usable = [it for it in items if not isinstance(it, Skipped)]
        batch = collate(usable) if usable else {}
        batch[SKIPPED] = skipped
        return batch

    return collate_usable


def report_skipped(batch: dict, problems: ProblemLog, split: str) -> list[Skipped]:
    """Take the batch's skipped items out of it and report them (which raises in stop mode)."""
    skipped = batch.pop(SKIPPED, [])
    for item in skipped:
        problems.report(f"{split} item {item.index}", f"skipped sample: {item.reason}")
    return skipped
