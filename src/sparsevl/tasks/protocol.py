"""What a task is: the one interface the drivers (training loop, evaluate, predict, demo) use.

A task turns a run config into datasets, a collator, a model, a loss and an evaluation, and
answers one video at a time for `sparsevl predict`. The drivers call only what is declared here
and never name a task; a new task is one module with a class that has these members, plus an
entry in `sparsevl.tasks.registry` (or `module:Class` in the config). docs/architecture.md shows
a whole one; tests/tasks/test_toy_task.py trains, evaluates and predicts with one written in the
test.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Protocol

import torch
from torch import nn

from sparsevl.data.store import FrameStore
from sparsevl.dist import Dist
from sparsevl.problems import ProblemLog

if TYPE_CHECKING:
    from sparsevl.tasks.config import RunConfig


@dataclasses.dataclass
class Example:
    """One evaluated item as a person would look at it (the report's gallery)."""

    video_id: str
    frames: list[int]  # the stored frames the model saw (every clip's, in order)
    text: str  # the question, caption or options ("" when there is none)
    prediction: str
    truth: str
    correct: bool
    score: float | None = None  # of the prediction (probability, match score, ...)
    group: str = ""  # what examples are filtered by: question type, class, ...
    candidates: list[dict] = dataclasses.field(default_factory=list)  # ranked videos: {video_id, score, frames}


@dataclasses.dataclass
class Evaluation:
    metrics: dict[str, float]  # logged as the validation metrics
    headline: str  # one line for the training log, e.g. "All 63.29"
    table: str  # what `sparsevl evaluate` prints
    files: dict[str, Any]  # written as results/{split}_step{N}_{name}.json
    examples: list[Example] = dataclasses.field(default_factory=list)  # results/{split}_step{N}_examples.json


@dataclasses.dataclass
class Prediction:
    """A task's answer for one video (`sparsevl predict`)."""

    rows: list[dict]  # one per question / caption / class, for programs
    table: str  # what `sparsevl predict` prints


# The parts of a task's state that a run of another task takes over when it starts from that
# run's checkpoint (`init_checkpoint`): the text tokenizer and the architecture of pretrained parts.
SHARED_STATE = ("tokenizer", "arch")


class TaskDataset(Protocol):
    """Training and evaluation items: one dict per index, batched by the task's collator."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict: ...

    def set_epoch(self, epoch: int) -> None:
        """Training samples (clips, negatives) are drawn from (seed, epoch, index)."""

    def describe(self) -> str:
        """E.g. "800 videos, 5,780 questions", for the first line of a run."""

    # Optional: `batch_sampler(seed, rank, world_size)`, for a training set that schedules its own
    # batches (several datasets mixed, `data.mixed_datasets`): an object with `set_position(epoch,
    # batch)`, `batches_per_epoch` and, iterated, this process's lists of indices; the same schedule
    # in every process. Without it the loop batches `EpochSampler`'s order by `train_batch_size`.


class Task(Protocol):
    cfg: RunConfig
    problems: ProblemLog  # bad records and videos, reported and (in skip mode) skipped
    collator: Callable[[list[dict]], dict]

    def __init__(self, cfg: RunConfig, problems: ProblemLog, state: dict | None = None) -> None:
        """`state`: what `state()` returned in the run a checkpoint comes from; with it the task
        rebuilds that run's tokenizer, labels and model instead of deriving them from the data.
        It may hold only some keys (a run started from another task's checkpoint gets its
        `SHARED_STATE`): what is missing is derived from the data."""

    def state(self) -> dict:
        """Plain data (lists, dicts, strings, numbers) saved in every checkpoint: with the config,
        everything needed to rebuild and run the model (vocabulary, label map, ...)."""

    def dataset(self, split: str, train: bool) -> TaskDataset: ...

    def build_model(self) -> nn.Module: ...

    def loss(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """{"loss": the scalar to minimise, and any other scalars to log, e.g. accuracies}."""

    def evaluate(
        self, model: nn.Module, split: str, device: torch.device,
        autocast: Callable[[], ContextManager], dist: Dist,
    ) -> Evaluation:
        """Metrics on a split; under several processes each does its share and all get the result."""

    def predict(
        self, model: nn.Module, store: FrameStore, video_id: str, texts: list[str], device: torch.device
    ) -> Prediction:
        """Answer one video of `store` (questions, captions or options in `texts`, or none)."""
