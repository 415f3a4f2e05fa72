"""Several training datasets in one run: one schedule of per-dataset batches.

A batch always comes from one dataset, so an image set (1-frame clips) and a video set (4-frame
clips) never meet in a batch. Each epoch of the mix, dataset d gives `ratio_d` x its items (in
several shuffled passes if the ratio is above 1, part of one if below), cut into global batches
of `batch_size_d` x processes items; the batches of all datasets are then put in one shuffled
order. Everything is drawn from (seed, epoch): every process computes the same schedule, takes
its share of each global batch (positions r, r + n, ... as `EpochSampler` does), and a resumed
run starts at a batch of it.
"""

from __future__ import annotations

import bisect
import dataclasses
import math

import numpy as np
from torch.utils.data import Dataset


@dataclasses.dataclass(frozen=True)
class MixPart:
    name: str
    dataset: Dataset
    batch_size: int  # items per process per batch
    ratio: float = 1.0  # passes over the dataset per epoch of the mix


class MixedDataset(Dataset):
    """The parts' items one after another (index = part's offset + index in the part)."""

    def __init__(self, parts: list[MixPart]):
        if not parts:
            raise ValueError("a mix needs at least one dataset")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p.dataset) for p in parts]).tolist()

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, index: int) -> dict:
        part = bisect.bisect_right(self.offsets, index) - 1
        return self.parts[part].dataset[index - self.offsets[part]]

    def set_epoch(self, epoch: int) -> None:
        for p in self.parts:
            p.dataset.set_epoch(epoch)

    def describe(self) -> str:
        return "; ".join(f"{p.name}: {p.dataset.describe()} (batch {p.batch_size}, ratio {p.ratio:g})"
                         for p in self.parts)

    def batch_sampler(self, seed: int, rank: int = 0, world_size: int = 1) -> MixedBatchSampler:
        return MixedBatchSampler(self, seed, rank, world_size)


class MixedBatchSampler:
    """This process's batches (lists of `MixedDataset` indices) of one epoch of the schedule."""

    def __init__(self, mix: MixedDataset, seed: int, rank: int = 0, world_size: int = 1):
        self.mix, self.seed, self.rank, self.world_size = mix, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, batch: int = 0) -> None:
        """Iterate epoch `epoch`, skipping its first `batch` batches."""
        self.epoch, self.start = epoch, batch

    def schedule(self, epoch: int) -> list[list[int]]:
        """Every global batch of the epoch, in order: the same list in every process."""
        batches = []
        for d, part in enumerate(self.mix.parts):
            n = len(part.dataset)
            wanted = round(part.ratio * n)
            passes = [np.random.default_rng([self.seed, epoch, d, k]).permutation(n) for k in range(math.ceil(part.ratio))]
            order = (np.concatenate(passes) if passes else np.zeros(0, np.int64))[:wanted] + self.mix.offsets[d]
            # every process takes the same number of items of each batch; what is left over is left out
            order = order[: len(order) - len(order) % self.world_size]
            size = part.batch_size * self.world_size
            batches += [order[i:i + size].tolist() for i in range(0, len(order), size)]
        shuffled = np.random.default_rng([self.seed, epoch, len(self.mix.parts)]).permutation(len(batches))
        return [batches[i] for i in shuffled]

    @property
    def batches_per_epoch(self) -> int:
        return len(self.schedule(0))

    def __len__(self) -> int:
        return len(self.schedule(self.epoch)) - self.start

    def __iter__(self):
        for batch in self.schedule(self.epoch)[self.start:]:
            yield batch[self.rank :: self.world_size]
