"""Several datasets in one run: one deterministic schedule of per-dataset batches, shared by every process."""

from __future__ import annotations

import pytest
from torch.utils.data import Dataset

from sparsevl.data.mixed_datasets import MixedBatchSampler, MixedDataset, MixPart


class Numbers(Dataset):
    def __init__(self, n: int):
        self.n, self.epoch = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def describe(self) -> str:
        return f"{self.n} numbers"


def mix(batch_sizes=(4, 2), ratios=(1.0, 1.0), sizes=(16, 8)) -> MixedDataset:
    return MixedDataset([MixPart(f"d{i}", Numbers(n), b, r) for i, (n, b, r) in enumerate(zip(sizes, batch_sizes, ratios))])


def part_of(m: MixedDataset, index: int) -> int:
    return next(p for p in range(len(m.parts)) if m.offsets[p] <= index < m.offsets[p + 1])


def test_each_batch_is_from_one_dataset_and_an_epoch_covers_each_once():
    m = mix()
    batches = list(m.batch_sampler(seed=1))
    assert len(batches) == 16 // 4 + 8 // 2 == m.batch_sampler(seed=1).batches_per_epoch
    for b in batches:
        assert len({part_of(m, i) for i in b}) == 1
        assert len(b) == (4 if part_of(m, b[0]) == 0 else 2)
    assert sorted(i for b in batches for i in b) == list(range(24))
    parts = [part_of(m, b[0]) for b in batches]
    assert parts != sorted(parts)  # the datasets' batches are interleaved, not one dataset after the other
    assert m[16] == 0 and m[23] == 7  # the second dataset's items follow the first's


def test_ratio_repeats_or_subsamples_a_dataset():
    m = mix(ratios=(2.0, 0.5))
    items = [i for b in m.batch_sampler(seed=1) for i in b]
    first = [i for i in items if i < 16]
    second = [i for i in items if i >= 16]
    assert len(first) == 32 and sorted(set(first)) == list(range(16))  # two passes, each item twice
    assert len(second) == 4 and len(set(second)) == 4  # half of it


def test_every_process_takes_its_share_of_the_same_global_batches():
    one = list(mix(batch_sizes=(4, 2)).batch_sampler(seed=3))
    two = [list(mix(batch_sizes=(2, 1)).batch_sampler(seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(two[0]) == len(two[1]) == len(one)
    for s, batch in enumerate(one):
        assert sorted(two[0][s] + two[1][s]) == sorted(batch)
        assert len(two[0][s]) == len(two[1][s])


def test_the_schedule_depends_on_seed_and_epoch_and_resumes_at_a_batch():
    sampler = mix().batch_sampler(seed=1)
    epoch0 = list(sampler)
    assert list(mix().batch_sampler(seed=1)) == epoch0
    assert list(mix().batch_sampler(seed=2)) != epoch0
    sampler.set_position(epoch=0, batch=3)
    assert list(sampler) == epoch0[3:] and len(sampler) == len(epoch0) - 3
    sampler.set_position(epoch=1)
    assert list(sampler) != epoch0


def test_a_mix_needs_a_dataset():
    with pytest.raises(ValueError, match="at least one dataset"):
        MixedDataset([])
